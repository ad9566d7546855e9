package notary

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/core"
)

// publish stages changes with stage on a fresh changelist and publishes
// them, then reloads the trust data.
//
// A publish is one POST, which the HTTP layer never repeats once the server
// may have acted on it. When the server rejects it because another job
// published first (VERSION), the notary client re-reads the metadata and
// re-applies the changelist (a rebase). When its answer is lost (the
// connection was cut, or a 5xx came back), the server is asked whether it
// holds the update: if so the publish is done, and it is sent again only if
// not. So an update is applied once, and reported as published exactly when
// the server holds it.
func (r *Repo) publish(ctx context.Context, stage func(client.Repository) error) error {
	cs, err := r.keys.cryptoService(r.gun)
	if err != nil {
		return err
	}
	remote := &postRecorder{RemoteStore: r.remote, spy: r.posts}
	repo, err := client.NewRepository(r.gun, r.server, remote, r.cache, r.pinning, cs, changelist.NewMemChangelist())
	if err != nil {
		return err
	}
	if err := stage(repo); err != nil {
		return err
	}
	return r.retryPublish(ctx, remote, repo.Publish, r.readBack)
}

// publishTargets publishes target changes staged and signed on the trust
// data already loaded (stage.go), re-staged on the new trust data after a
// lost race.
func (r *Repo) publishTargets(ctx context.Context, changes core.Changes) error {
	if err := validChanges(changes); err != nil {
		return err
	}
	remote := &postRecorder{RemoteStore: r.remote, spy: r.posts}
	var work *tuf.Repo
	var files map[string][]byte
	post := func() error {
		var err error
		if work, files, err = r.stageTargets(changes); err != nil {
			return err
		}
		return remote.SetMulti(files)
	}
	return r.retryPublish(ctx, remote, post, func() { r.adoptPublished(work, files) })
}

// retryPublish runs post until the server holds the update: a lost race
// is re-read and posted again, a lost answer is checked (holdsUpdate).
// done runs once the server took the update.
func (r *Repo) retryPublish(ctx context.Context, remote *postRecorder, post func() error, done func()) error {
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		base := r.timestampVersion()
		remote.last = nil
		err := post()
		if err == nil {
			done()
			return nil
		}
		post := remote.last
		switch {
		case post == nil || !post.sent:
			// Failed before the update left: nothing to find out.
			return r.explain(err)
		case post.conflict:
			if lerr := r.loadFresh(); lerr != nil {
				return fmt.Errorf("re-reading trust data after a version conflict: %w", lerr)
			}
			if r.timestampVersion() <= base {
				return r.notARace(post)
			}
			r.log.Info("publish lost a race to another publisher: rebasing", "gun", r.gun.String(), "rebase", attempt+1)
		case post.ambiguous():
			live, cerr := r.holdsUpdate(post.files)
			if cerr != nil {
				return core.Classedf(core.ClassNotary, "the answer to the publish was lost (%s), and reading the server back failed, so whether it holds the update is unknown (`sign-step verify` tells): %w", post.describe(), cerr)
			}
			if live {
				r.log.Info("publish answer lost, but the server holds the update", "gun", r.gun.String(), "failure", post.describe())
				r.stale = nil // holdsUpdate has just read it back
				return nil
			}
			r.log.Info("publish not applied by the server: publishing again", "gun", r.gun.String(), "failure", post.describe(), "retry", attempt+1)
		default:
			return r.explain(err)
		}
		if attempt >= r.retries {
			return fmt.Errorf("publishing after %d tries: %w", attempt+1, r.explain(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last failure: %v)", ctx.Err(), r.explain(err))
		case <-time.After(jitter(backoff)):
		}
		backoff *= 2
	}
}

// readBack reloads the trust data after a publish. The publish stands even
// if that fails: what reads the trust data then says why (stale).
func (r *Repo) readBack() {
	r.stale = nil
	if err := r.loadFresh(); err != nil {
		r.stale = err
	}
}

// readBackErr is the error of readers of the trust data after a publish
// whose read back failed.
func (r *Repo) readBackErr() error {
	if r.stale == nil {
		return nil
	}
	return fmt.Errorf("trust data of %s was published, but reading it back failed: %w", r.gun, r.stale)
}

// loadFresh is load that fails when the server's timestamp could not be
// read. (The notary client then quietly falls back to the cached one,
// which after a publish is the old state.)
func (r *Repo) loadFresh() error {
	r.remote.timestampErr = nil
	if err := r.load(); err != nil {
		return err
	}
	if err := r.remote.timestampErr; err != nil {
		return r.explain(err)
	}
	return nil
}

func (r *Repo) timestampVersion() int {
	if r.tufRepo == nil || r.tufRepo.Timestamp == nil {
		return 0
	}
	return r.tufRepo.Timestamp.Signed.Version
}

// holdsUpdate reports whether the server applied the update whose files
// (role → metadata as sent) we posted: it stores each file byte for byte
// (notary serves every stored version by checksum, so this holds even
// after later publishes), and the verified trust data it now serves has
// each role at that version or later.
func (r *Repo) holdsUpdate(files map[string][]byte) (bool, error) {
	for _, role := range sortedRoles(files) {
		sent := files[role]
		sum := sha256.Sum256(sent)
		got, err := r.remote.GetSized(role+"."+hex.EncodeToString(sum[:]), int64(len(sent)))
		var missing store.ErrMetaNotFound
		if errors.As(err, &missing) {
			return false, nil
		}
		if err != nil {
			return false, r.explain(err)
		}
		if !bytes.Equal(got, sent) {
			return false, nil
		}
	}
	if err := r.loadFresh(); err != nil {
		return false, err
	}
	for _, role := range sortedRoles(files) {
		if have, _ := r.serverVersion(role); have < versionOf(files[role]) {
			return false, core.Classedf(core.ClassVerify, "notary server %s stores our update of %s but serves %s at version %d, older than ours (possible attack)", r.server, r.gun, role, have)
		}
	}
	return true, nil
}

// notARace explains a VERSION rejection after which the server's trust
// data did not move: no other publisher won, so rebasing cannot help. A
// role that expired since it was checked (notary starts it over at
// version 1) is named with what to do; otherwise it lists what was sent
// against what the server holds.
func (r *Repo) notARace(post *postAttempt) error {
	if err := r.expiredSent(post.files); err != nil {
		return fmt.Errorf("notary server %s refused the update as outdated (VERSION): %w", r.server, err)
	}
	var roles []string
	for _, role := range sortedRoles(post.files) {
		have, valid := r.serverVersion(role)
		state := fmt.Sprintf("%s: sent version %d, the server holds %d", role, versionOf(post.files[role]), have)
		if !valid {
			state += " that does not verify"
		}
		roles = append(roles, state)
	}
	return core.Classedf(core.ClassNotary, "notary server %s refused the update as outdated (VERSION), but no other publisher changed the repository since it was read, so rebasing cannot help (%s)", r.server, strings.Join(roles, "; "))
}

// serverVersion is the version of role in the last verified load, else
// of its copy that failed validation (valid false), else 0.
func (r *Repo) serverVersion(role string) (version int, valid bool) {
	if v, ok := roleVersion(r.tufRepo, data.RoleName(role)); ok {
		return v, true
	}
	if v, ok := roleVersion(r.invalid, data.RoleName(role)); ok {
		return v, false
	}
	return 0, true
}

func roleVersion(repo *tuf.Repo, role data.RoleName) (int, bool) {
	if repo == nil {
		return 0, false
	}
	switch role {
	case data.CanonicalRootRole:
		if repo.Root != nil {
			return repo.Root.Signed.Version, true
		}
	case data.CanonicalSnapshotRole:
		if repo.Snapshot != nil {
			return repo.Snapshot.Signed.Version, true
		}
	case data.CanonicalTimestampRole:
		if repo.Timestamp != nil {
			return repo.Timestamp.Signed.Version, true
		}
	default:
		if t := repo.Targets[role]; t != nil {
			return t.Signed.Version, true
		}
	}
	return 0, false
}

// versionOf is the signed version of a metadata file (0 if unreadable).
func versionOf(raw []byte) int {
	var m struct {
		Signed struct {
			Version int `json:"version"`
		} `json:"signed"`
	}
	_ = json.Unmarshal(raw, &m)
	return m.Signed.Version
}

func sortedRoles(files map[string][]byte) []string {
	roles := make([]string, 0, len(files))
	for role := range files {
		roles = append(roles, role)
	}
	sort.Strings(roles)
	return roles
}

// postRecorder is the remote store a publish goes through: it keeps what
// the last SetMulti sent and how the server answered.
type postRecorder struct {
	store.RemoteStore
	spy  *postSpy
	last *postAttempt
}

type postAttempt struct {
	files map[string][]byte // role → metadata as sent
	postOutcome
}

func (p *postRecorder) SetMulti(files map[string][]byte) error {
	p.spy.reset()
	err := p.RemoteStore.SetMulti(files)
	p.last = &postAttempt{files: files, postOutcome: p.spy.outcome()}
	return err
}

// ambiguous reports an answer after which the server may or may not have
// applied the update: it was sent, and no answer came, or a 5xx (a proxy's
// 502 or 504 comes after it forwarded the request).
func (a *postAttempt) ambiguous() bool { return a.sent && (a.status == 0 || a.status >= 500) }

func (a *postAttempt) describe() string {
	if a.failure != nil {
		return a.failure.Error()
	}
	return fmt.Sprintf("HTTP %d", a.status)
}

// postOutcome is how the server answered the last publish POST.
type postOutcome struct {
	sent     bool  // it may have reached the server
	status   int   // the final status; 0 when no answer came
	failure  error // the round trip's error when no answer came
	conflict bool  // 400 with error code VERSION: another publisher won
}

// postSpy sees the server's answer to a publish POST, which the notary
// client reduces to an error without status or error code: the VERSION
// code of a lost race ("trust server rejected operation" also covers real
// validation failures), or a status or connection failure after which the
// update may or may not have been applied.
type postSpy struct {
	next http.RoundTripper
	mu   sync.Mutex
	last postOutcome
}

func (s *postSpy) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/_trust/tuf/") {
		return resp, err // not a publish
	}
	out := postOutcome{sent: !neverConnected(err), failure: err}
	if err == nil {
		out.status = resp.StatusCode
		if resp.StatusCode == http.StatusBadRequest {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			out.conflict = rerr == nil && hasErrorCode(body, "VERSION")
		}
	}
	s.mu.Lock()
	s.last = out
	s.mu.Unlock()
	return resp, err
}

func (s *postSpy) reset() { s.mu.Lock(); s.last = postOutcome{}; s.mu.Unlock() }

func (s *postSpy) outcome() postOutcome { s.mu.Lock(); defer s.mu.Unlock(); return s.last }

// hasErrorCode reports whether a registry-style error body
// ({"errors":[{"code":...}]}) carries code, however it is serialized.
func hasErrorCode(body []byte, code string) bool {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	for _, x := range e.Errors {
		if x.Code == code {
			return true
		}
	}
	return false
}

// neverConnected reports a round trip that failed before a connection was
// made, so the server cannot have seen the request.
func neverConnected(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// freshness is the remote store of loads: it notes whether the timestamp,
// which every load reads first, came from the server.
type freshness struct {
	store.RemoteStore
	timestampErr error
}

func (f *freshness) GetSized(name string, size int64) ([]byte, error) {
	b, err := f.RemoteStore.GetSized(name, size)
	if name == data.CanonicalTimestampRole.String() {
		f.timestampErr = err
	}
	return b, err
}
