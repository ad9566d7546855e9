package sign

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// TestSignUnchanged: a tag already signed at its digest in every role by our
// key is not published again unless Force; the others of the same run are.
func TestSignUnchanged(t *testing.T) {
	t.Parallel()
	d1 := core.Descriptor{Digest: digestOf(1), Size: 101}
	d2 := core.Descriptor{Digest: digestOf(2), Size: 102}
	tags := map[string]core.Descriptor{"r.io/a:1": d1, "r.io/a:2": d2, "r.io/b:1": d1}
	cases := []struct {
		name          string
		ours          map[string]map[string]core.Descriptor
		force, dryRun bool
		wantResults   []string
		wantPublishes map[string]int // GUN → tags published
		wantChanged   bool
	}{
		{name: "nothing signed yet", wantResults: []string{"signed", "signed", "signed"},
			wantPublishes: map[string]int{"r.io/a": 2, "r.io/b": 1}, wantChanged: true},
		{name: "all signed at their digests", ours: map[string]map[string]core.Descriptor{"r.io/a": {"1": d1, "2": d2}, "r.io/b": {"1": d1}},
			wantResults: []string{"unchanged", "unchanged", "unchanged"}, wantPublishes: map[string]int{}},
		{name: "force re-signs", ours: map[string]map[string]core.Descriptor{"r.io/a": {"1": d1, "2": d2}, "r.io/b": {"1": d1}}, force: true,
			wantResults: []string{"signed", "signed", "signed"}, wantPublishes: map[string]int{"r.io/a": 2, "r.io/b": 1}, wantChanged: true},
		{name: "one tag moved", ours: map[string]map[string]core.Descriptor{"r.io/a": {"1": d1, "2": d1}, "r.io/b": {"1": d1}},
			wantResults: []string{"unchanged", "signed", "unchanged"}, wantPublishes: map[string]int{"r.io/a": 1}, wantChanged: true},
		{name: "same digest, other size", ours: map[string]map[string]core.Descriptor{"r.io/a": {"1": {Digest: d1.Digest, Size: 7}, "2": d2}, "r.io/b": {"1": d1}},
			wantResults: []string{"signed", "unchanged", "unchanged"}, wantPublishes: map[string]int{"r.io/a": 1}, wantChanged: true},
		{name: "dry run", ours: map[string]map[string]core.Descriptor{"r.io/a": {"1": d1}}, dryRun: true,
			wantResults: []string{"unchanged", "would-sign", "would-sign"}, wantPublishes: map[string]int{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trust := &fakeTrust{ours: tc.ours}
			s := &UseCases{Registry: &fakeRegistry{tags: tags}, Trust: trust}
			rep, err := s.Sign(context.Background(), SignRequest{Refs: []string{"r.io/a:1", "r.io/a:2", "r.io/b:1"}, Force: tc.force, DryRun: tc.dryRun})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rep.Refs {
				if r.Result != tc.wantResults[i] {
					t.Errorf("%s: result %s, want %s", r.Ref, r.Result, tc.wantResults[i])
				}
			}
			if len(trust.published) != len(tc.wantPublishes) {
				t.Errorf("published %v, want %v", trust.published, tc.wantPublishes)
			}
			for gun, n := range tc.wantPublishes {
				if p := trust.published[gun]; len(p) != 1 || len(p[0]) != n {
					t.Errorf("%s: publishes %v, want one of %d tags", gun, p, n)
				}
			}
			if rep.Changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", rep.Changed, tc.wantChanged)
			}
			for _, repo := range rep.Repositories {
				if _, want := tc.wantPublishes[repo.GUN]; repo.Published != want {
					t.Errorf("%s: published = %v, want %v", repo.GUN, repo.Published, want)
				}
			}
		})
	}
}

// A re-run with nothing to publish asks nothing that needs push scope: the
// snapshot-key check (which makes notary-server create a key it lacks)
// runs only for repositories that will publish.
func TestUnchangedRunSkipsPublishChecks(t *testing.T) {
	t.Parallel()
	d1 := core.Descriptor{Digest: digestOf(1), Size: 101}
	trust := &fakeTrust{
		ours:          map[string]map[string]core.Descriptor{"r.io/a": {"1": d1}},
		unpublishable: map[string]error{"r.io/a": errors.New("must not be asked"), "r.io/b": core.Classedf(core.ClassKey, "no snapshot key")},
	}
	s := &UseCases{Registry: &fakeRegistry{tags: map[string]core.Descriptor{"r.io/a:1": d1, "r.io/b:1": d1}}, Trust: trust}
	if _, err := s.Sign(context.Background(), SignRequest{Refs: []string{"r.io/a:1"}}); err != nil {
		t.Fatalf("unchanged run: %v", err)
	}
	// A repository that must publish is still checked, before any publish.
	if _, err := s.Sign(context.Background(), SignRequest{Refs: []string{"r.io/a:1", "r.io/b:1"}}); err == nil || !strings.Contains(err.Error(), "no snapshot key") {
		t.Fatalf("run publishing r.io/b: %v, want the snapshot-key refusal", err)
	}
	if len(trust.published) != 0 {
		t.Errorf("published %v before every check passed", trust.published)
	}
}

// TestSnapshotCheckOnlyWhenSomethingToProtect: the snapshot-key check is
// asked only when something else would happen before a publish it stops (a
// push, other repositories' publishes); a lone publish is refused by the
// server instead, with nothing published either way.
func TestSnapshotCheckOnlyWhenSomethingToProtect(t *testing.T) {
	t.Parallel()
	d1 := core.Descriptor{Digest: digestOf(1), Size: 101}
	tags := map[string]core.Descriptor{"r.io/a:1": d1, "r.io/b:1": d1, "r.io/a:new": d1}
	for _, tc := range []struct {
		name        string
		refs        []string
		source      string
		refuse      string // GUN nobody can publish
		wantChecked map[string]int
	}{
		{name: "one repository", refs: []string{"r.io/a:1"}, wantChecked: map[string]int{}},
		{name: "one repository nobody can publish", refs: []string{"r.io/a:1"}, refuse: "r.io/a", wantChecked: map[string]int{}},
		{name: "two repositories", refs: []string{"r.io/a:1", "r.io/b:1"}, wantChecked: map[string]int{"r.io/a": 1, "r.io/b": 1}},
		{name: "two repositories, one nobody can publish", refs: []string{"r.io/a:1", "r.io/b:1"}, refuse: "r.io/b", wantChecked: map[string]int{"r.io/a": 1, "r.io/b": 1}},
		{name: "a push first", refs: []string{"r.io/a:new"}, source: "layout", wantChecked: map[string]int{"r.io/a": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			trust := &fakeTrust{unpublishable: map[string]error{}}
			if tc.refuse != "" {
				trust.unpublishable[tc.refuse] = core.Classedf(core.ClassKey, "no snapshot key")
			}
			s := &UseCases{Registry: &fakeRegistry{tags: tags}, Trust: trust}
			_, err := s.Sign(context.Background(), SignRequest{Refs: tc.refs, Source: tc.source})
			if tc.refuse != "" {
				if err == nil || !strings.Contains(err.Error(), "no snapshot key") || core.ClassOf(err) != core.ClassKey {
					t.Fatalf("err %v, want the snapshot-key refusal (class key)", err)
				}
				if len(tc.refs) > 1 && len(trust.published) != 0 {
					t.Errorf("published %v before every check passed", trust.published)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(trust.checked, tc.wantChecked) {
				t.Errorf("CheckPublish asked %v, want %v", trust.checked, tc.wantChecked)
			}
		})
	}
}
