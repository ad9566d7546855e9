// Package httpx builds the HTTP transports every adapter uses: TLS roots per
// host (docker's certs.d-style directories plus explicit CA bundles), a
// User-Agent, and an optional debug trace with secrets redacted. Behaviour is
// added by wrapping an http.RoundTripper.
package httpx

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
// per host from cfg. Bad CA input fails here, before any request.
func NewTransport(cfg TLSConfig) (http.RoundTripper, error) {
	base, err := x509.SystemCertPool()
	if err != nil || base == nil {
		base = x509.NewCertPool()
	}
	for i, pem := range cfg.CAPEM {
		if !base.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %d holds no PEM certificate", i+1)
		}
	}
	return &hostTransport{cfg: cfg, base: base, byHost: map[string]*http.Transport{}}, nil
}

type hostTransport struct {
	cfg    TLSConfig
	base   *x509.CertPool
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
	pool := t.base
	if t.cfg.CertsDir != "" {
		files, _ := filepath.Glob(filepath.Join(t.cfg.CertsDir, host, "*.crt"))
		if len(files) > 0 {
			pool = t.base.Clone()
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
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
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

// Debug logs every request and response line (method, URL, status, time)
// at debug level. Headers are not logged: they carry credentials.
func Debug(next http.RoundTripper, log *slog.Logger) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		if err != nil {
			log.Debug("http", "method", req.Method, "url", redactURL(req), "error", err.Error(), "ms", time.Since(start).Milliseconds())
			return nil, err
		}
		log.Debug("http", "method", req.Method, "url", redactURL(req), "status", resp.StatusCode, "ms", time.Since(start).Milliseconds())
		return resp, nil
	})
}

// redactURL drops user info and query values (tokens travel there).
func redactURL(req *http.Request) string {
	u := *req.URL
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "***")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// errorsAsTLS reports a certificate verification failure, which retrying
// cannot fix.
func errorsAsTLS(err error) bool {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &cv)
}
