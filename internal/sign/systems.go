package sign

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// System is a signature system other than DCT (cosign, Notation) that signs
// image digests with our key, for dual signing and the DCT migration.
type System interface {
	// Name is "cosign" or "notation".
	Name() string
	// Present reports whether our key already signed img (REPO@sha256:...).
	Present(ctx context.Context, img core.Ref) (bool, error)
	// Add signs img; it must add nothing when Present would say true.
	Add(ctx context.Context, img core.Ref) error
}

// Stager is a System that signs in two steps, so that sign --also-sign
// can do the slow part beside the DCT publish and still show nothing
// before it succeeded.
type Stager interface {
	// Prepare starts, before any digest of repo (REGISTRY/REPOSITORY) is
	// known, what Stage will need there (connections, upload sessions).
	// It must make nothing visible; failures are left to Stage.
	Prepare(ctx context.Context, repo core.Ref)
	// Release gives back what Prepare got and no Stage used.
	Release(ctx context.Context)
	// Stage does everything img's signature needs that no verifier can see
	// yet (reads, signing, content-addressed uploads). commit makes it
	// visible; a nil commit means our key has signed img already.
	Stage(ctx context.Context, img core.Ref) (commit func(context.Context) error, err error)
}

// SystemsError is a failure of the other systems of sign --also-sign after
// every DCT publish succeeded (Report.FinishSystems).
type SystemsError struct{ Err error }

func (e *SystemsError) Error() string { return e.Err.Error() }
func (e *SystemsError) Unwrap() error { return e.Err }

// System statuses in reports.
const (
	StatusPresent = "present" // our key had signed it already
	StatusAdded   = "added"
	StatusMissing = "missing" // dry run: would be added
)

// systemsRun is the other systems' part of a sign run: one job per
// digest (deduplicated) and system, staged once the keys are accepted and
// every digest is known, and finished (or abandoned) once the DCT publish is done.
type systemsRun struct {
	systems  []System
	dryRun   bool
	limit    int
	stageCtx context.Context
	cancel   context.CancelFunc
	sem      chan struct{}
	wg       sync.WaitGroup

	mu   sync.Mutex
	jobs []*systemJob
	seen map[string]bool

	done   chan struct{} // closed when finish is over
	status map[string]map[string]string
	err    error
}

type systemJob struct {
	key    string // REPO@DIGEST
	order  int    // the system's place in the request
	img    core.Ref
	sys    System
	staged bool
	commit func(context.Context) error
	err    error
}

func newSystemsRun(ctx context.Context, systems []System, dryRun bool, limit int) *systemsRun {
	run := &systemsRun{systems: systems, dryRun: dryRun, limit: limit, sem: make(chan struct{}, limit), seen: map[string]bool{}, done: make(chan struct{})}
	run.stageCtx, run.cancel = context.WithCancel(ctx)
	return run
}

// prepare readies every Stager for repo, once per repository (not in a
// dry run: it stages nothing).
func (r *systemsRun) prepare(repo core.Ref) {
	if r.dryRun {
		return
	}
	key := "repo " + repo.Name()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	for _, sys := range r.systems {
		if st, ok := sys.(Stager); ok {
			st.Prepare(r.stageCtx, core.Ref{Registry: repo.Registry, Repository: repo.Repository})
		}
	}
}

// release gives back what prepare got.
func (r *systemsRun) release(ctx context.Context) {
	if r.dryRun {
		return
	}
	var wg sync.WaitGroup
	for _, sys := range r.systems {
		if st, ok := sys.(Stager); ok {
			wg.Go(func() { st.Release(ctx) })
		}
	}
	wg.Wait()
}

// add makes img's jobs, once per digest, and stages it with every
// Stager; the others, and everything in a dry run, wait for finish.
// Nothing staged is visible. It is safe for concurrent use.
func (r *systemsRun) add(img core.Ref) {
	key := img.Name() + "@" + img.Digest
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		return
	}
	r.seen[key] = true
	for order, sys := range r.systems {
		j := &systemJob{key: key, order: order, img: img, sys: sys}
		r.jobs = append(r.jobs, j)
		st, ok := sys.(Stager)
		if !ok || r.dryRun {
			continue
		}
		j.staged = true
		r.wg.Go(func() {
			r.sem <- struct{}{}
			defer func() { <-r.sem }()
			j.commit, j.err = st.Stage(r.stageCtx, j.img)
			if j.err != nil {
				j.err = core.Classed(core.ClassRegistry, fmt.Errorf("adding the %s signature of %s: %w", j.sys.Name(), j.img, j.err))
			}
		})
	}
}

// abort stops what is being staged and waits for it: after a failed
// publish nothing is committed (staged blobs stay unreferenced).
func (r *systemsRun) abort() {
	if r == nil {
		return
	}
	r.cancel()
	r.wg.Wait()
	// Even when the run was cancelled, briefly: it is only tidying.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.stageCtx), 5*time.Second)
	defer cancel()
	r.release(ctx)
}

// finish starts committing what was staged and running the other jobs,
// all of them side by side, in the background: wait has the outcome.
func (r *systemsRun) finish(ctx context.Context) {
	go func() {
		defer close(r.done)
		r.status, r.err = r.commit(ctx)
		r.release(ctx)
	}()
}

// wait returns, once finish is over, per REPO@DIGEST and system, the
// status, and the first failure by job order.
func (r *systemsRun) wait() (map[string]map[string]string, error) {
	<-r.done
	r.cancel()
	return r.status, r.err
}

func (r *systemsRun) commit(ctx context.Context) (map[string]map[string]string, error) {
	r.wg.Wait()
	// Digests were added as they resolved: the order (and so which
	// failure is reported) must not depend on that.
	sort.Slice(r.jobs, func(a, b int) bool {
		ja, jb := r.jobs[a], r.jobs[b]
		return ja.key < jb.key || ja.key == jb.key && ja.order < jb.order
	})
	status := make([]string, len(r.jobs))
	err := forEach(ctx, len(r.jobs), r.limit, func(i int) error {
		j := r.jobs[i]
		switch {
		case j.err != nil:
			return j.err
		case !j.staged:
			s, err := ensure(ctx, j.sys, j.img, r.dryRun)
			status[i] = s
			return err
		case j.commit == nil:
			status[i] = StatusPresent
			return nil
		}
		if err := j.commit(ctx); err != nil {
			return core.Classed(core.ClassRegistry, fmt.Errorf("adding the %s signature of %s: %w", j.sys.Name(), j.img, err))
		}
		status[i] = StatusAdded
		return nil
	})
	out := map[string]map[string]string{}
	for i, j := range r.jobs {
		if status[i] == "" {
			continue
		}
		if out[j.key] == nil {
			out[j.key] = map[string]string{}
		}
		out[j.key][j.sys.Name()] = status[i]
	}
	return out, err
}

// Ensurer is a System that checks and adds in one step (one read of its
// signatures instead of two); Ensure reports whether it added one.
type Ensurer interface {
	Ensure(ctx context.Context, img core.Ref) (added bool, err error)
}

func ensure(ctx context.Context, sys System, img core.Ref, dryRun bool) (string, error) {
	if e, ok := sys.(Ensurer); ok && !dryRun {
		added, err := e.Ensure(ctx, img)
		switch {
		case err != nil:
			return "", core.Classed(core.ClassRegistry, fmt.Errorf("adding the %s signature of %s: %w", sys.Name(), img, err))
		case added:
			return StatusAdded, nil
		}
		return StatusPresent, nil
	}
	has, err := sys.Present(ctx, img)
	if err != nil {
		return "", core.Classed(core.ClassRegistry, fmt.Errorf("checking the %s signature of %s: %w", sys.Name(), img, err))
	}
	if has {
		return StatusPresent, nil
	}
	if dryRun {
		return StatusMissing, nil
	}
	if err := sys.Add(ctx, img); err != nil {
		return "", core.Classed(core.ClassRegistry, fmt.Errorf("adding the %s signature of %s: %w", sys.Name(), img, err))
	}
	return StatusAdded, nil
}

// MigrateRequest is one run of `sign-step migrate`.
type MigrateRequest struct {
	Repos     []string
	Shard, Of int
	DryRun    bool
}

// MigrateTag is one tag of a migrated repository.
type MigrateTag struct {
	Tag     string            `json:"tag"`
	Digest  string            `json:"digest,omitempty"`
	Signers []string          `json:"dctSigners,omitempty"` // delegations that signed this digest for the tag
	Systems map[string]string `json:"systems,omitempty"`    // system → present|added|missing
	// Skipped says why nothing was signed: the tag is listed but a
	// trusted pull would refuse it.
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MigrateResult is one repository's outcome.
type MigrateResult struct {
	GUN   string       `json:"gun"`
	Tags  []MigrateTag `json:"tags"`
	Error string       `json:"error,omitempty"`
}

// Migrate backfills the other systems' signatures for every tag trust data
// vouches for: each tag is resolved as a trusted `docker pull` resolves it
// (Lookup: pinning, signatures and expiry checked when the repository is
// opened), the registry must serve that digest, and each system signs it
// unless our key already has. Nothing else is ever signed. Repositories
// are independent; the error says how many failed.
func (s *UseCases) Migrate(ctx context.Context, req MigrateRequest, systems []System) ([]MigrateResult, error) {
	if len(systems) == 0 {
		return nil, core.Classedf(core.ClassUsage, "no signature system to migrate to: pass --to cosign or --to notation")
	}
	guns, err := shardRepos("migrate", req.Repos, req.Shard, req.Of)
	if err != nil {
		return nil, err
	}
	results, failed := eachRepo(ctx, s.concurrency(), guns, func(gun string) (MigrateResult, bool) {
		r := s.migrateOne(ctx, gun, req, systems)
		return r, r.Error != ""
	})
	if err := ctx.Err(); err != nil {
		return results, err
	}
	if failed > 0 {
		return results, core.Classedf(core.ClassVerify, "%d of %d repositories could not be migrated (see the report)", failed, len(guns))
	}
	return results, nil
}

func (s *UseCases) migrateOne(ctx context.Context, gun string, req MigrateRequest, systems []System) MigrateResult {
	res := MigrateResult{GUN: gun, Tags: []MigrateTag{}}
	base, err := core.ParseRef(gun)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	repo, err := s.Trust.Open(ctx, gun)
	if err != nil {
		// Tampered, expired or unpinned trust data: nothing is signed.
		res.Error = fmt.Sprintf("opening trust data: %v", err)
		return res
	}
	done := map[string]map[string]string{} // digest → statuses, so shared digests are signed once
	tags := repo.Tags()
	sort.Strings(tags)
	failures := 0
	for _, tag := range tags {
		t := MigrateTag{Tag: tag}
		d, err := repo.Lookup(tag)
		if err != nil {
			var nt *core.NoTrustError
			if errors.As(err, &nt) {
				t.Skipped = err.Error()
				res.Tags = append(res.Tags, t)
				continue
			}
			t.Error = err.Error()
			failures++
			res.Tags = append(res.Tags, t)
			continue
		}
		t.Digest = d.Digest
		if by, err := repo.SignedBy(tag); err == nil {
			for name, got := range by {
				if got.Digest == d.Digest {
					t.Signers = append(t.Signers, name)
				}
			}
			sort.Strings(t.Signers)
		}
		if st, ok := done[d.Digest]; ok {
			t.Systems = st
			res.Tags = append(res.Tags, t)
			continue
		}
		img := core.Ref{Registry: base.Registry, Repository: base.Repository, Digest: d.Digest}
		// The registry must serve the very bytes trust data names (Resolve
		// hashes them) before anything is signed for them.
		if got, err := s.Registry.Resolve(ctx, img); err != nil || got.Digest != d.Digest {
			if err == nil {
				err = fmt.Errorf("the registry serves %s", got.Digest)
			}
			t.Error = fmt.Sprintf("reading %s: %v", img, err)
			failures++
			res.Tags = append(res.Tags, t)
			continue
		}
		st := map[string]string{}
		for _, sys := range systems {
			status, err := ensure(ctx, sys, img, req.DryRun)
			if err != nil {
				t.Error = err.Error()
				failures++
				break
			}
			st[sys.Name()] = status
		}
		t.Systems = st
		if t.Error == "" {
			done[d.Digest] = st
		}
		res.Tags = append(res.Tags, t)
	}
	if failures > 0 {
		res.Error = fmt.Sprintf("%d of %d tags failed", failures, len(tags))
	}
	s.log().Info("migrated", "gun", gun, "tags", len(tags), "failed", failures, "systems", systemNames(systems))
	return res
}

func systemNames(systems []System) string {
	names := make([]string, len(systems))
	for i, s := range systems {
		names[i] = s.Name()
	}
	return strings.Join(names, ",")
}
