// Package httpx builds the HTTP transports every adapter uses: TLS roots per
// host (docker's certs.d-style directories plus explicit CA bundles), a
// User-Agent, and an optional debug trace with secrets redacted. Behaviour is
// added by wrapping an http.RoundTripper.
package httpx

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// TLSConfig says which CAs a transport trusts.
type TLSConfig struct {
	// CAPEM are extra CA certificates (PEM) trusted for every host.
	CAPEM [][]byte
	// CertsDir is docker's tls directory (<docker config>/tls); CAs in
	// <CertsDir>/<host:port>/*.crt are trusted for that host only.
	CertsDir string
	// ClientCert, when set, is presented to servers that ask (mTLS).
	ClientCert *tls.Certificate
}

// Describe names the CA sources, for TLS error messages.
func (c TLSConfig) Describe(host string) string {
	parts := []string{"system roots"}
	if len(c.CAPEM) > 0 {
		parts = append(parts, fmt.Sprintf("%d CA bundle(s) given", len(c.CAPEM)))
	}
	if c.CertsDir != "" {
		parts = append(parts, filepath.Join(c.CertsDir, host, "*.crt"))
	}
	return strings.Join(parts, " + ")
}

// NewTransport returns a keep-alive transport whose TLS roots are chosen
// per host from cfg, on top of the system roots. Bad CA input fails here,
// before any request.
func NewTransport(cfg TLSConfig) (http.RoundTripper, error) {
	extra := x509.NewCertPool()
	for i, pem := range cfg.CAPEM {
		if !extra.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %d holds no PEM certificate", i+1)
		}
	}
	return newTransport(cfg, extra, systemRoots), nil
}

// newTransport is NewTransport with the system roots injected (tests).
func newTransport(cfg TLSConfig, extra *x509.CertPool, system func() *x509.CertPool) *hostTransport {
	return &hostTransport{cfg: cfg, extra: extra, system: system, byHost: map[string]*http.Transport{}}
}

// systemRoots reads the system roots once, only when a server is not signed
// by a CA the user gave: reading them costs ~15 ms of a 100 ms run.
var systemRoots = sync.OnceValue(func() *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		return x509.NewCertPool()
	}
	return pool
})

type hostTransport struct {
	cfg    TLSConfig
	extra  *x509.CertPool
	system func() *x509.CertPool
	mu     sync.Mutex
	byHost map[string]*http.Transport
}

func (t *hostTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr, err := t.forHost(req.URL.Host)
	if err != nil {
		return nil, err
	}
	return tr.RoundTrip(req)
}

func (t *hostTransport) forHost(host string) (*http.Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byHost[host]; ok {
		return tr, nil
	}
	// Each transport dials one host only, so the name its certificate must
	// hold is fixed here: the URL's host, an IP literal or a DNS name.
	name := (&url.URL{Host: host}).Hostname()
	if name == "" {
		return nil, fmt.Errorf("no host in URL %q", host)
	}
	pool := t.extra
	if t.cfg.CertsDir != "" {
		files, _ := filepath.Glob(filepath.Join(t.cfg.CertsDir, host, "*.crt"))
		if len(files) > 0 {
			pool = t.extra.Clone()
			for _, f := range files {
				pem, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("reading CA %s: %w", f, err)
				}
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("CA file %s holds no PEM certificate", f)
				}
			}
		}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       t.clientConfig(name, pool),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	t.byHost[host] = tr
	return tr, nil
}

func (t *hostTransport) clientConfig(name string, pool *x509.CertPool) *tls.Config {
	c := verifyWith(name, pool, t.system)
	if t.cfg.ClientCert != nil {
		c.Certificates = []tls.Certificate{*t.cfg.ClientCert}
	}
	return c
}

// verifyWith verifies the server's chain and name against the given CAs,
// then against the system roots: exactly the standard verification with
// both pools as roots, but the system pool is only read when needed.
// name is the dialed host (IP or DNS name): the standard check would take it
// from Config.ServerName, but VerifyConnection only sees the SNI name, which
// is empty for an IP, and an empty DNSName skips the name check.
// (InsecureSkipVerify only turns off the built-in check, which
// VerifyConnection replaces; it runs for every handshake, resumed or not.)
func verifyWith(name string, extra *x509.CertPool, system func() *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: server sent no certificate")
			}
			if name == "" { // never skip the name check
				return errors.New("tls: no server name to verify")
			}
			opts := x509.VerifyOptions{DNSName: name, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			opts.Roots = extra
			_, err := cs.PeerCertificates[0].Verify(opts)
			if err == nil {
				return nil
			}
			var hostErr x509.HostnameError
			if errors.As(err, &hostErr) {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			opts.Roots = system()
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		},
	}
}

// Debug logs every request and response line (method, URL, status, time)
// at debug level. Headers are not logged: they carry credentials.
func Debug(next http.RoundTripper, log *slog.Logger) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		if err != nil {
			log.Debug("http", "method", req.Method, "url", RedactURL(req.URL), "error", err.Error(), "ms", time.Since(start).Milliseconds())
			return nil, err
		}
		log.Debug("http", "method", req.Method, "url", RedactURL(req.URL), "status", resp.StatusCode, "ms", time.Since(start).Milliseconds())
		return resp, nil
	})
}

// RedactURL is u without user info and with every query value replaced by
// ***: tokens and presigned-URL signatures travel in queries. Every URL that
// sign-step prints or logs goes through it.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		q, _ := url.ParseQuery(c.RawQuery) // keys only; a malformed pair still counts
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, url.QueryEscape(k)+"=***")
		}
		slices.Sort(keys)
		c.RawQuery = strings.Join(keys, "&")
		c.ForceQuery = false
	}
	return c.String()
}

// urlQuery matches the query of an http(s) URL in a message, up to a space,
// quote, bracket or fragment.
var urlQuery = regexp.MustCompile(`(https?://[^\s"'<>()?#]*\?)([^\s"'<>()#]+)`)

// RedactURLQueries is RedactURLsIn for a write: b itself when it holds no
// URL (the common case costs one byte scan), never modified.
func RedactURLQueries(b []byte) []byte {
	if !bytes.Contains(b, []byte("://")) {
		return b
	}
	return []byte(RedactURLsIn(string(b)))
}

// urlUserinfo matches the user:password@ of an http(s) URL in a message.
var urlUserinfo = regexp.MustCompile(`(https?://)[^\s"'<>()/?#@]*@`)

// RedactURLsIn hides, in every URL of s, the userinfo and the query values
// (***), as RedactURL does for one URL: presigned blob URLs (S3, GCS, R2)
// and token requests carry credentials in the query, proxy and library
// URLs in the userinfo, and libraries' errors print URLs whole.
func RedactURLsIn(s string) string {
	s = urlUserinfo.ReplaceAllString(s, "${1}***@")
	return urlQuery.ReplaceAllStringFunc(s, func(m string) string {
		base, query, _ := strings.Cut(m, "?")
		params := strings.Split(query, "&")
		for i, p := range params {
			if k, _, ok := strings.Cut(p, "="); ok {
				params[i] = k + "=***"
			}
		}
		return base + "?" + strings.Join(params, "&")
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
