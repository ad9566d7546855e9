package sign

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// fakeVerifier passes the digests in ok.
type fakeVerifier struct{ ok map[string]bool }

func (f fakeVerifier) Verify(_ context.Context, img core.Ref) error {
	if f.ok[img.Digest] {
		return nil
	}
	return errors.New("no signature\nby any key") // two lines: results keep one
}

func TestVerifySystems(t *testing.T) {
	t.Parallel()
	good, bad := "sha256:"+strings.Repeat("aa", 32), "sha256:"+strings.Repeat("bb", 32)
	reg := &fakeRegistry{tags: map[string]core.Descriptor{
		"r.example/a:v1": {Digest: good}, "r.example/b:v1": {Digest: bad},
	}}
	cosign := fakeVerifier{ok: map[string]bool{good: true}}
	rule := func(level string) *SystemRule {
		return &SystemRule{Name: "p", Level: level, Systems: []string{SystemCosign}, Verifiers: map[string]ImageVerifier{SystemCosign: cosign}, Cases: &UseCases{Registry: reg}}
	}
	cases := []struct {
		name       string
		refs       []string
		level      string
		noRuleFor  string // repository no rule covers
		wantErr    string
		wantPassed []bool
	}{
		{name: "passes at the registry's digest", refs: []string{"r.example/a:v1"}, wantPassed: []bool{true}},
		{name: "enforce failure fails the run after every ref", refs: []string{"r.example/b:v1", "r.example/a:v1"},
			wantErr: "r.example/b:v1: cosign no signature by any key", wantPassed: []bool{false, true}},
		{name: "audit failure is reported, not failed", refs: []string{"r.example/b:v1"}, level: LevelAudit, wantPassed: []bool{false}},
		{name: "no rule: fails with the reason", refs: []string{"r.example/a:v1"}, noRuleFor: "r.example/a",
			wantErr: "r.example/a:v1: no policy applies", wantPassed: []bool{false}},
		{name: "unknown tag fails the system", refs: []string{"r.example/c:v1"}, wantErr: "cosign tag", wantPassed: []bool{false}},
		{name: "no refs", wantErr: "no image reference given"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := SystemsRequest{Refs: tc.refs, RuleFor: func(ref core.Ref) (*SystemRule, string, error) {
				if ref.Name() == tc.noRuleFor {
					return nil, "no policy applies", nil
				}
				return rule(tc.level), "", nil
			}}
			res, err := (&UseCases{}).VerifySystems(context.Background(), req)
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if err != nil && len(tc.refs) > 0 && core.ClassOf(err) != core.ClassVerify {
				t.Errorf("class %v", core.ClassOf(err))
			}
			if len(res) != len(tc.wantPassed) {
				t.Fatalf("results %+v", res)
			}
			for i, r := range res {
				if r.Passed != tc.wantPassed[i] || (r.Passed && r.Pinned != "r.example/a@"+good) {
					t.Errorf("result %d: %+v", i, r)
				}
			}
		})
	}
}
