package httpx

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// TestTLSVerification: the given CA is trusted, an unknown one is not, and
// a trusted certificate for another name is refused.
func TestTLSVerification(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close) // subtests run in parallel after this function returns
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	cases := []struct {
		name    string
		cfg     TLSConfig
		url     string
		wantErr string
	}{
		{"given CA", TLSConfig{CAPEM: [][]byte{ca}}, srv.URL, ""},
		{"unknown CA", TLSConfig{}, srv.URL, "certificate signed by unknown authority"},
		{"trusted CA, wrong name", TLSConfig{CAPEM: [][]byte{ca}}, "https://localhost" + port, "not localhost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, err := NewTransport(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			resp, err := rt.RoundTrip(req)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return
			}
			var cv *tls.CertificateVerificationError
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &cv) || !core.IsCertificateError(err) {
				t.Fatalf("err = %v, want a certificate verification error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestBadCABundle(t *testing.T) {
	t.Parallel()
	if _, err := NewTransport(TLSConfig{CAPEM: [][]byte{[]byte("not pem")}}); err == nil {
		t.Fatal("a CA bundle without certificates was accepted")
	}
}
