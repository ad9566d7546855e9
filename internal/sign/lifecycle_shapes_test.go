package sign

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/inspect"
)

// shapeTrust is a table of repositories in the shapes real clients leave:
// tags only in a signer's role, roles never signed into, expired roles,
// snapshot keys nobody holds.
type shapeTrust struct {
	mu        sync.Mutex
	repos     map[string]*shapeRepo
	published map[string][]core.Changes
}

func (f *shapeTrust) Open(_ context.Context, gun string) (TrustRepo, error) {
	r, ok := f.repos[gun]
	if !ok {
		return nil, core.Classedf(core.ClassNotary, "remote trust data does not exist for %s", gun)
	}
	r.t = f
	return r, nil
}

type shapeRepo struct {
	t        *shapeTrust
	gun      string
	listed   map[string]core.Descriptor // every tag in releases, targets and child roles
	signer   map[string]string          // tag → the one signer role holding it, when not released
	stays    map[string]bool            // tags a publish does not remove (a role we cannot sign keeps them)
	roles    []string                   // what SignableRoles answers
	rolesErr error
	witness  []string
	never    []string
	meta     []core.RoleMeta
	checkErr error // CheckPublish
	pubErr   error // Publish
}

func (r *shapeRepo) SignableRoles(string) ([]string, []string, error) {
	if r.rolesErr != nil {
		return nil, nil, r.rolesErr
	}
	return r.roles, []string{"k1"}, nil
}
func (r *shapeRepo) Released(tag string) (core.Descriptor, bool, error) {
	d, ok := r.listed[tag]
	return d, ok && r.signer[tag] == "", nil
}
func (r *shapeRepo) Lookup(tag string) (core.Descriptor, error) {
	d, ok, _ := r.Released(tag)
	if !ok {
		return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: "No valid trust data for " + tag}
	}
	return d, nil
}
func (r *shapeRepo) SignedBy(tag string) (map[string]core.Descriptor, error) {
	if s := r.signer[tag]; s != "" {
		return map[string]core.Descriptor{s: r.listed[tag]}, nil
	}
	return map[string]core.Descriptor{}, nil
}
func (r *shapeRepo) Tags() []string                    { return sortedKeys(r.listed) }
func (r *shapeRepo) Witnessable() ([]string, []string) { return r.witness, r.never }
func (r *shapeRepo) CheckPublish() error               { return r.checkErr }
func (r *shapeRepo) Inspect(string, string) (inspect.Repository, error) {
	return inspect.Repository{}, nil
}
func (r *shapeRepo) Metadata() ([]core.RoleMeta, error) { return r.meta, nil }
func (r *shapeRepo) Publish(_ context.Context, c core.Changes) error {
	if r.pubErr != nil {
		return r.pubErr
	}
	if r.checkErr != nil {
		return r.checkErr // as the server refuses what CheckPublish would
	}
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if r.t.published == nil {
		r.t.published = map[string][]core.Changes{}
	}
	r.t.published[r.gun] = append(r.t.published[r.gun], c)
	for _, t := range c.Remove {
		if !r.stays[t.Tag] {
			delete(r.listed, t.Tag)
		}
	}
	return nil
}

func desc(i int) core.Descriptor { return core.Descriptor{Digest: digestOf(i), Size: int64(i)} }

// removedTags is what the publishes to gun removed, in order.
func (f *shapeTrust) removedTags(gun string) []string {
	var tags []string
	for _, c := range f.published[gun] {
		for _, t := range c.Remove {
			tags = append(tags, t.Tag)
		}
	}
	return tags
}

// TestRevokeAsDocker: revoke finds tags where `docker trust revoke` does
// (also in a signer's own role), revokes everything docker's revoke-all
// does, checks everything before the first publish, and after a failed
// publish still reports what was revoked.
func TestRevokeAsDocker(t *testing.T) {
	t.Parallel()
	// r.io/a: v1 released, solo only in targets/alice (a trusted pull refuses it).
	repoA := func() *shapeRepo {
		return &shapeRepo{gun: "r.io/a", listed: map[string]core.Descriptor{"v1": desc(1), "solo": desc(2)},
			signer: map[string]string{"solo": "alice"}, roles: []string{"targets/releases", "targets/alice"}}
	}
	repoB := func() *shapeRepo {
		return &shapeRepo{gun: "r.io/b", listed: map[string]core.Descriptor{"v1": desc(3)}, roles: []string{"targets/releases", "targets/ci"}}
	}
	cases := []struct {
		name        string
		refs        []string
		all         bool
		edit        func(a, b *shapeRepo)
		wantRevoked []string
		wantRemoved map[string][]string // GUN → tags removed
		wantClass   core.Class
		wantErr     string
		wantLog     string
	}{
		{name: "tag only in a signer's role", refs: []string{"r.io/a:solo"},
			wantRevoked: []string{"r.io/a:solo"}, wantRemoved: map[string][]string{"r.io/a": {"solo"}}},
		{name: "repository covers child-role tags", refs: []string{"r.io/a"}, all: true,
			wantRevoked: []string{"r.io/a:solo", "r.io/a:v1"}, wantRemoved: map[string][]string{"r.io/a": {"solo", "v1"}}},
		{name: "a tag and its repository revoke it once", refs: []string{"r.io/a:v1", "r.io/a"}, all: true,
			wantRevoked: []string{"r.io/a:v1", "r.io/a:solo"}, wantRemoved: map[string][]string{"r.io/a": {"v1", "solo"}}},
		{name: "repository without --yes", refs: []string{"r.io/a"}, wantClass: core.ClassUsage, wantErr: "pass --yes"},
		{name: "unknown tag", refs: []string{"r.io/b:v1", "r.io/a:nope"}, wantClass: core.ClassVerify, wantErr: "revoking r.io/a:nope: No valid trust data for nope"},
		{name: "repository without tags", refs: []string{"r.io/a"}, all: true, edit: func(a, _ *shapeRepo) { a.listed = map[string]core.Descriptor{} },
			wantClass: core.ClassVerify, wantErr: "no signed tags to remove in r.io/a"},
		{name: "expired role refused before any publish", refs: []string{"r.io/a:v1", "r.io/b:v1"},
			edit: func(_, b *shapeRepo) {
				b.rolesErr = core.Classedf(core.ClassNotary, "targets/releases of r.io/b expired: run sign-step resign")
			},
			wantClass: core.ClassNotary, wantErr: "revoking r.io/b:v1: targets/releases of r.io/b expired"},
		{name: "snapshot key held by nobody refused before any publish", refs: []string{"r.io/a:v1", "r.io/b:v1"},
			edit:      func(_, b *shapeRepo) { b.checkErr = core.Classedf(core.ClassKey, "pass the snapshot key with --key") },
			wantClass: core.ClassKey, wantErr: "snapshot key"},
		{name: "a failed publish reports what was revoked", refs: []string{"r.io/a:v1", "r.io/b:v1"},
			edit:        func(_, b *shapeRepo) { b.pubErr = core.Classedf(core.ClassNotary, "notary server rejected the update") },
			wantRevoked: []string{"r.io/a:v1"}, wantRemoved: map[string][]string{"r.io/a": {"v1"}},
			wantClass: core.ClassNotary, wantErr: "1 of 2 repositories were not revoked (the others were): publishing revocation for r.io/b"},
		{name: "a tag that stays signed is warned about", refs: []string{"r.io/a:v1"},
			edit:        func(a, _ *shapeRepo) { a.stays = map[string]bool{"v1": true} },
			wantRevoked: []string{"r.io/a:v1"}, wantRemoved: map[string][]string{"r.io/a": {"v1"}},
			wantLog: "revoked tag still resolves for a trusted pull"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := repoA(), repoB()
			if tc.edit != nil {
				tc.edit(a, b)
			}
			trust := &shapeTrust{repos: map[string]*shapeRepo{a.gun: a, b.gun: b}}
			var logs bytes.Buffer
			s := &UseCases{Trust: trust, Log: slog.New(slog.NewTextHandler(&logs, nil))}
			revoked, err := s.Revoke(context.Background(), RevokeRequest{Refs: tc.refs, All: tc.all})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if got := core.ClassOf(err); got != tc.wantClass {
					t.Errorf("class = %d, want %d", got, tc.wantClass)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(revoked, tc.wantRevoked) {
				t.Errorf("revoked %v, want %v", revoked, tc.wantRevoked)
			}
			for _, gun := range []string{"r.io/a", "r.io/b"} {
				if got := trust.removedTags(gun); !slices.Equal(got, tc.wantRemoved[gun]) {
					t.Errorf("%s: removed %v, want %v", gun, got, tc.wantRemoved[gun])
				}
			}
			for _, c := range trust.published["r.io/a"] {
				for _, tg := range c.Remove {
					if !slices.Equal(tg.Roles, a.roles) {
						t.Errorf("%s removed from %v, want every role we sign %v", tg.Tag, tg.Roles, a.roles)
					}
				}
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log does not warn %q:\n%s", tc.wantLog, logs.String())
			}
			if tc.wantLog == "" && strings.Contains(logs.String(), "still resolves") {
				t.Errorf("unexpected warning:\n%s", logs.String())
			}
		})
	}
}

// TestResignShapes: roles never signed into are reported, not witnessed;
// expired roles are witnessed whatever --min-remaining says; a repository
// whose snapshot key nobody holds fails alone, with nothing published.
func TestResignShapes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	far, past := now.Add(1000*24*time.Hour), now.Add(-time.Hour)
	cases := []struct {
		name          string
		repo          shapeRepo
		minRemaining  time.Duration
		dryRun        bool
		wantWitnessed []string
		wantNever     []string
		wantSkipped   []string
		wantErr       string // in the result and the run's error
	}{
		{name: "signer added, never signed", repo: shapeRepo{never: []string{"targets/ci", "targets/releases"}},
			wantNever: []string{"targets/ci", "targets/releases"}},
		{name: "one role signed, one never", repo: shapeRepo{witness: []string{"targets/releases"}, never: []string{"targets/bob"},
			meta: []core.RoleMeta{{Role: "targets/releases", Expires: far}}},
			wantWitnessed: []string{"targets/releases"}, wantNever: []string{"targets/bob"}},
		{name: "expired role is witnessed despite --min-remaining", minRemaining: 180 * 24 * time.Hour,
			repo: shapeRepo{witness: []string{"targets/ci", "targets/releases"},
				meta: []core.RoleMeta{{Role: "targets/ci", Expires: far}, {Role: "targets/releases", Expires: past}}},
			wantWitnessed: []string{"targets/releases"}, wantSkipped: []string{"targets/ci"}},
		{name: "no role of ours", repo: shapeRepo{}, wantErr: "none of our keys can re-sign a role of r.io/a"},
		{name: "snapshot key held by nobody", repo: shapeRepo{witness: []string{"targets/ci"}, checkErr: core.Classedf(core.ClassKey, "pass the snapshot key with --key")},
			wantWitnessed: []string{"targets/ci"}, wantErr: "pass the snapshot key with --key"},
		// A dry run does not ask the server (push scope, and it would create a key).
		{name: "snapshot key not asked in a dry run", dryRun: true, repo: shapeRepo{witness: []string{"targets/ci"}, checkErr: errors.New("must not be asked")},
			wantWitnessed: []string{"targets/ci"}},
		{name: "never signed needs no snapshot key", repo: shapeRepo{never: []string{"targets/ci"}, checkErr: errors.New("must not be asked")},
			wantNever: []string{"targets/ci"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := tc.repo
			repo.gun = "r.io/a"
			trust := &shapeTrust{repos: map[string]*shapeRepo{"r.io/a": &repo}}
			s := &UseCases{Trust: trust, Now: func() time.Time { return now }}
			res, err := s.Resign(context.Background(), ResignRequest{Repos: []string{"r.io/a"}, MinRemaining: tc.minRemaining, DryRun: tc.dryRun})
			if len(res) != 1 {
				t.Fatalf("%d results", len(res))
			}
			r := res[0]
			if tc.wantErr != "" {
				if !strings.Contains(r.Error, tc.wantErr) || err == nil {
					t.Errorf("result error %q, run error %v; want %q", r.Error, err, tc.wantErr)
				}
			} else if err != nil || r.Error != "" {
				t.Fatalf("run error %v, result error %q", err, r.Error)
			}
			if !slices.Equal(r.Witnessed, tc.wantWitnessed) || !slices.Equal(r.NeverSigned, tc.wantNever) || !slices.Equal(r.Skipped, tc.wantSkipped) {
				t.Errorf("witnessed %v, never signed %v, skipped %v; want %v, %v, %v", r.Witnessed, r.NeverSigned, r.Skipped, tc.wantWitnessed, tc.wantNever, tc.wantSkipped)
			}
			pubs := trust.published["r.io/a"]
			switch {
			case len(tc.wantWitnessed) == 0 || tc.wantErr != "" || tc.dryRun:
				if len(pubs) != 0 {
					t.Errorf("published %+v, want nothing", pubs)
				}
			case len(pubs) != 1 || !slices.Equal(pubs[0].Witness, tc.wantWitnessed):
				t.Errorf("published %+v, want one witness of %v", pubs, tc.wantWitnessed)
			}
		})
	}
}

// SignedAt: these shapes test revoke and resign, which never skip a publish.
func (r *shapeRepo) SignedAt(string, core.Descriptor, []string) (bool, error) { return false, nil }
