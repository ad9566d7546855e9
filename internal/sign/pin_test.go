package sign

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// TestVerifyDigests: a digest reference passes only when trust data holds
// it, as a trusted pull of some tag (or of the named tag) would get it, and
// --signer applies to digests as to tags.
func TestVerifyDigests(t *testing.T) {
	t.Parallel()
	x, y, unsigned := digestOf(1), digestOf(2), digestOf(3)
	at := func(d string) core.Descriptor { return core.Descriptor{Digest: d, Size: 10} }
	trust := func() *fakeTrust {
		return &fakeTrust{
			released: map[string]map[string]core.Descriptor{"r.io/a": {"v1": at(x), "stable": at(x), "v2": at(y), "solo": at(unsigned)}},
			// ci signed v1 and v2, qa only stable (also at x); ops holds x for v2.
			signedBy: map[string]map[string]map[string]core.Descriptor{"r.io/a": {
				"v1": {"ci": at(x)}, "stable": {"qa": at(x)}, "v2": {"ci": at(y), "ops": at(x)}, "solo": {"solo": at(unsigned)}}},
			// solo is only in targets/solo: listed, but a trusted pull refuses it.
			otherRole: map[string]map[string]bool{"r.io/a": {"solo": true}},
		}
	}
	cases := []struct {
		name       string
		refs       []string
		signers    []string
		allow      bool
		wantClass  core.Class
		wantErr    string
		wantPinned string
		wantTags   []string
		resolves   bool // the registry is asked (docker's bypass only)
	}{
		{name: "digest some tag resolves to", refs: []string{"r.io/a@" + x}, wantPinned: "r.io/a@" + x, wantTags: []string{"stable", "v1"}},
		{name: "digest no tag resolves to", refs: []string{"r.io/a@" + digestOf(9)},
			wantClass: core.ClassVerify, wantErr: "No valid trust data for " + digestOf(9) + ": no tag of r.io/a signed in targets/releases or targets points to it"},
		{name: "digest only in another delegation", refs: []string{"r.io/a@" + unsigned},
			wantClass: core.ClassVerify, wantErr: "No valid trust data for " + unsigned},
		{name: "digest with a signer that signed it", refs: []string{"r.io/a@" + x}, signers: []string{"ci"}, wantPinned: "r.io/a@" + x, wantTags: []string{"stable", "v1"}},
		{name: "digest with two signers under different tags", refs: []string{"r.io/a@" + x}, signers: []string{"ci", "qa"}, wantPinned: "r.io/a@" + x, wantTags: []string{"stable", "v1"}},
		{name: "digest with a signer that did not sign it", refs: []string{"r.io/a@" + y}, signers: []string{"qa"},
			wantClass: core.ClassVerify, wantErr: "r.io/a@" + y + ": signer qa did not sign " + y},
		// ops recorded x for v2, but a trusted pull of v2 gets y: that is no signature of x.
		{name: "signer role at the digest under a tag that resolves elsewhere", refs: []string{"r.io/a@" + x}, signers: []string{"ops"},
			wantClass: core.ClassVerify, wantErr: "signer ops did not sign " + x},
		{name: "digest with an unknown signer", refs: []string{"r.io/a@" + x}, signers: []string{"ci", "bob"},
			wantClass: core.ClassVerify, wantErr: "signer bob did not sign " + x},
		{name: "tag at the digest", refs: []string{"r.io/a:v1@" + x}, wantPinned: "r.io/a@" + x},
		{name: "tag at another digest", refs: []string{"r.io/a:v2@" + x},
			wantClass: core.ClassVerify, wantErr: "r.io/a:v2@" + x + ": tag v2 is signed at " + y + ", not " + x},
		{name: "unsigned tag with a digest", refs: []string{"r.io/a:nope@" + x}, wantClass: core.ClassVerify, wantErr: "No valid trust data for nope"},
		{name: "tag only in another delegation with its digest", refs: []string{"r.io/a:solo@" + unsigned}, wantClass: core.ClassVerify, wantErr: "No trust data for solo"},
		{name: "tag and digest with a signer that signed it", refs: []string{"r.io/a:v1@" + x}, signers: []string{"ci"}, wantPinned: "r.io/a@" + x},
		{name: "tag and digest with a signer that did not sign the tag", refs: []string{"r.io/a:v1@" + x}, signers: []string{"qa"},
			wantClass: core.ClassVerify, wantErr: "signer qa did not sign " + x},
		{name: "one bad ref fails the run", refs: []string{"r.io/a:v1", "r.io/a@" + digestOf(9)}, wantClass: core.ClassVerify, wantErr: "No valid trust data for " + digestOf(9)},
		{name: "allow unsigned digests: docker's bypass", refs: []string{"r.io/a@" + digestOf(9)}, allow: true, wantPinned: "r.io/a@" + digestOf(9), resolves: true},
		{name: "allow unsigned digests ignores the tag", refs: []string{"r.io/a:v2@" + digestOf(9)}, allow: true, wantPinned: "r.io/a@" + digestOf(9), resolves: true},
		{name: "allow unsigned digests: not in the registry", refs: []string{"r.io/a@" + digestOf(8)}, allow: true, wantClass: core.ClassRegistry, wantErr: "not found", resolves: true},
		{name: "allow unsigned digests with a signer", refs: []string{"r.io/a@" + x}, allow: true, signers: []string{"ci"},
			wantClass: core.ClassUsage, wantErr: "--allow-unsigned-digests cannot be combined with --signer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The registry has every manifest but digestOf(8): what it holds is no signature.
			reg := &fakeRegistry{tags: map[string]core.Descriptor{}}
			for _, d := range []string{x, y, unsigned, digestOf(9)} {
				reg.tags["r.io/a@"+d] = at(d)
			}
			s := &UseCases{Registry: reg, Trust: trust(), Concurrency: 2}
			got, err := s.Verify(context.Background(), VerifyRequest{Refs: tc.refs, Signers: tc.signers, AllowUnsignedDigests: tc.allow})
			if (len(reg.resolved) > 0) != tc.resolves {
				t.Errorf("registry asked for %v; want asked: %v", reg.resolved, tc.resolves)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if c := core.ClassOf(err); c != tc.wantClass {
					t.Errorf("class = %d, want %d", c, tc.wantClass)
				}
				if len(got) > 0 && got[len(got)-1].Pinned != "" {
					t.Errorf("a refused ref is pinned (and would be printed): %+v", got[len(got)-1])
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v := got[len(got)-1]
			if v.Pinned != tc.wantPinned || !slices.Equal(v.Tags, tc.wantTags) || !slices.Equal(v.SignedBy, tc.signers) {
				t.Errorf("verified %+v, want pinned %s, tags %v, signed by %v", v, tc.wantPinned, tc.wantTags, tc.signers)
			}
			if v.Unsigned != tc.allow {
				t.Errorf("unsigned = %v with allow = %v", v.Unsigned, tc.allow)
			}
		})
	}
}

// TestSignPins: REPO:TAG@sha256: and ExpectDigest refuse, with nothing
// pushed or published, when the tag (or what --source would push) is not
// at the pinned digest.
func TestSignPins(t *testing.T) {
	t.Parallel()
	x, y := digestOf(1), digestOf(2)
	src := "sha256:" + strings.Repeat("cd", 32) // what the fake source is
	tags := map[string]core.Descriptor{"r.io/a:1": {Digest: x, Size: 1}, "r.io/a:2": {Digest: x, Size: 1}, "r.io/b:1": {Digest: y, Size: 2}}
	changed := core.Descriptor{Digest: digestOf(7), Size: 7}
	cases := []struct {
		name       string
		refs       []string
		expect     string
		source     string
		pushes     *core.Descriptor
		dryRun     bool
		wantClass  core.Class
		wantErr    string
		wantDigest string
		wantPushed int
	}{
		{name: "tag at its pin", refs: []string{"r.io/a:1@" + x}, wantDigest: x},
		{name: "tag not at its pin", refs: []string{"r.io/a:1@" + y}, wantClass: core.ClassRegistry,
			wantErr: "r.io/a:1: the tag in the registry is " + x + ", not the expected " + y + "; nothing signed"},
		{name: "dry run checks the pin", refs: []string{"r.io/a:1@" + y}, dryRun: true, wantClass: core.ClassRegistry, wantErr: "not the expected"},
		{name: "one ref off its pin publishes nothing", refs: []string{"r.io/a:1@" + x, "r.io/b:1@" + x}, wantClass: core.ClassRegistry, wantErr: "r.io/b:1: the tag in the registry is " + y},
		{name: "expect digest, every tag there", refs: []string{"r.io/a:1", "r.io/a:2"}, expect: x, wantDigest: x},
		{name: "expect digest, one tag elsewhere", refs: []string{"r.io/a:1", "r.io/b:1"}, expect: x, wantClass: core.ClassRegistry, wantErr: "r.io/b:1: the tag in the registry is " + y},
		{name: "expect digest agrees with the ref's pin", refs: []string{"r.io/a:1@" + x}, expect: x, wantDigest: x},
		{name: "expect digest contradicts the ref's pin", refs: []string{"r.io/a:1@" + y}, expect: x, wantClass: core.ClassUsage, wantErr: "is pinned to " + y + " but --expect-digest is " + x},
		{name: "expect digest malformed", refs: []string{"r.io/a:1"}, expect: "sha256:ABC", wantClass: core.ClassUsage, wantErr: `--expect-digest "sha256:ABC"`},
		{name: "digest without a tag", refs: []string{"r.io/a@" + x}, wantClass: core.ClassUsage, wantErr: "digest reference cannot be signed"},
		{name: "same tag twice with different pins", refs: []string{"r.io/a:1@" + x, "r.io/a:1@" + y}, wantClass: core.ClassUsage, wantErr: "given twice"},
		{name: "source is the expected image", refs: []string{"r.io/a:new", "r.io/b:new"}, source: "layout", expect: src, wantDigest: src, wantPushed: 2},
		{name: "source pinned per ref", refs: []string{"r.io/a:new@" + src}, source: "layout", wantDigest: src, wantPushed: 1},
		{name: "source is another image: nothing pushed", refs: []string{"r.io/a:new"}, source: "layout", expect: x, wantClass: core.ClassRegistry,
			wantErr: "r.io/a:new: the --source image is " + src + ", not the expected " + x + "; nothing pushed or signed"},
		{name: "source changed between read and push: nothing published", refs: []string{"r.io/a:new"}, source: "layout", expect: src, pushes: &changed,
			wantClass: core.ClassRegistry, wantErr: "the pushed image is " + changed.Digest + ", not the expected " + src, wantPushed: 1},
		{name: "source dry run checks the pin", refs: []string{"r.io/a:new"}, source: "layout", expect: x, dryRun: true, wantClass: core.ClassRegistry, wantErr: "nothing pushed or signed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := &fakeRegistry{tags: tags, pushes: tc.pushes}
			trust := &fakeTrust{}
			s := &UseCases{Registry: reg, Trust: trust, Concurrency: 2}
			rep, err := s.Sign(context.Background(), SignRequest{Refs: tc.refs, Source: tc.source, ExpectDigest: tc.expect, DryRun: tc.dryRun})
			if len(reg.pushed) != tc.wantPushed {
				t.Errorf("pushed %v, want %d refs", reg.pushed, tc.wantPushed)
			}
			for _, r := range reg.resolved {
				if strings.Contains(r, "@") {
					t.Errorf("resolved %s by digest: the tag is what gets signed", r)
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if c := core.ClassOf(err); c != tc.wantClass {
					t.Errorf("class = %d, want %d", c, tc.wantClass)
				}
				if len(trust.published) != 0 {
					t.Fatalf("refused run published %v", trust.published)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rep.Refs {
				if r.Descriptor.Digest != tc.wantDigest || strings.Contains(r.Ref, "@") {
					t.Errorf("%s signed at %s, want %s", r.Ref, r.Descriptor.Digest, tc.wantDigest)
				}
			}
			for gun, pubs := range trust.published {
				for _, target := range pubs[0] {
					if target.Descriptor.Digest != tc.wantDigest {
						t.Errorf("%s: published %s at %s, want %s", gun, target.Tag, target.Descriptor.Digest, tc.wantDigest)
					}
				}
			}
		})
	}
}

// AnySigner (a policy's anyOf) passes when one of the signers signed, in
// one look at the trust data, and names the ones that did.
func TestVerifyAnySigner(t *testing.T) {
	t.Parallel()
	x := digestOf(1)
	at := core.Descriptor{Digest: x, Size: 10}
	trust := &fakeTrust{
		released: map[string]map[string]core.Descriptor{"r.io/a": {"v1": at}},
		signedBy: map[string]map[string]map[string]core.Descriptor{"r.io/a": {"v1": {"ci": at}}},
	}
	s := &UseCases{Trust: trust}
	for _, c := range []struct {
		refs    []string
		signers []string
		any     bool
		wantErr string
		wantBy  []string
	}{
		{[]string{"r.io/a:v1"}, []string{"qa", "ci"}, true, "", []string{"ci"}},
		{[]string{"r.io/a@" + x}, []string{"qa", "ci"}, true, "", []string{"ci"}},
		{[]string{"r.io/a:v1"}, []string{"qa", "ops"}, true, "none of the signers qa,ops signed " + x, nil},
		{[]string{"r.io/a:v1"}, []string{"qa", "ci"}, false, "signer qa did not sign " + x, nil},
	} {
		v, err := s.Verify(context.Background(), VerifyRequest{Refs: c.refs, Signers: c.signers, AnySigner: c.any})
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || core.ClassOf(err) != core.ClassVerify {
				t.Errorf("%v %v any=%v: err %v, want %q (verify class)", c.refs, c.signers, c.any, err, c.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(v[0].SignedBy, c.wantBy) {
			t.Errorf("%v %v any=%v: %v, signed by %v; want %v", c.refs, c.signers, c.any, err, v, c.wantBy)
		}
	}
}
