package notary

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
)

// Access is what a command may do to a repository; it decides the token
// scope asked of the notary server's token service.
type Access int

const (
	// Read asks for "pull" only: inspect and verify.
	Read Access = iota
	// Write asks for "pull" to read trust data and for "pull,push" only for
	// the requests that need it (publishing, fetching the server-managed
	// timestamp or snapshot key), so a run that stops before publishing,
	// or has nothing to publish, never asks to write.
	Write
	// Admin is Write with "*" instead of "pull,push", which notary-server
	// requires to delete trust data or rotate a server-managed key.
	Admin
)

// WithAccess sets the scope to ask for. Default: Write.
func WithAccess(a Access) Option {
	return func(o *options) error { o.access = a; return nil }
}

// WithRealmPolicy sets which token realms the server may send credentials
// to (httpx.RealmPolicy). Default: public, DNS-named and the server's own host.
func WithRealmPolicy(p httpx.RealmPolicy) Option {
	return func(o *options) error { o.realms = p; return nil }
}

// transport routes each request to a transport holding a token of the
// right scope; each one fetches its token once and keeps it until it expires.
func (a Access) transport(authorized func(actions []string) http.RoundTripper) http.RoundTripper {
	read := authorized([]string{"pull"})
	switch a {
	case Write:
		return &scopedTransport{read: read, write: authorized([]string{"pull", "push"})}
	case Admin:
		return &scopedTransport{read: read, write: authorized([]string{"*"})}
	}
	return read
}

type scopedTransport struct{ read, write http.RoundTripper }

func (t *scopedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if metadataRead(req) {
		return t.read.RoundTrip(req)
	}
	return t.write.RoundTrip(req)
}

// metadataRead reports whether req reads TUF metadata, what notary-server
// allows with "pull" (server/server.go); a key GET needs "push,pull".
func metadataRead(req *http.Request) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	return strings.HasSuffix(req.URL.Path, ".json") || strings.HasSuffix(req.URL.Path, "/v2/")
}

// realmRedirects holds the token service's redirects to the realm policy
// and to https, as go-containerregistry holds them (realmRedirectCheck):
// distribution's token client follows any redirect, and a 307 re-sends the
// form holding the password or refresh token.
type realmRedirects struct {
	next   http.RoundTripper
	policy httpx.RealmPolicy
	server string // the notary server's host:port
}

func (t *realmRedirects) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 300 || resp.StatusCode > 399 {
		return resp, err
	}
	loc, lerr := resp.Location()
	if lerr != nil {
		return resp, nil // no redirect to follow
	}
	refused := t.policy.Check(loc.String(), t.server)
	if refused == nil && loc.Scheme != "https" {
		refused = fmt.Errorf("token service %s redirects to %s: only https realms are used", req.URL.Host, loc.Redacted())
	}
	if refused != nil {
		resp.Body.Close()
		return nil, core.Classed(core.ClassNotary, refused)
	}
	return resp, nil
}
