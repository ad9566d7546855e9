package notary

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/distribution/registry/client/auth/challenge"
	store "github.com/theupdateframework/notary/storage"
)

// challengeTransport learns the notary server's auth challenge from the
// first request it refuses (401), as containerd's resolver does, instead
// of pinging /v2/ first as docker does: a server without auth costs no
// extra request, one with token auth the same two (the 401, then the
// request with its token). What is learned passes the same realm checks
// (checkRealms) before any credentials leave; the refused request is then
// sent again, through the authorizers that now answer the challenge.
type challengeTransport struct {
	next    http.RoundTripper // the authorizers (scopes.go), which consult manager
	manager challenge.Manager
	ping    *url.URL                      // where the challenge is filed: the authorizers look it up there
	check   func(challenge.Manager) error // the realm policy on a manager's challenges

	mu      sync.Mutex
	learned bool  // a 401 was filed in manager
	refused error // what check said of it, for every later request

	reached atomic.Bool // the server has answered something (explain)
}

// challengeRefusedError is a challenge the realm policy refused: it
// reaches the user as it is, not as a network failure.
type challengeRefusedError struct{ err error }

func (e *challengeRefusedError) Error() string { return e.err.Error() }
func (e *challengeRefusedError) Unwrap() error { return e.err }

func (t *challengeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.mu.Lock()
	known, refused := t.learned, t.refused
	t.mu.Unlock()
	if refused != nil {
		closeBody(req)
		return nil, refused
	}
	// Before a challenge is known the authorizers find none and send no
	// credentials; once it is, they answer it on the first try.
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.reached.Store(true)
	if known || resp.StatusCode != http.StatusUnauthorized || !strings.EqualFold(req.URL.Host, t.ping.Host) {
		return resp, nil
	}
	if err := t.learn(resp); err != nil {
		drain(resp)
		return nil, err
	}
	// A body already sent cannot be sent again unless it can be rebuilt:
	// the 401 then stands (notary's requests carry bytes.Readers, which can).
	retry := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	drain(resp)
	return t.next.RoundTrip(retry)
}

// learn files resp's challenge where the authorizers look for it (the
// ping URL, as a ping's 401 would be filed) and checks its realms. The
// first 401 decides; a concurrent one finds it decided.
func (t *challengeTransport) learn(resp *http.Response) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.learned {
		return t.refused
	}
	t.learned = true
	filed := &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Request: &http.Request{Method: http.MethodGet, URL: t.ping}}
	// The policy looks at the challenge before the authorizers can: a
	// request already on its way finds it in manager only once it passed.
	scratch := challenge.NewSimpleManager()
	if err := scratch.AddResponse(filed); err != nil {
		t.refused = err
		return err
	}
	if err := t.check(scratch); err != nil {
		t.refused = &challengeRefusedError{err: err}
		return t.refused
	}
	t.refused = t.manager.AddResponse(filed)
	return t.refused
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close() // a RoundTripper closes the body, even on error
	}
}

// reachedServer reports whether the notary server of r has answered any
// request: a network failure before that is a server that cannot be reached.
func (r *Repo) reachedServer() bool { return r.auth != nil && r.auth.reached.Load() }

// refusedChallenge returns the realm policy's refusal inside err, or nil.
func refusedChallenge(err error) error {
	var net store.NetworkError
	if errors.As(err, &net) {
		err = net.Wrapped // NetworkError has no Unwrap
	}
	var refused *challengeRefusedError
	if errors.As(err, &refused) {
		return refused.err
	}
	return nil
}
