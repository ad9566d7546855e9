package sign

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/inspect"
)

// fakeRegistry answers from a map of ref → descriptor and records pushes.
type fakeRegistry struct {
	mu       sync.Mutex
	tags     map[string]core.Descriptor
	pushed   []string
	resolved []string         // refs asked for
	pushes   *core.Descriptor // what Push pushed, when not what Describe read (a source that changed)
}

func (f *fakeRegistry) Resolve(_ context.Context, ref core.Ref) (core.Descriptor, error) {
	f.mu.Lock()
	f.resolved = append(f.resolved, ref.String())
	f.mu.Unlock()
	key := ref.String()
	if ref.Digest != "" {
		key = ref.Name() + "@" + ref.Digest // a digest names the manifest, as in the registry adapter
	}
	d, ok := f.tags[key]
	if !ok {
		return core.Descriptor{}, core.Classedf(core.ClassRegistry, "tag %q not found in %s", ref.Tag, ref.Name())
	}
	return d, nil
}

func (f *fakeRegistry) Describe(_ context.Context, source string) (core.Descriptor, error) {
	return core.Descriptor{Digest: "sha256:" + strings.Repeat("cd", 32), Size: 99, MediaType: "application/vnd.oci.image.index.v1+json"}, nil
}

func (f *fakeRegistry) Push(_ context.Context, source string, refs []core.Ref) (core.Descriptor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range refs {
		f.pushed = append(f.pushed, r.String())
	}
	if f.pushes != nil {
		return *f.pushes, nil
	}
	return core.Descriptor{Digest: "sha256:" + strings.Repeat("cd", 32), Size: 99, MediaType: "application/vnd.oci.image.index.v1+json"}, nil
}

// fakeTrust records publishes per GUN; roles says which tags our key can sign.
type fakeTrust struct {
	mu        sync.Mutex
	published map[string][][]core.Target
	noRole    map[string]bool // GUN → key signs nothing
	missing   map[string]bool // GUN → not initialized
	// trust data: GUN → tag → where a trusted pull resolves it, and GUN →
	// tag → signer → what that signer's role holds. A tag listed in
	// otherRole is listed but docker's pull refuses it (another delegation).
	released  map[string]map[string]core.Descriptor
	signedBy  map[string]map[string]map[string]core.Descriptor
	otherRole map[string]map[string]bool
	// unpublishable: GUN → why a publish cannot be completed (CheckPublish)
	unpublishable map[string]error
	checked       map[string]int // CheckPublish calls per GUN
	// ours: GUN → tag → what every role we sign holds, signed by our key.
	ours map[string]map[string]core.Descriptor
}

func (f *fakeTrust) Open(_ context.Context, gun string) (TrustRepo, error) {
	if f.missing[gun] {
		return nil, core.Classedf(core.ClassNotary, "remote trust data does not exist for %s", gun)
	}
	return &fakeRepo{t: f, gun: gun}, nil
}

type fakeRepo struct {
	t   *fakeTrust
	gun string
}

func (r *fakeRepo) SignableRoles(string) ([]string, []string, error) {
	if r.t.noRole[r.gun] {
		return nil, nil, core.Classed(core.ClassSigner, &core.NoSignableRoleError{GUN: r.gun, KeyIDs: []string{"k1"}, Signers: map[string][]string{"alice": {"a1"}}})
	}
	return []string{"targets/releases", "targets/ci"}, []string{"k1"}, nil
}
func (r *fakeRepo) Released(tag string) (core.Descriptor, bool, error) {
	d, ok := r.t.released[r.gun][tag]
	return d, ok && !r.t.otherRole[r.gun][tag], nil
}
func (r *fakeRepo) SignedAt(tag string, d core.Descriptor, _ []string) (bool, error) {
	got, ok := r.t.ours[r.gun][tag]
	return ok && got == d, nil
}
func (r *fakeRepo) Lookup(tag string) (core.Descriptor, error) {
	d, ok := r.t.released[r.gun][tag]
	switch {
	case ok && r.t.otherRole[r.gun][tag]:
		return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: "No trust data for " + tag}
	case !ok:
		return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: "No valid trust data for " + tag}
	}
	return d, nil
}
func (r *fakeRepo) SignedBy(tag string) (map[string]core.Descriptor, error) {
	return r.t.signedBy[r.gun][tag], nil
}
func (r *fakeRepo) Tags() []string                    { return sortedKeys(r.t.released[r.gun]) }
func (r *fakeRepo) Witnessable() ([]string, []string) { return nil, nil }
func (r *fakeRepo) CheckPublish() error {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if r.t.checked == nil {
		r.t.checked = map[string]int{}
	}
	r.t.checked[r.gun]++
	return r.t.unpublishable[r.gun]
}
func (r *fakeRepo) Publish(_ context.Context, c core.Changes) error {
	ts := c.Add
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if err := r.t.unpublishable[r.gun]; err != nil {
		return err // the server refuses what CheckPublish would
	}
	if r.t.published == nil {
		r.t.published = map[string][][]core.Target{}
	}
	r.t.published[r.gun] = append(r.t.published[r.gun], ts)
	return nil
}
func (r *fakeRepo) Inspect(name, tag string) (inspect.Repository, error) {
	return inspect.Repository{Name: name}, nil
}
func (r *fakeRepo) Metadata() ([]core.RoleMeta, error) { return nil, nil }

func digestOf(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func TestSign(t *testing.T) {
	t.Parallel()
	tags := map[string]core.Descriptor{}
	for i, ref := range []string{"r.io/a:1", "r.io/a:2", "r.io/a:3", "r.io/b:1"} {
		tags[ref] = core.Descriptor{Digest: digestOf(i), Size: int64(100 + i)}
	}
	cases := []struct {
		name          string
		refs          []string
		source        string
		dryRun        bool
		noRole        string
		missing       string
		noSnapshotKey string // GUN whose snapshot key nobody holds
		wantClass     core.Class
		wantErr       string
		wantPublishes map[string]int // GUN → tags in its single publish
		wantPushed    int
	}{
		{name: "one publish per repository", refs: []string{"r.io/a:1", "r.io/b:1", "r.io/a:2", "r.io/a:3"},
			wantPublishes: map[string]int{"r.io/a": 3, "r.io/b": 1}},
		{name: "missing tag publishes nothing", refs: []string{"r.io/a:1", "r.io/b:nope"},
			wantClass: core.ClassRegistry, wantErr: `tag "nope" not found`},
		{name: "key without role publishes and pushes nothing", refs: []string{"r.io/a:1", "r.io/b:1"}, source: "layout", noRole: "r.io/b",
			wantClass: core.ClassSigner, wantErr: "signers are alice (a1)"},
		{name: "snapshot key held by nobody pushes and publishes nothing", refs: []string{"r.io/a:1", "r.io/b:1"}, source: "layout", noSnapshotKey: "r.io/b",
			wantClass: core.ClassKey, wantErr: "notary key rotate r.io/b snapshot -r"},
		{name: "uninitialized repository", refs: []string{"r.io/a:1", "r.io/b:1"}, missing: "r.io/b",
			wantClass: core.ClassNotary, wantErr: "does not exist"},
		// Tags resolve while the trust data opens: its errors still win.
		{name: "uninitialized repository before a missing tag", refs: []string{"r.io/a:1", "r.io/b:nope"}, missing: "r.io/b",
			wantClass: core.ClassNotary, wantErr: "does not exist"},
		{name: "key without role before a missing tag", refs: []string{"r.io/a:nope", "r.io/b:1"}, noRole: "r.io/b",
			wantClass: core.ClassSigner, wantErr: "signers are alice (a1)"},
		{name: "digest reference", refs: []string{"r.io/a@" + digestOf(1)}, wantClass: core.ClassUsage, wantErr: "digest reference cannot be signed"},
		{name: "no tag", refs: []string{"r.io/a"}, wantClass: core.ClassUsage, wantErr: "no tag specified for r.io/a"},
		{name: "duplicate", refs: []string{"r.io/a:1", "r.io/a:1"}, wantClass: core.ClassUsage, wantErr: "given twice"},
		{name: "bad reference", refs: []string{"r.io/a:1", "R.io/A"}, wantClass: core.ClassUsage, wantErr: "lowercase"},
		{name: "no refs", wantClass: core.ClassUsage, wantErr: "no image reference"},
		{name: "dry run publishes nothing", refs: []string{"r.io/a:1"}, dryRun: true, wantPublishes: map[string]int{}},
		{name: "dry run with a source pushes nothing", refs: []string{"r.io/a:new"}, source: "layout", dryRun: true, wantPublishes: map[string]int{}},
		{name: "source is pushed to every ref", refs: []string{"r.io/a:new", "r.io/b:new"}, source: "layout",
			wantPushed: 2, wantPublishes: map[string]int{"r.io/a": 1, "r.io/b": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := &fakeRegistry{tags: tags}
			trust := &fakeTrust{noRole: map[string]bool{tc.noRole: true}, missing: map[string]bool{tc.missing: true},
				unpublishable: map[string]error{tc.noSnapshotKey: core.Classedf(core.ClassKey, "no snapshot key: pass it with --key, or `notary key rotate %s snapshot -r`", tc.noSnapshotKey)}}
			s := &UseCases{Registry: reg, Trust: trust, Concurrency: 2}
			rep, err := s.Sign(context.Background(), SignRequest{Refs: tc.refs, Source: tc.source, DryRun: tc.dryRun})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if got := core.ClassOf(err); got != tc.wantClass {
					t.Errorf("class = %d, want %d", got, tc.wantClass)
				}
				if len(trust.published) != 0 || len(reg.pushed) != 0 {
					t.Fatalf("failed run changed something: published %v, pushed %v", trust.published, reg.pushed)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(reg.pushed) != tc.wantPushed {
				t.Errorf("pushed %v, want %d refs", reg.pushed, tc.wantPushed)
			}
			if len(trust.published) != len(tc.wantPublishes) {
				t.Fatalf("published to %d repositories, want %d", len(trust.published), len(tc.wantPublishes))
			}
			for gun, n := range tc.wantPublishes {
				pubs := trust.published[gun]
				if len(pubs) != 1 || len(pubs[0]) != n {
					t.Errorf("%s: publishes %v, want one with %d targets", gun, pubs, n)
				}
			}
			for _, r := range rep.Refs {
				want, ok := tags[r.Ref]
				if tc.source != "" {
					want, ok = core.Descriptor{Digest: "sha256:" + strings.Repeat("cd", 32), Size: 99, MediaType: "application/vnd.oci.image.index.v1+json"}, true
				}
				if !ok || r.Descriptor != want {
					t.Errorf("%s: target %+v, want %+v", r.Ref, r.Descriptor, want)
				}
				if tc.dryRun != (r.Result == "would-sign") {
					t.Errorf("%s: result %q with dryRun=%v", r.Ref, r.Result, tc.dryRun)
				}
			}
			if rep.Changed == tc.dryRun {
				t.Errorf("Changed = %v with dryRun=%v", rep.Changed, tc.dryRun)
			}
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := core.Secret("hunter2-very-secret")
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), fmt.Sprint(struct{ S core.Secret }{s})} {
		if strings.Contains(got, "hunter2") {
			t.Fatalf("secret printed: %s", got)
		}
	}
	b, err := json.Marshal(struct{ S core.Secret }{s})
	if err != nil || strings.Contains(string(b), "hunter2") {
		t.Fatalf("secret in JSON: %s (%v)", b, err)
	}
}

func TestClassOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want core.Class
	}{
		{nil, 0},
		{errors.New("x"), core.ClassInternal},
		{fmt.Errorf("wrapping: %w", core.Classedf(core.ClassKey, "bad key")), core.ClassKey},
		{core.Classed(core.ClassRegistry, core.Classedf(core.ClassKey, "inner wins")), core.ClassKey},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), core.ClassTimeout},
		{core.TLSError(errors.New("x509: certificate signed by unknown authority")), core.ClassTLS},
		{fmt.Errorf("get: %w", x509.UnknownAuthorityError{}), core.ClassTLS},
		{fmt.Errorf("get: %w", x509.HostnameError{Host: "h"}), core.ClassTLS},
		{&core.RefError{Ref: "x"}, core.ClassUsage},
	}
	for _, tc := range cases {
		if got := core.ClassOf(tc.err); got != tc.want {
			t.Errorf("ClassOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
