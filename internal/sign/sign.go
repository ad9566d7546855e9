// Package sign holds sign-step's use cases over the small interfaces (ports)
// the adapters implement. UseCases runs sign, verify (and verify of several
// systems), revoke, resign, migrate and the also-sign step over Registry,
// Trust/TrustRepo, System and ImageVerifier; Admin runs init, signer
// add/remove, key generate/rotate and root renew over TrustAdmin, KeyMaker
// and KeyWriter. Shared types come from internal/core. It imports no SDK.
package sign

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/inspect"
)

// Registry is the image side: what tags point to, and pushing images.
type Registry interface {
	// Resolve returns the manifest descriptor ref names.
	Resolve(ctx context.Context, ref core.Ref) (core.Descriptor, error)
	// Push copies the image at source to every ref and returns its descriptor.
	Push(ctx context.Context, source string, refs []core.Ref) (core.Descriptor, error)
	// Describe returns the descriptor Push would record for source, pushing nothing.
	Describe(ctx context.Context, source string) (core.Descriptor, error)
}

// Trust opens notary repositories by GUN.
type Trust interface {
	Open(ctx context.Context, gun string) (TrustRepo, error)
}

// TrustRepo is one notary repository with our keys loaded.
type TrustRepo interface {
	// SignableRoles returns the roles docker would sign tag into with our keys
	// and the IDs of the keys that sign them; a *NoSignableRoleError if none.
	SignableRoles(tag string) (roles, keyIDs []string, err error)
	// Released returns what tag points to in targets/releases or targets, if anything.
	Released(tag string) (core.Descriptor, bool, error)
	// SignedAt reports whether every one of roles already records tag at
	// exactly d, in valid metadata that one of our keys signed: signing it
	// again would change nothing but the signature.
	SignedAt(tag string, d core.Descriptor, roles []string) (bool, error)
	// Lookup resolves tag exactly as docker's trusted pull does: the first
	// match in targets/releases, then targets (and its subtree), accepted
	// only from those two roles. Failures are *NoTrustError.
	Lookup(tag string) (core.Descriptor, error)
	// SignedBy returns, per signer (delegation name without "targets/"),
	// what that signer recorded for tag.
	SignedBy(tag string) (map[string]core.Descriptor, error)
	// Tags lists every tag `docker trust revoke REPO` removes: those in
	// targets/releases, targets and its child roles, whether or not a
	// trusted pull accepts them (Lookup tells).
	Tags() []string
	// Witnessable lists the roles our keys can re-sign: direct delegations
	// of targets listing one of our keys, and targets when we hold its key.
	// Those of them that were never signed into (a signer added, nothing
	// signed yet) have no metadata to re-sign: they come as neverSigned.
	Witnessable() (roles, neverSigned []string)
	// CheckPublish reports, before anything changes, whether a publish can
	// be completed: someone (we or the server) must hold the snapshot key.
	// It is asked only when something else would happen first (a push,
	// other repositories' publishes): Publish fails the same way, with
	// nothing published, when nobody can complete it.
	CheckPublish() error
	// Publish applies changes in one publish.
	Publish(ctx context.Context, changes core.Changes) error
	// Inspect reads what `docker trust inspect` shows for name (and tag, if set).
	Inspect(name, tag string) (inspect.Repository, error)
	// Metadata returns the version and expiry of the repository's metadata.
	Metadata() ([]core.RoleMeta, error)
}

// UseCases runs the use cases of sign-step: sign, verify, revoke, resign,
// migrate and verify of several systems, over the Registry and Trust ports.
type UseCases struct {
	Registry    Registry
	Trust       Trust
	Log         *slog.Logger
	Concurrency int // parallel registry lookups; 0 means 16
	Now         func() time.Time
}

// SignRequest is one run of `sign-step sign`.
type SignRequest struct {
	Refs   []string // REPOSITORY:TAG, or REPOSITORY:TAG@sha256:... to pin it
	Source string   // push this image first; empty to sign existing tags
	// ExpectDigest pins every ref (sha256:...): what is signed, resolved or
	// pushed, must be this manifest, else nothing is pushed or published.
	ExpectDigest string
	DryRun       bool
	// Force publishes even when every tag is already signed at its digest
	// in every role by our key (a re-run otherwise publishes nothing).
	Force bool
	// Systems also sign every digest signed (sign --also-sign). A Stager
	// stages beside the DCT publish and commits only once every publish
	// succeeded; after a failed one nothing is committed.
	Systems []System
}

// RefResult is the report entry for one signed reference.
type RefResult struct {
	Ref        string          `json:"ref"`
	GUN        string          `json:"gun"`
	Tag        string          `json:"tag"`
	Descriptor core.Descriptor `json:"target"`
	Roles      []string        `json:"roles"`
	KeyIDs     []string        `json:"keyIDs"`
	Previous   string          `json:"previousDigest,omitempty"`
	// Result is signed, would-sign in a dry run, or unchanged: the tag was
	// already signed at this digest in every role, by our key, and nothing
	// was published for it.
	Result string `json:"result"`
}

// Results of a ref in a sign report.
const (
	ResultSigned    = "signed"
	ResultWouldSign = "would-sign"
	ResultUnchanged = "unchanged"
)

// RepoResult is the report entry for one repository.
type RepoResult struct {
	GUN            string          `json:"gun"`
	Published      bool            `json:"published"`
	Metadata       []core.RoleMeta `json:"metadata,omitempty"`
	ResolveSeconds float64         `json:"resolveSeconds"`
	PublishSeconds float64         `json:"publishSeconds"`
}

// Report is what a run did; it becomes report.json.
type Report struct {
	Command      string       `json:"command"`
	DryRun       bool         `json:"dryRun"`
	Changed      bool         `json:"changed"`
	Refs         []RefResult  `json:"refs"`
	Repositories []RepoResult `json:"repositories"`
	Started      time.Time    `json:"started"`
	Seconds      float64      `json:"seconds"`
	// Inspect is docker trust inspect's view of each ref after the run.
	Inspect []inspect.Repository `json:"-"`
	// Systems is, per REPO@DIGEST and system of SignRequest.Systems, its
	// status (added, present or missing), once FinishSystems returned.
	Systems map[string]map[string]string `json:"-"`

	systems *systemsRun // committing since every publish succeeded
}

// FinishSystems waits for the other systems of SignRequest.Systems, which
// Sign left committing (the DCT publish had succeeded) so that the caller
// can write its artifacts meanwhile, and fills in Systems. Their failure
// is a *SystemsError. A caller of Sign with Systems must call it before
// it exits; without Systems it returns nil.
func (rep *Report) FinishSystems() error {
	if rep == nil || rep.systems == nil {
		return nil
	}
	var err error
	rep.Systems, err = rep.systems.wait()
	if err != nil {
		return &SystemsError{Err: err}
	}
	return nil
}

type repoPlan struct {
	gun   string
	repo  TrustRepo
	refs  []int // indexes into the request's refs
	timer struct{ resolve, publish time.Duration }
}

// Sign pushes (when asked), resolves and signs every ref. Everything is
// checked before anything is pushed or published: a bad ref, key or role
// fails the run with nothing changed.
func (s *UseCases) Sign(ctx context.Context, req SignRequest) (*Report, error) {
	now := s.now()
	rep := &Report{Command: "sign", DryRun: req.DryRun, Started: now}
	pins, err := pinsOf(req)
	if err != nil {
		return nil, err
	}
	var systems *systemsRun
	if len(req.Systems) > 0 {
		// The other systems' signatures are made while trust data loads,
		// digests resolve and notary is asked; they are committed only
		// after every publish succeeded (FinishSystems).
		systems = newSystemsRun(ctx, req.Systems, req.DryRun, s.concurrency())
		defer func() {
			if rep.systems == nil {
				systems.abort() // a failed run: nothing is committed
			}
		}()
		for _, raw := range req.Refs {
			if r, err := core.ParseRef(raw); err == nil { // plan reports the others
				systems.prepare(r)
			}
		}
	}
	refs, plans, err := plan(req.Refs)
	if err != nil {
		return nil, err
	}
	rep.Refs = make([]RefResult, len(refs))
	for i, r := range refs {
		rep.Refs[i] = RefResult{Ref: r.String(), GUN: r.Name(), Tag: r.Tag}
	}
	// Resolving tags only reads the registry, so it runs while the trust
	// data is opened (a push with --source waits until the keys are
	// checked). Errors of the trust data come first, as when they ran in turn.
	resolved := func() error { return nil }
	if req.Source == "" {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.resolve(rctx, refs, pins, plans, rep) }()
		resolved = sync.OnceValue(func() error { return <-done })
		defer func() { cancel(); _ = resolved() }() // never leave it writing to rep
	}
	if err := s.open(ctx, plans); err != nil {
		return nil, err
	}
	for _, p := range plans {
		for _, i := range p.refs {
			roles, keyIDs, err := p.repo.SignableRoles(refs[i].Tag)
			if err != nil {
				return nil, fmt.Errorf("checking signing roles for %s: %w", refs[i], err)
			}
			rep.Refs[i].Roles, rep.Refs[i].KeyIDs = roles, keyIDs
		}
		// A dry run stays read-only: asking notary-server for its snapshot key
		// takes push scope, and the server creates one it does not hold.
		// With --source the image is pushed before anything is known to be
		// unchanged, so the check comes first; otherwise it waits until a
		// publish is known to be needed (a re-run asks nothing).
		if !req.DryRun && req.Source != "" {
			if err := p.repo.CheckPublish(); err != nil {
				return nil, err
			}
		}
	}
	s.log().Info("keys accepted", "repositories", len(plans), "tags", len(refs))

	if req.Source != "" {
		err = s.push(ctx, req, refs, pins, plans, rep)
	} else {
		err = resolved()
	}
	if err != nil {
		return nil, err
	}
	// Keys accepted, every digest read and matching its pin: the other
	// systems stage their signatures beside the DCT publish.
	if systems != nil {
		for i, r := range refs {
			systems.add(core.Ref{Registry: r.Registry, Repository: r.Repository, Digest: rep.Refs[i].Descriptor.Digest})
		}
	}
	changes := make([]core.Changes, len(plans))
	for pi, p := range plans {
		for _, i := range p.refs {
			r := &rep.Refs[i]
			if prev, ok, err := p.repo.Released(r.Tag); err != nil {
				return nil, fmt.Errorf("reading current target of %s: %w", r.Ref, err)
			} else if ok {
				r.Previous = prev.Digest
			}
			if !req.Force {
				same, err := p.repo.SignedAt(r.Tag, r.Descriptor, r.Roles)
				if err != nil {
					return nil, fmt.Errorf("reading current signatures of %s: %w", r.Ref, err)
				}
				if same {
					r.Result = ResultUnchanged
					continue
				}
			}
			r.Result = ResultSigned
			if req.DryRun {
				r.Result = ResultWouldSign
			}
			changes[pi].Add = append(changes[pi].Add, core.Target{Tag: r.Tag, Descriptor: r.Descriptor, Roles: r.Roles})
		}
	}
	if !req.DryRun && req.Source == "" && publishing(changes) > 1 {
		// Every repository before the first publish, so that one nobody can
		// complete stops the others. A lone publish needs no check first:
		// the server refuses it with nothing stored, and its refusal is
		// told as the check would tell it (one request less).
		for pi, p := range plans {
			if len(changes[pi].Add) > 0 {
				if err := p.repo.CheckPublish(); err != nil {
					return nil, err
				}
			}
		}
	}
	published := make([]bool, len(plans))
	var publishErr error
	if !req.DryRun {
		// Repositories are independent: publish them side by side.
		publishErr = forEach(ctx, len(plans), s.concurrency(), func(i int) error {
			p := plans[i]
			if len(changes[i].Add) == 0 {
				s.log().Info("unchanged", "gun", p.gun, "tags", len(p.refs))
				return nil // every tag already signed as asked: a re-run publishes nothing
			}
			start := time.Now()
			if err := p.repo.Publish(ctx, changes[i]); err != nil {
				return fmt.Errorf("publishing trust data for %s: %w", p.gun, err)
			}
			p.timer.publish = time.Since(start)
			published[i] = true
			s.log().Info("published", "gun", p.gun, "tags", len(changes[i].Add), "seconds", round(p.timer.publish))
			return nil
		})
	}
	for i, p := range plans {
		rep.Changed = rep.Changed || published[i]
		rr := RepoResult{GUN: p.gun, Published: published[i], ResolveSeconds: round(p.timer.resolve), PublishSeconds: round(p.timer.publish)}
		if meta, err := p.repo.Metadata(); err == nil {
			rr.Metadata = meta
		}
		rep.Repositories = append(rep.Repositories, rr)
	}
	if publishErr != nil {
		return rep, publishErr
	}
	// What docker trust inspect shows for each ref, read once per repository
	// from the trust data the publish reloaded.
	rep.Inspect = make([]inspect.Repository, len(refs))
	for _, p := range plans {
		info, err := p.repo.Inspect(p.gun, "")
		if err != nil {
			return rep, fmt.Errorf("inspecting %s: %w", p.gun, err)
		}
		rows := map[string][]inspect.SignedTag{} // a 1000-tag run looks each up
		for _, t := range info.SignedTags {
			rows[t.Tag] = append(rows[t.Tag], t)
		}
		for _, i := range p.refs {
			name, _, _ := strings.Cut(req.Refs[i], "@") // as typed, without the pin
			rep.Inspect[i] = info
			rep.Inspect[i].Name = name
			rep.Inspect[i].SignedTags = rows[refs[i].Tag]
		}
	}
	if systems != nil {
		// Every publish succeeded: the other systems' signatures may appear.
		systems.finish(ctx)
		rep.systems = systems
	}
	rep.Seconds = round(s.now().Sub(now))
	return rep, nil
}

// plan parses refs and groups them by repository (opened later).
// A REPOSITORY:TAG@sha256: ref is planned as its tag; pinsOf keeps the digest.
func plan(raw []string) ([]core.Ref, []*repoPlan, error) {
	seen := map[string]bool{}
	tags := make([]string, len(raw))
	for i, str := range raw {
		r, err := core.ParseRef(str)
		if err != nil {
			return nil, nil, err
		}
		if r.Digest != "" && r.Tag == "" {
			return nil, nil, core.Classedf(core.ClassUsage, "cannot sign %q: a digest reference cannot be signed, give REPOSITORY:TAG (or REPOSITORY:TAG@sha256:... to pin the tag's digest)", str)
		}
		r.Digest = ""
		if r.Tag != "" && seen[r.String()] {
			return nil, nil, core.Classedf(core.ClassUsage, "%s is given twice", r)
		}
		seen[r.String()] = true
		tags[i] = r.String()
	}
	return group(tags, false)
}

// pinsOf returns the digest each ref must be signed at ("" when none): its
// own @sha256:, or ExpectDigest. The two must agree.
func pinsOf(req SignRequest) ([]string, error) {
	if req.ExpectDigest != "" && !core.ValidDigest(req.ExpectDigest) {
		return nil, core.Classedf(core.ClassUsage, "--expect-digest %q: want sha256: followed by 64 lowercase hex characters", req.ExpectDigest)
	}
	pins := make([]string, len(req.Refs))
	for i, raw := range req.Refs {
		r, err := core.ParseRef(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case req.ExpectDigest == "":
			pins[i] = r.Digest
		case r.Digest == "" || r.Digest == req.ExpectDigest:
			pins[i] = req.ExpectDigest
		default:
			return nil, core.Classedf(core.ClassUsage, "%s is pinned to %s but --expect-digest is %s", raw, r.Digest, req.ExpectDigest)
		}
	}
	return pins, nil
}

// checkPins refuses when a ref's target is not the digest it is pinned to.
func checkPins(refs []core.Ref, pins []string, got func(i int) core.Descriptor, what, unchanged string) error {
	for i, pin := range pins {
		if d := got(i); pin != "" && d.Digest != pin {
			return core.Classedf(core.ClassRegistry, "%s: %s is %s, not the expected %s; %s", refs[i], what, d.Digest, pin, unchanged)
		}
	}
	return nil
}

// push pushes req.Source to every ref and fills in their descriptor. A
// pinned ref is checked before anything is pushed and again after.
func (s *UseCases) push(ctx context.Context, req SignRequest, refs []core.Ref, pins []string, plans []*repoPlan, rep *Report) error {
	start := time.Now()
	pinned := slices.ContainsFunc(pins, func(p string) bool { return p != "" })
	if pinned {
		d, err := s.Registry.Describe(ctx, req.Source)
		if err != nil {
			return fmt.Errorf("reading %s: %w", req.Source, err)
		}
		if err := checkPins(refs, pins, func(int) core.Descriptor { return d }, "the --source image", "nothing pushed or signed"); err != nil {
			return err
		}
	}
	push := s.Registry.Push
	if req.DryRun {
		push = func(ctx context.Context, source string, _ []core.Ref) (core.Descriptor, error) {
			return s.Registry.Describe(ctx, source)
		}
	}
	d, err := push(ctx, req.Source, refs)
	if err != nil {
		return fmt.Errorf("pushing %s: %w", req.Source, err)
	}
	// The source may have changed since it was read (a registry source).
	if err := checkPins(refs, pins, func(int) core.Descriptor { return d }, "the pushed image", "nothing signed"); err != nil {
		return err
	}
	for i := range rep.Refs {
		rep.Refs[i].Descriptor = d
	}
	for _, p := range plans {
		p.timer.resolve = time.Since(start)
	}
	s.log().Info("pushed", "source", req.Source, "digest", d.Digest, "size", d.Size, "refs", len(refs))
	return nil
}

// resolve reads each ref's target from the registry (a GET of its
// manifest, hashed) and checks the pins.
func (s *UseCases) resolve(ctx context.Context, refs []core.Ref, pins []string, plans []*repoPlan, rep *Report) error {
	start := time.Now()
	err := forEach(ctx, len(refs), s.concurrency(), func(i int) error {
		d, err := s.Registry.Resolve(ctx, refs[i])
		if err != nil {
			return fmt.Errorf("resolving %s: %w", refs[i], err)
		}
		rep.Refs[i].Descriptor = d
		return nil
	})
	for _, p := range plans {
		p.timer.resolve = time.Since(start)
	}
	if err == nil {
		err = checkPins(refs, pins, func(i int) core.Descriptor { return rep.Refs[i].Descriptor }, "the tag in the registry", "nothing signed")
	}
	if err == nil {
		s.log().Info("resolved", "tags", len(refs), "seconds", round(time.Since(start)))
	}
	return err
}

func (s *UseCases) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return 16
}

func (s *UseCases) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *UseCases) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// forEach runs fn(0..n-1) with at most limit at once and returns the first
// error by index, so the message does not depend on scheduling.
func forEach(ctx context.Context, n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func round(d time.Duration) float64 { return float64(d.Round(time.Millisecond)) / float64(time.Second) }

// publishing is how many repositories have changes to publish.
func publishing(changes []core.Changes) int {
	n := 0
	for _, c := range changes {
		if len(c.Add) > 0 || len(c.Remove) > 0 || len(c.Witness) > 0 {
			n++
		}
	}
	return n
}
