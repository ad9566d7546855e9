package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/testenv"
)

// TestTLSChecksDialedHost: the certificate must name the host in the URL,
// an IP literal as much as a DNS name, whichever pool (the CAs given or the
// system roots) it chains to. An attacker on 127.0.0.1 holding a trusted
// certificate for another name is refused.
func TestTLSChecksDialedHost(t *testing.T) {
	t.Parallel()
	given, err := testenv.NewCA("given CA")
	if err != nil {
		t.Fatal(err)
	}
	system, err := testenv.NewCA("public CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testenv.NewCA("unknown CA")
	if err != nil {
		t.Fatal(err)
	}
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	// server starts a TLS server on 127.0.0.1 with a certificate from ca
	// for exactly these names.
	server := func(t *testing.T, ca *testenv.CA, dns []string, ips []net.IP) string {
		t.Helper()
		cert, err := ca.Issue(dns, ips)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
		srv.StartTLS()
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u.Port()
	}
	cases := []struct {
		name    string
		ca      *testenv.CA // issues the server's certificate
		dns     []string
		ips     []net.IP
		host    string // dialed: 127.0.0.1 or localhost
		given   bool   // the given CA is passed in TLSConfig.CAPEM
		wantErr string // "" for success
	}{
		{name: "IP host, IP SAN", ca: given, ips: loopback, host: "127.0.0.1", given: true},
		{name: "IP host, cert for a DNS name only", ca: given, dns: []string{"attacker.example"}, host: "127.0.0.1", given: true,
			wantErr: "doesn't contain any IP SANs"},
		{name: "IP host, cert for another IP", ca: given, ips: []net.IP{net.IPv4(10, 0, 0, 5)}, host: "127.0.0.1", given: true,
			wantErr: "not 127.0.0.1"},
		{name: "DNS host, right name", ca: given, dns: []string{"localhost"}, host: "localhost", given: true},
		{name: "DNS host, wrong name", ca: given, dns: []string{"attacker.example"}, host: "localhost", given: true,
			wantErr: "not localhost"},
		{name: "DNS host, cert for its IP only", ca: given, ips: loopback, host: "localhost", given: true,
			wantErr: "wanted to match localhost"},
		{name: "unknown CA", ca: other, dns: []string{"localhost"}, ips: loopback, host: "127.0.0.1", given: true,
			wantErr: "certificate signed by unknown authority"},
		{name: "system roots, IP host, IP SAN", ca: system, ips: loopback, host: "127.0.0.1"},
		{name: "system roots, DNS host, right name", ca: system, dns: []string{"localhost"}, host: "localhost", given: true},
		{name: "system roots, IP host, cert for a DNS name only", ca: system, dns: []string{"attacker.example"}, host: "127.0.0.1", given: true,
			wantErr: "doesn't contain any IP SANs"},
		{name: "system roots, DNS host, wrong name", ca: system, dns: []string{"attacker.example"}, host: "localhost",
			wantErr: "not localhost"},
		{name: "system roots, unknown CA", ca: other, ips: loopback, host: "127.0.0.1",
			wantErr: "certificate signed by unknown authority"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := server(t, tc.ca, tc.dns, tc.ips)
			cfg := TLSConfig{}
			if tc.given {
				cfg.CAPEM = [][]byte{given.PEM}
			}
			extra := x509.NewCertPool()
			for _, pem := range cfg.CAPEM {
				extra.AppendCertsFromPEM(pem)
			}
			read := 0
			sys := func() *x509.CertPool {
				read++
				p := x509.NewCertPool()
				p.AddCert(system.Cert)
				return p
			}
			rt := newTransport(cfg, extra, sys)
			req, _ := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(tc.host, port)+"/v2/", nil)
			resp, err := rt.RoundTrip(req)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				resp.Body.Close()
				if tc.ca == given && read != 0 {
					t.Errorf("system roots read %d times for a server signed by the given CA", read)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("accepted a certificate for %v %v from %s at %s", tc.dns, tc.ips, tc.ca.Cert.Subject.CommonName, tc.host)
			}
			var cv *tls.CertificateVerificationError
			if !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &cv) || !core.IsCertificateError(err) {
				t.Fatalf("err = %v, want a certificate verification error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestHostname: the name checked is the URL's host without port or brackets.
func TestHostname(t *testing.T) {
	t.Parallel()
	cases := []struct{ host, want string }{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"[::1]:5000", "::1"},
		{"registry.example.com", "registry.example.com"},
		{"Registry.Example.com:443", "Registry.Example.com"},
		{"10.0.0.5", "10.0.0.5"},
	}
	for _, tc := range cases {
		if got := (&url.URL{Host: tc.host}).Hostname(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.host, got, tc.want)
		}
	}
	if _, err := newTransport(TLSConfig{}, x509.NewCertPool(), systemRoots).forHost(""); err == nil {
		t.Error("a transport without a host to check was made")
	}
}

// TestRedactURL: user info goes, query values go, keys stay.
func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"https://r.example.com/v2/", "https://r.example.com/v2/"},
		{"https://ci:s3cret@r.example.com/v2/?x=1", "https://r.example.com/v2/?x=***"},
		{"https://s3.example.com/blob?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2F1&b=", "https://s3.example.com/blob?X-Amz-Credential=***&X-Amz-Signature=***&b=***"},
		{"https://h/p?token=t0k#frag", "https://h/p?token=***"},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := RedactURL(u); got != tc.want {
			t.Errorf("RedactURL(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
