package sign

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// fakeSystem is a signature system that remembers what it signed.
type fakeSystem struct {
	mu     sync.Mutex
	signed map[string]bool
	adds   []string
}

func (f *fakeSystem) Name() string { return "cosign" }
func (f *fakeSystem) Present(_ context.Context, img core.Ref) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.signed[img.String()], nil
}
func (f *fakeSystem) Add(_ context.Context, img core.Ref) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signed == nil {
		f.signed = map[string]bool{}
	}
	f.signed[img.String()] = true
	f.adds = append(f.adds, img.String())
	return nil
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	const gun, other = "reg.example/team/app", "reg.example/team/tampered"
	d1, d2, unsigned := digestOf(1), digestOf(2), digestOf(3)
	newTrust := func() *fakeTrust {
		return &fakeTrust{
			missing: map[string]bool{other: true},
			released: map[string]map[string]core.Descriptor{gun: {
				"v1": {Digest: d1, Size: 10}, "latest": {Digest: d1, Size: 10}, "v2": {Digest: d2, Size: 11}, "foreign": {Digest: unsigned, Size: 12},
			}},
			otherRole: map[string]map[string]bool{gun: {"foreign": true}},
			signedBy:  map[string]map[string]map[string]core.Descriptor{gun: {"v1": {"ci": {Digest: d1}, "old": {Digest: d2}}}},
		}
	}
	reg := &fakeRegistry{tags: map[string]core.Descriptor{gun + "@" + d1: {Digest: d1}, gun + "@" + d2: {Digest: d2}, gun + "@" + unsigned: {Digest: unsigned}}}
	cases := []struct {
		name      string
		dryRun    bool
		presigned []string
		wantAdds  []string
		wantV1    string
	}{
		{"first run signs each vouched digest once", false, nil, []string{gun + "@" + d1, gun + "@" + d2}, StatusAdded},
		{"already signed digests are left alone", false, []string{gun + "@" + d1}, []string{gun + "@" + d2}, StatusPresent},
		{"dry run adds nothing", true, nil, nil, StatusMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			sys := &fakeSystem{signed: map[string]bool{}}
			for _, p := range c.presigned {
				sys.signed[p] = true
			}
			s := &UseCases{Registry: reg, Trust: newTrust()}
			res, err := s.Migrate(context.Background(), MigrateRequest{Repos: []string{gun, other}, Of: 1, DryRun: c.dryRun}, []System{sys})
			if err == nil {
				t.Fatal("Migrate: no error for the repository whose trust data cannot be opened")
			}
			if len(res) != 2 || res[0].GUN != gun || res[0].Error != "" || res[1].Error == "" || len(res[1].Tags) != 0 {
				t.Fatalf("results: %+v", res)
			}
			if !reflect.DeepEqual(sys.adds, c.wantAdds) {
				t.Fatalf("signed %v, want %v (never the digest only another delegation vouches for)", sys.adds, c.wantAdds)
			}
			byTag := map[string]MigrateTag{}
			for _, tg := range res[0].Tags {
				byTag[tg.Tag] = tg
			}
			if v1 := byTag["v1"]; v1.Digest != d1 || v1.Systems["cosign"] != c.wantV1 || !reflect.DeepEqual(v1.Signers, []string{"ci"}) {
				t.Fatalf("v1: %+v", v1)
			}
			if f := byTag["foreign"]; f.Skipped == "" || f.Systems != nil {
				t.Fatalf("foreign: %+v, want skipped", f)
			}
			// A second run changes nothing.
			sys.adds = nil
			if _, err := s.Migrate(context.Background(), MigrateRequest{Repos: []string{gun}, Of: 1, DryRun: c.dryRun}, []System{sys}); err != nil {
				t.Fatal(err)
			}
			if !c.dryRun && len(sys.adds) != 0 {
				t.Fatalf("second run signed %v", sys.adds)
			}
		})
	}
}

func TestMigrateRefusesDigestTheRegistryDoesNotServe(t *testing.T) {
	t.Parallel()
	const gun = "reg.example/team/gone"
	trust := &fakeTrust{released: map[string]map[string]core.Descriptor{gun: {"v1": {Digest: digestOf(7)}}}}
	sys := &fakeSystem{}
	s := &UseCases{Registry: &fakeRegistry{tags: map[string]core.Descriptor{}}, Trust: trust}
	res, err := s.Migrate(context.Background(), MigrateRequest{Repos: []string{gun}, Of: 1}, []System{sys})
	if err == nil || len(sys.adds) != 0 || res[0].Tags[0].Error == "" {
		t.Fatalf("err %v, adds %v, res %+v", err, sys.adds, res)
	}
}
