package sign

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// VerifyRequest is one run of `sign-step verify`.
type VerifyRequest struct {
	Refs    []string
	Signers []string // each must have signed the verified digest
	// AllowUnsignedDigests is docker's rule for digest references: they pass
	// when the registry has the manifest, with no trust data read. It cannot
	// be combined with Signers.
	AllowUnsignedDigests bool
	// AnySigner: one of Signers suffices (a policy's anyOf), not all.
	AnySigner bool
}

// Verified is one ref that passed, pinned to its digest.
type Verified struct {
	Ref        string          `json:"ref"`
	Pinned     string          `json:"pinned"` // REF@sha256:...
	Descriptor core.Descriptor `json:"target"`
	SignedBy   []string        `json:"signedBy,omitempty"`
	// Tags are, for a REPO@sha256: reference, the signed tags that a
	// trusted pull resolves to that digest.
	Tags []string `json:"tags,omitempty"`
	// Unsigned says the digest passed without trust data (AllowUnsignedDigests).
	Unsigned bool `json:"unsigned,omitempty"`
}

// Verify is docker's client enforcement: each tag resolves through trust
// data as `DOCKER_CONTENT_TRUST=1 docker pull` resolved it. A digest is held
// to the same rule, which docker did not apply: REPO:TAG@sha256:X passes only
// when TAG resolves to X, and REPO@sha256:X only when some tag resolves to X.
// All refs are checked; the error lists every failure.
func (s *UseCases) Verify(ctx context.Context, req VerifyRequest) ([]Verified, error) {
	if len(req.Refs) == 0 {
		return nil, core.Classedf(core.ClassUsage, "no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	if req.AllowUnsignedDigests && len(req.Signers) > 0 {
		return nil, core.Classedf(core.ClassUsage, "--allow-unsigned-digests cannot be combined with --signer: a signer check needs the trust data that flag skips")
	}
	refs := make([]core.Ref, len(req.Refs))
	for i, raw := range req.Refs {
		r, err := core.ParseRef(raw)
		if err != nil {
			return nil, err
		}
		if r.Tag == "" && r.Digest == "" {
			r.Tag = "latest" // as docker pull does
		}
		refs[i] = r
	}
	out := make([]Verified, len(refs))
	repos := newRepoCache()
	err := forEach(ctx, len(refs), s.concurrency(), func(i int) error {
		v, err := s.verifyOne(ctx, refs[i], req, repos)
		out[i] = v
		return err
	})
	return out, err
}

func (s *UseCases) verifyOne(ctx context.Context, ref core.Ref, req VerifyRequest, repos *repoCache) (Verified, error) {
	v := Verified{Ref: ref.String()}
	if ref.Digest != "" && req.AllowUnsignedDigests {
		// Docker's rule: a digest names its content and is pulled without
		// trust data (a tag next to it is ignored).
		d, err := s.Registry.Resolve(ctx, core.Ref{Registry: ref.Registry, Repository: ref.Repository, Digest: ref.Digest})
		if err != nil {
			return v, err
		}
		v.Descriptor, v.Pinned, v.Unsigned = d, ref.Name()+"@"+d.Digest, true
		return v, nil
	}
	repo, err := repos.open(ctx, s.Trust, ref.Name())
	if err != nil {
		var none *core.NoTrustDataError
		if errors.As(err, &none) {
			return v, core.Classedf(core.ClassVerify, "remote trust data does not exist for %s: %s", none.GUN, none.Detail)
		}
		return v, err
	}
	if ref.Tag == "" {
		return s.verifyDigest(ref, req, repo)
	}
	d, err := repo.Lookup(ref.Tag)
	if err != nil {
		var nt *core.NoTrustError
		if errors.As(err, &nt) {
			return v, core.Classed(core.ClassVerify, s.withExpiry(repo, err))
		}
		return v, err
	}
	if ref.Digest != "" && d.Digest != ref.Digest {
		return v, core.Classedf(core.ClassVerify, "%s: tag %s is signed at %s, not %s", ref, ref.Tag, d.Digest, ref.Digest)
	}
	v.Descriptor = d
	if len(req.Signers) > 0 {
		by, err := repo.SignedBy(ref.Tag)
		if err != nil {
			return v, err
		}
		if v.SignedBy, err = checkSigners(ref, d.Digest, req, func(name string) bool {
			got, ok := by[name]
			return ok && got.Digest == d.Digest
		}); err != nil {
			return v, err
		}
	}
	v.Pinned = ref.Name() + "@" + d.Digest // only a ref that passed is printed
	return v, nil
}

// verifyDigest passes REPO@sha256:X when a trusted pull of some tag gets X
// (that tag would pass verify), and each signer signed X under such a tag.
func (s *UseCases) verifyDigest(ref core.Ref, req VerifyRequest, repo TrustRepo) (Verified, error) {
	signers := req.Signers
	v := Verified{Ref: ref.String()}
	signed := map[string]bool{}
	for _, tag := range repo.Tags() {
		d, err := repo.Lookup(tag)
		if err != nil {
			var nt *core.NoTrustError
			if errors.As(err, &nt) {
				continue // listed, but not what a trusted pull accepts
			}
			return v, err
		}
		if d.Digest != ref.Digest {
			continue
		}
		v.Descriptor = d
		v.Tags = append(v.Tags, tag)
		if len(signers) == 0 {
			continue
		}
		by, err := repo.SignedBy(tag)
		if err != nil {
			return v, err
		}
		for name, got := range by {
			if got.Digest == ref.Digest {
				signed[name] = true
			}
		}
	}
	if len(v.Tags) == 0 {
		return v, core.Classedf(core.ClassVerify, "No valid trust data for %s: no tag of %s signed in targets/releases or targets points to it", ref.Digest, ref.Name())
	}
	var err error
	if v.SignedBy, err = checkSigners(ref, ref.Digest, req, func(name string) bool { return signed[name] }); err != nil {
		return v, err
	}
	v.Pinned = ref.String()
	return v, nil
}

// checkSigners holds req.Signers to digest: each must have signed it, or
// with AnySigner one of them. It returns those that did.
func checkSigners(ref core.Ref, digest string, req VerifyRequest, signedIt func(name string) bool) ([]string, error) {
	var by []string
	for _, name := range req.Signers {
		if signedIt(name) {
			by = append(by, name)
		} else if !req.AnySigner {
			return nil, core.Classedf(core.ClassVerify, "%s: signer %s did not sign %s", ref, name, digest)
		}
	}
	if len(req.Signers) > 0 && len(by) == 0 {
		return nil, core.Classedf(core.ClassVerify, "%s: none of the signers %s signed %s", ref, strings.Join(req.Signers, ","), digest)
	}
	return by, nil
}

// withExpiry adds to err which roles have expired, the usual reason a tag
// that was signed no longer resolves.
func (s *UseCases) withExpiry(repo TrustRepo, err error) error {
	meta, merr := repo.Metadata()
	if merr != nil {
		return err
	}
	var expired []string
	for _, m := range meta {
		if m.Role != "timestamp" && !m.Expires.IsZero() && m.Expires.Before(s.now()) {
			expired = append(expired, fmt.Sprintf("%s expired %s", m.Role, m.Expires.Format(time.RFC3339)))
		}
	}
	if len(expired) == 0 {
		return err
	}
	return fmt.Errorf("%w (%s: run sign-step resign)", err, strings.Join(expired, ", "))
}

// RevokeRequest is one run of `sign-step revoke`.
type RevokeRequest struct {
	Refs []string
	All  bool // a repository ref revokes every tag (--yes)
}

// Revoke removes tags from every role our keys can sign, as docker's
// `trust revoke` does: a tag is found in targets/releases, targets or any
// of its child roles (so also one only a signer's own role holds), and a
// repository ref takes all of those. Everything is checked before the
// first publish; then each repository gets one publish. It returns the
// refs revoked, which after a failed publish are those of the
// repositories that were published.
func (s *UseCases) Revoke(ctx context.Context, req RevokeRequest) ([]string, error) {
	refs, plans, err := s.groupRefs(ctx, req.Refs, true)
	if err != nil {
		return nil, err
	}
	changes := make([]core.Changes, len(plans))
	revoked := make([][]string, len(plans))
	for pi, p := range plans {
		tags, err := revokedTags(p, refs, req.All)
		if err != nil {
			return nil, err
		}
		for _, tag := range tags {
			roles, _, err := p.repo.SignableRoles(tag)
			if err != nil {
				return nil, fmt.Errorf("revoking %s:%s: %w", p.gun, tag, err)
			}
			changes[pi].Remove = append(changes[pi].Remove, core.Target{Tag: tag, Roles: roles})
			revoked[pi] = append(revoked[pi], p.gun+":"+tag)
		}
		if err := p.repo.CheckPublish(); err != nil {
			return nil, err
		}
	}
	published := make([]bool, len(plans))
	err = forEach(ctx, len(plans), s.concurrency(), func(i int) error {
		p := plans[i]
		if err := p.repo.Publish(ctx, changes[i]); err != nil {
			return fmt.Errorf("publishing revocation for %s: %w", p.gun, err)
		}
		published[i] = true
		s.log().Info("revoked", "gun", p.gun, "tags", len(changes[i].Remove))
		s.warnStillSigned(p, changes[i].Remove)
		return nil
	})
	var out []string
	failed := 0
	for i := range plans {
		if published[i] {
			out = append(out, revoked[i]...)
		} else {
			failed++
		}
	}
	if err != nil && len(plans) > 1 {
		err = fmt.Errorf("%d of %d repositories were not revoked (the others were): %w", failed, len(plans), err)
	}
	return out, err
}

// revokedTags is what p's refs name: each tag, which must be listed in the
// trust data (docker's GetTargetByName over targets/releases and targets,
// without the trusted-pull filter), or every listed tag for a repository
// ref. A tag named twice is revoked once.
func revokedTags(p *repoPlan, refs []core.Ref, all bool) ([]string, error) {
	listed := p.repo.Tags()
	known := map[string]bool{}
	for _, t := range listed {
		known[t] = true
	}
	var tags []string
	seen := map[string]bool{}
	add := func(tag string) {
		if !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	for _, i := range p.refs {
		if refs[i].Tag == "" {
			if !all {
				return nil, core.Classedf(core.ClassUsage, "%s names every tag of the repository: pass --yes to revoke them all", refs[i].Name())
			}
			if len(listed) == 0 {
				return nil, core.Classedf(core.ClassVerify, "no signed tags to remove in %s", p.gun)
			}
			for _, t := range listed {
				add(t)
			}
			continue
		}
		if !known[refs[i].Tag] {
			return nil, core.Classed(core.ClassVerify, fmt.Errorf("revoking %s: %w", refs[i], &core.NoTrustError{Ref: refs[i].Tag, Message: "No valid trust data for " + refs[i].Tag}))
		}
		add(refs[i].Tag)
	}
	return tags, nil
}

// warnStillSigned warns about revoked tags that a trusted pull still
// resolves, read from the trust data the publish reloaded: they stay in a
// role our keys cannot sign. (docker says nothing; the tag is not revoked
// for its users.)
func (s *UseCases) warnStillSigned(p *repoPlan, removed []core.Target) {
	for _, t := range removed {
		d, err := p.repo.Lookup(t.Tag)
		if err != nil {
			continue
		}
		by, _ := p.repo.SignedBy(t.Tag)
		s.log().Warn("revoked tag still resolves for a trusted pull: it stays signed in a role our keys cannot sign",
			"ref", p.gun+":"+t.Tag, "digest", d.Digest, "signers", strings.Join(sortedKeys(by), ","))
	}
}

// ResignRequest is one run of `sign-step resign`.
type ResignRequest struct {
	Repos        []string
	WarnWithin   time.Duration // warn when something expires sooner
	MinRemaining time.Duration // skip roles that still have this long
	Shard, Of    int           // this worker's share: Shard of Of (0 ≤ Shard < Of)
	DryRun       bool
}

// ResignResult is one repository's outcome.
type ResignResult struct {
	GUN       string   `json:"gun"`
	Witnessed []string `json:"witnessed"`
	Skipped   []string `json:"skipped,omitempty"` // still valid long enough
	// NeverSigned are roles our keys hold that were never signed into: no
	// metadata, so nothing to re-sign (and nothing that can expire).
	NeverSigned []string        `json:"neverSigned,omitempty"`
	Before      []core.RoleMeta `json:"before"`
	After       []core.RoleMeta `json:"after,omitempty"`
	Warnings    []string        `json:"warnings,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Shard reports whether gun belongs to worker shard of n: a stable hash, so
// the split does not depend on the order or length of the list.
func Shard(gun string, shard, n int) bool {
	if n <= 1 {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(gun))
	return int(h.Sum32()%uint32(n)) == shard
}

// Resign re-signs (witnesses) every role our keys hold in each repository,
// moving expiry forward without changing any target. Repositories are
// independent: one failing does not stop the others; the error says how
// many failed.
func (s *UseCases) Resign(ctx context.Context, req ResignRequest) ([]ResignResult, error) {
	guns, err := shardRepos("resign", req.Repos, req.Shard, req.Of)
	if err != nil {
		return nil, err
	}
	results, failed := eachRepo(ctx, s.concurrency(), guns, func(gun string) (ResignResult, bool) {
		r := s.resignOne(ctx, gun, req)
		return r, r.Error != ""
	})
	if err := ctx.Err(); err != nil {
		return results, err
	}
	if failed > 0 {
		return results, core.Classedf(core.ClassNotary, "%d of %d repositories could not be re-signed (see the report)", failed, len(guns))
	}
	return results, nil
}

// shardRepos checks repository references (verb takes no tag) and keeps
// this shard's, each once, sorted.
func shardRepos(verb string, repos []string, shard, of int) ([]string, error) {
	var guns []string
	seen := map[string]bool{}
	for _, raw := range repos {
		r, err := core.ParseRef(raw)
		if err != nil {
			return nil, err
		}
		if r.Tag != "" || r.Digest != "" {
			return nil, core.Classedf(core.ClassUsage, "%s takes repositories, not tags: %s", verb, raw)
		}
		if !seen[r.Name()] && Shard(r.Name(), shard, of) {
			seen[r.Name()] = true
			guns = append(guns, r.Name())
		}
	}
	sort.Strings(guns)
	return guns, nil
}

// eachRepo runs one on every repository, limit at a time; one failing
// does not stop the others. It returns the results in order, and how many
// failed.
func eachRepo[R any](ctx context.Context, limit int, guns []string, one func(gun string) (R, bool)) ([]R, int) {
	results := make([]R, len(guns))
	var mu sync.Mutex
	failed := 0
	_ = forEach(ctx, len(guns), limit, func(i int) error {
		r, bad := one(guns[i])
		results[i] = r
		if bad {
			mu.Lock()
			failed++
			mu.Unlock()
		}
		return nil
	})
	return results, failed
}

func (s *UseCases) resignOne(ctx context.Context, gun string, req ResignRequest) ResignResult {
	res := ResignResult{GUN: gun}
	fail := func(err error) ResignResult { res.Error = err.Error(); return res }
	repo, err := s.Trust.Open(ctx, gun)
	if err != nil {
		return fail(err)
	}
	if res.Before, err = repo.Metadata(); err != nil {
		return fail(err)
	}
	now := s.now()
	expires := map[string]time.Time{}
	for _, m := range res.Before {
		expires[m.Role] = m.Expires
	}
	roles, neverSigned := repo.Witnessable()
	res.NeverSigned = neverSigned
	if len(roles) == 0 && len(neverSigned) == 0 {
		return fail(core.Classedf(core.ClassSigner, "none of our keys can re-sign a role of %s", gun))
	}
	for _, role := range roles {
		if e, ok := expires[role]; ok && e.Sub(now) >= req.MinRemaining && req.MinRemaining > 0 {
			res.Skipped = append(res.Skipped, role)
			continue
		}
		res.Witnessed = append(res.Witnessed, role)
	}
	// No CheckPublish first: nothing happens before this publish, whose
	// refusal (nobody holds the snapshot key) Publish tells as it would.
	if len(res.Witnessed) > 0 && !req.DryRun { // a dry run stays read-only (see Sign)
		if err := repo.Publish(ctx, core.Changes{Witness: res.Witnessed}); err != nil {
			return fail(err)
		}
		if res.After, err = repo.Metadata(); err != nil {
			return fail(err)
		}
	}
	final := res.After
	if final == nil {
		final = res.Before
	}
	for _, m := range final {
		if req.WarnWithin > 0 && m.Role != "timestamp" && m.Expires.Sub(now) < req.WarnWithin {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s expires %s", gun, m.Role, m.Expires.Format(time.RFC3339)))
		}
	}
	s.log().Info("resigned", "gun", gun, "witnessed", strings.Join(res.Witnessed, ","), "skipped", strings.Join(res.Skipped, ","), "neverSigned", strings.Join(res.NeverSigned, ","))
	return res
}

// groupRefs parses refs (tags or, with allowRepo, whole repositories),
// groups them by repository and opens each.
func (s *UseCases) groupRefs(ctx context.Context, raw []string, allowRepo bool) ([]core.Ref, []*repoPlan, error) {
	refs, plans, err := group(raw, allowRepo)
	if err != nil {
		return nil, nil, err
	}
	return refs, plans, s.open(ctx, plans)
}

// group parses refs and groups them by repository, with no I/O.
func group(raw []string, allowRepo bool) ([]core.Ref, []*repoPlan, error) {
	if len(raw) == 0 {
		return nil, nil, core.Classedf(core.ClassUsage, "no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	refs := make([]core.Ref, len(raw))
	byGUN := map[string]*repoPlan{}
	var plans []*repoPlan
	for i, str := range raw {
		r, err := core.ParseRef(str)
		if err != nil {
			return nil, nil, err
		}
		if r.Digest != "" {
			return nil, nil, core.Classedf(core.ClassUsage, "%q: give REPOSITORY:TAG, not a digest", str)
		}
		if r.Tag == "" && !allowRepo {
			return nil, nil, core.Classedf(core.ClassUsage, "no tag specified for %s", r.Name())
		}
		refs[i] = r
		p, ok := byGUN[r.Name()]
		if !ok {
			p = &repoPlan{gun: r.Name()}
			byGUN[p.gun] = p
			plans = append(plans, p)
		}
		p.refs = append(p.refs, i)
	}
	return refs, plans, nil
}

// open opens each planned repository's trust data, side by side.
func (s *UseCases) open(ctx context.Context, plans []*repoPlan) error {
	return forEach(ctx, len(plans), s.concurrency(), func(i int) error {
		repo, err := s.Trust.Open(ctx, plans[i].gun)
		if err != nil {
			return fmt.Errorf("opening trust data for %s: %w", plans[i].gun, err)
		}
		plans[i].repo = repo
		return nil
	})
}

// repoCache opens each repository once per run.
type repoCache struct {
	mu    sync.Mutex
	repos map[string]*repoEntry
}

type repoEntry struct {
	once sync.Once
	repo TrustRepo
	err  error
}

func newRepoCache() *repoCache { return &repoCache{repos: map[string]*repoEntry{}} }

func (c *repoCache) open(ctx context.Context, t Trust, gun string) (TrustRepo, error) {
	c.mu.Lock()
	e, ok := c.repos[gun]
	if !ok {
		e = &repoEntry{}
		c.repos[gun] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.repo, e.err = t.Open(ctx, gun) })
	return e.repo, e.err
}
