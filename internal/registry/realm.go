package registry

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"

	"github.com/sign-step/sign-step/internal/httpx"
)

// WithRealmPolicy sets which token realms are followed beyond
// go-containerregistry's own rule (httpx.RealmPolicy). Default: a realm on
// the registry's own host at any port.
func WithRealmPolicy(p httpx.RealmPolicy) Option { return func(o *options) { o.realms = p } }

// realmTransport applies the realm policy for go-containerregistry, whose
// own check (transport/bearer.go validateRealmURL) is not configurable and
// refuses every private IP realm but the registry's exact host:port.
//
// A realm the policy allows and ggcr would refuse is handed to ggcr under a
// DNS alias (<random>.token-realm.sign-step.invalid): ggcr then runs its usual
// token exchange against the alias, and requests to the alias are sent to
// the real realm host, with the same scheme, path and credentials ggcr
// attached. Every other realm reaches ggcr unchanged and meets its check.
// A realm the policy refuses fails the request with a *httpx.RealmError.
// Aliases are random, so another registry cannot name one in its own
// challenge to reach a private realm allowed for this one.
type realmTransport struct {
	next   http.RoundTripper
	policy httpx.RealmPolicy

	mu      sync.Mutex
	aliases map[string]string // alias host -> real host:port
	byHost  map[string]string // real host:port -> alias host
}

// realmParam finds the realm of a challenge: realm="URL".
var realmParam = regexp.MustCompile(`(?i)(\brealm=")([^"]*)(")`)

func (t *realmTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if real, ok := t.real(req.URL.Host); ok {
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = real, ""
		resp, err := t.next.RoundTrip(out)
		if err != nil {
			// ggcr names the alias it dialed: name the realm.
			return nil, fmt.Errorf("token realm %s://%s%s: %w", out.URL.Scheme, real, out.URL.Path, err)
		}
		return resp, nil
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	values := resp.Header.Values("WWW-Authenticate")
	for i, v := range values {
		var refused error
		values[i] = realmParam.ReplaceAllStringFunc(v, func(m string) string {
			sub := realmParam.FindStringSubmatch(m)
			rewritten, err := t.rewrite(sub[2], req.URL.Host)
			if err != nil {
				refused = err
				return m
			}
			return sub[1] + rewritten + sub[3]
		})
		if refused != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil, refused
		}
	}
	return resp, nil
}

// rewrite returns the realm ggcr is given for a challenge from registry.
func (t *realmTransport) rewrite(realm, registry string) (string, error) {
	if err := t.policy.Check(realm, registry); err != nil {
		return "", err
	}
	u, err := url.Parse(realm)
	if err != nil || u.Host == registry || !httpx.PrivateIP(u.Hostname()) {
		return realm, nil // ggcr allows it, or refuses it on its own
	}
	u.Host = t.alias(u.Host)
	return u.String(), nil
}

func (t *realmTransport) alias(real string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.byHost[real]; ok {
		return a
	}
	if t.aliases == nil {
		t.aliases, t.byHost = map[string]string{}, map[string]string{}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	a := hex.EncodeToString(b) + ".token-realm.sign-step.invalid"
	t.aliases[a], t.byHost[real] = real, a
	return a
}

func (t *realmTransport) real(host string) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	real, ok := t.aliases[host]
	return real, ok
}
