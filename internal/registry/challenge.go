package registry

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/docker/distribution/registry/client/auth/challenge"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// challengeAuth is the auth handshake of Resolve, learned from the first
// request a registry refuses (401), as containerd's resolver does, instead
// of go-containerregistry's ping of /v2/ before it: a registry without auth
// costs one request less, one with token auth the same (the 401, the token,
// the request again). The token exchange itself stays ggcr's
// (transport.Exchange and FromToken, its API for callers that did the
// handshake themselves): its realm checks, credentials sent only to the
// registry that challenged, and the realm policy of realmTransport below,
// which the 401 passes through before it is read here.
//
// ggcr gets it inside a transport.Wrapper, which is how ggcr is told not
// to ping and not to wrap it further (retries, user agent). It serves
// registries reached over https only: an --insecure-registry host keeps
// ggcr's ping, which is how ggcr picks https or plain http for it.
type challengeAuth struct {
	base     http.RoundTripper // realm policy → https only → TLS, retries, log
	keychain authn.Keychain
	ua       string

	mu    sync.Mutex
	hosts map[string]*hostAuth
}

// hostAuth is what one registry host asked for.
type hostAuth struct {
	reg     name.Registry
	learned *transport.Challenge // nil until the host refuses a request
	probing chan struct{}        // closed when the first request is answered
	repos   map[string]*repoAuth
}

// repoAuth is one repository's authenticated transport, made once.
type repoAuth struct {
	once sync.Once
	rt   http.RoundTripper
	err  error
}

// repoPath finds the repository of a distribution API request.
var repoPath = regexp.MustCompile(`^/v2/(.+)/(manifests|blobs|tags|referrers)/`)

func newChallengeAuth(base http.RoundTripper, keychain authn.Keychain, ua string) http.RoundTripper {
	// ggcr's own User-Agent wrapper: it adds itself only outside a Wrapper.
	c := &challengeAuth{base: transport.NewUserAgent(base, ua), keychain: keychain, hosts: map[string]*hostAuth{}}
	// With no credentials and no challenge FromToken adds nothing (and
	// cannot fail): this is only the Wrapper that tells ggcr the handshake
	// is ours.
	rt, _ := transport.FromToken(name.Registry{}, authn.Anonymous, c, &transport.Challenge{}, nil)
	return rt
}

func (c *challengeAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if req.URL.Scheme == "http" && strings.HasPrefix(req.URL.Path, "/v2/") {
		// ggcr names loopback and private registries http://, for its ping
		// to try both; only https is served here (see insecure.go).
		req.URL.Scheme = "https"
	}
	host, err := c.host(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	repo := ""
	if m := repoPath.FindStringSubmatch(req.URL.Path); m != nil {
		repo = m[1]
	}
	rt, probe, err := c.transportFor(req, host, repo)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	refused := err == nil && resp.StatusCode == http.StatusUnauthorized && rt == c.base
	if refused {
		c.mu.Lock()
		if host.learned == nil {
			host.learned = challengeOf(resp)
		}
		c.mu.Unlock()
	}
	if probe != nil {
		close(probe) // the others go on now, with the challenge or without one
	}
	if !refused {
		return resp, err
	}
	// Refused without credentials: send it again with them (a body only if
	// it can be rebuilt).
	retry := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if retry.Body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	authed, err := c.authorized(req, host, repo)
	if err != nil {
		closeBody(retry)
		return nil, err
	}
	return authed.RoundTrip(retry)
}

// host is the state of req's registry host.
func (c *challengeAuth) host(req *http.Request) (*hostAuth, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := strings.ToLower(req.URL.Host)
	if h, ok := c.hosts[key]; ok {
		return h, nil
	}
	reg, err := name.NewRegistry(req.URL.Host, name.StrictValidation)
	if err != nil {
		return nil, err
	}
	h := &hostAuth{reg: reg, repos: map[string]*repoAuth{}}
	c.hosts[key] = h
	return h, nil
}

// transportFor is how req is sent: with credentials once the host has
// challenged, else without. While a host's first request is out, the
// others wait for its answer, so that concurrent Resolves make one 401,
// not one each; the first request gets probe to close when answered.
func (c *challengeAuth) transportFor(req *http.Request, host *hostAuth, repo string) (http.RoundTripper, chan struct{}, error) {
	for {
		c.mu.Lock()
		learned, probing := host.learned, host.probing
		if learned == nil && probing == nil {
			host.probing = make(chan struct{})
			c.mu.Unlock()
			return c.base, host.probing, nil
		}
		c.mu.Unlock()
		if learned != nil {
			rt, err := c.authorized(req, host, repo)
			return rt, nil, err
		}
		select {
		case <-probing:
			c.mu.Lock()
			learned = host.learned
			c.mu.Unlock()
			if learned == nil {
				return c.base, nil, nil // answered without a challenge
			}
		case <-req.Context().Done():
			return nil, nil, req.Context().Err()
		}
	}
}

// authorized is repo's transport for the challenge host has sent: ggcr's
// bearer transport holding a pull token for repo (and refreshing it as
// ggcr does), or its basic one. The keychain is asked for the repository,
// as ggcr asks it.
func (c *challengeAuth) authorized(req *http.Request, host *hostAuth, repo string) (http.RoundTripper, error) {
	c.mu.Lock()
	ra, ok := host.repos[repo]
	if !ok {
		ra = &repoAuth{}
		host.repos[repo] = ra
	}
	pr := host.learned
	c.mu.Unlock()
	ra.once.Do(func() {
		var res authn.Resource = host.reg
		var scopes []string
		if repo != "" {
			r, err := name.NewRepository(host.reg.Name()+"/"+repo, name.StrictValidation)
			if err != nil {
				ra.err = err
				return
			}
			res, scopes = r, []string{r.Scope(transport.PullScope)}
		}
		auth, err := c.keychain.Resolve(res)
		if err != nil {
			ra.err = err
			return
		}
		var tok *transport.Token
		if strings.EqualFold(pr.Scheme, "bearer") {
			if tok, err = transport.Exchange(req.Context(), host.reg, auth, c.base, scopes, pr); err != nil {
				ra.err = err
				return
			}
		}
		ra.rt, ra.err = transport.FromToken(host.reg, auth, c.base, pr, tok)
	})
	var te *transport.Error
	if ra.err != nil && !(errors.As(ra.err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden)) {
		// A network or context failure is not kept: the next request
		// asks again. A refused login is kept, so that 50 tags with a
		// wrong password make one token request, not 50 (lockouts).
		c.mu.Lock()
		if host.repos[repo] == ra {
			delete(host.repos, repo)
		}
		c.mu.Unlock()
	}
	return ra.rt, ra.err
}

// challengeOf is the challenge of a 401, chosen as ggcr's ping chooses:
// the first bearer or basic one, else the first, else the bare header.
func challengeOf(resp *http.Response) *transport.Challenge {
	all := challenge.ResponseChallenges(resp)
	for _, ch := range all {
		if s := strings.ToLower(ch.Scheme); s == "bearer" || s == "basic" {
			return &transport.Challenge{Scheme: ch.Scheme, Parameters: ch.Parameters}
		}
	}
	if len(all) > 0 {
		return &transport.Challenge{Scheme: all[0].Scheme, Parameters: all[0].Parameters}
	}
	return &transport.Challenge{Scheme: resp.Header.Get("WWW-Authenticate")}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close() // a RoundTripper closes the body, even on error
	}
}
