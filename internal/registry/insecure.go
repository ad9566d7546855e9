package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/sign-step/sign-step/internal/core"
)

// Registries are reached over https only. go-containerregistry also tries
// plain http for loopback, RFC 1918 and *.localhost registries and keeps
// whichever answers first (name.Registry.Scheme, transport.Ping), so a
// listener on such an address could answer in clear and choose the digest
// that gets signed. Every request therefore passes httpsOnly, which refuses
// plain HTTP before anything is sent, unless the user named the host with
// --insecure-registry, as docker's daemon setting of that name does.

// WithInsecure allows plain HTTP to these registries: "HOST" or "HOST:PORT"
// exactly as image references name them (see ParseInsecure). Default: none.
func WithInsecure(hosts []string) Option {
	return func(o *options) {
		o.insecure = map[string]bool{}
		for _, h := range hosts {
			o.insecure[strings.ToLower(h)] = true
		}
	}
}

// ParseInsecure checks --insecure-registry values: a registry host with an
// optional port, no scheme and no path.
func ParseInsecure(values []string) ([]string, error) {
	var hosts []string
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if strings.Contains(v, "://") || strings.ContainsAny(v, "/?#@") {
			return nil, core.Classedf(core.ClassUsage, "--insecure-registry %q: want HOST or HOST:PORT, as in an image reference (no scheme, no path)", v)
		}
		if _, err := name.NewRegistry(v, name.StrictValidation); err != nil {
			return nil, core.Classedf(core.ClassUsage, "--insecure-registry %q: want HOST or HOST:PORT: %w", v, err)
		}
		hosts = append(hosts, strings.ToLower(v))
	}
	return hosts, nil
}

// PlainHTTPError is a plain-HTTP request that was refused, never sent.
type PlainHTTPError struct {
	Host string // host[:port] of the request
}

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refused to send a plain-HTTP request to %s: registries are reached over https only unless named with --insecure-registry", e.Host)
}

// httpsOnly refuses every request that is not https, unless its host is
// one of the insecure registries.
type httpsOnly struct {
	next     http.RoundTripper
	insecure map[string]bool
}

func (t *httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !t.insecure[strings.ToLower(req.URL.Host)] {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	return t.next.RoundTrip(req)
}

func (r *Registry) isInsecure(host string) bool { return r.opts.insecure[strings.ToLower(host)] }

// reference is ref for ggcr; an insecure registry is marked so that ggcr
// tries plain http for it even when it is not a "local" address.
func (r *Registry) reference(ref core.Ref) (name.Reference, error) {
	opts := []name.Option{name.StrictValidation} // sign.Ref is already normalized; ggcr must not re-guess
	if r.isInsecure(ref.Registry) {
		opts = append(opts, name.Insecure)
	}
	if ref.Digest != "" {
		return name.NewDigest(ref.Name()+"@"+ref.Digest, opts...)
	}
	return name.NewTag(ref.Name()+":"+ref.Tag, opts...)
}

// ggcrOptions go with every ggcr call. --retries is the one retry knob: it
// lives in our transport (httpx.Retry), so ggcr's own retries (3 tries, also
// on 500 and 408, around every request and every blob upload) are turned
// off. Wrapping the transport in transport.Wrapper, ggcr's other way to say
// "no extra wrapping", would also skip the ping and the login.
func (r *Registry) ggcrOptions() []remote.Option {
	return []remote.Option{
		remote.WithTransport(r.opts.transport),
		remote.WithAuthFromKeychain(r.opts.keychain),
		remote.WithJobs(r.opts.jobs),
		remote.WithUserAgent(r.opts.userAgent),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}), // one try (0 steps would make none)
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	}
}

// explainPlainHTTP names --insecure-registry when a registry answered https
// in plain HTTP, or when the request that failed was a refused plain-HTTP
// one; else nil. It runs after the TLS check, so a certificate failure of
// https is never hidden behind it. An HTTP status from any try (an insecure
// registry answering http with an error) is left to explain.
func explainPlainHTTP(ref core.Ref, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return nil
	}
	var rec tls.RecordHeaderError
	if errors.Is(err, http.ErrSchemeMismatch) || (errors.As(err, &rec) && string(rec.RecordHeader[:]) == "HTTP/") {
		return core.TLSError(fmt.Errorf("registry %s answered in plain HTTP, not https; sign-step sends nothing in clear to a registry unless it is named with --insecure-registry %s", ref.Registry, ref.Registry))
	}
	var plain *PlainHTTPError
	var uerr *url.Error
	if errors.As(err, &plain) && (!errors.As(err, &uerr) || errors.As(uerr.Err, &plain)) {
		return core.TLSError(fmt.Errorf("registry %s: %v (--insecure-registry %s)", ref.Registry, plain, plain.Host))
	}
	return nil
}

// certCause is the https request's failure out of ggcr's joined https and
// http ping errors, so the refused plain-HTTP try does not blur the line.
func certCause(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) && core.IsCertificateError(uerr) {
		return uerr
	}
	return err
}

// certHint says what to do: a certificate for another name is not fixed by
// trusting more CAs.
func certHint(err error) string {
	var hn x509.HostnameError
	if errors.As(err, &hn) {
		return "it is not issued for the host in the image reference (a wrong address, or a man in the middle)"
	}
	return "pass its CA with --registry-ca"
}
