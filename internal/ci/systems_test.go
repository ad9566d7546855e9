package ci

import (
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/sign"
)

func TestSystemsResult(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("ab", 32)
	pass := sign.SystemResult{Ref: "r.example/a:v1", Digest: d, Passed: true, Systems: map[string]string{"dct": "pass", "cosign": "pass"}}
	cases := []struct {
		name       string
		results    []sign.SystemResult
		wantRefs   string
		wantDigest string
		wantInSum  string
	}{
		{name: "all pass", results: []sign.SystemResult{pass}, wantRefs: "r.example/a:v1@" + d, wantDigest: d, wantInSum: "1 of 1"},
		{name: "one fails: no digest", results: []sign.SystemResult{pass, {Ref: "r.example/b:v1", Systems: map[string]string{"dct": "fail: unsigned"}}},
			wantRefs: "r.example/a:v1@" + d, wantInSum: "❌ not verified"},
		{name: "audit failure is not verified either", results: []sign.SystemResult{pass, {Ref: "r.example/b:v1", Level: sign.LevelAudit, Systems: map[string]string{"cosign": "fail: none"}}},
			wantRefs: "r.example/a:v1@" + d, wantInSum: "⚠️ audit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := SystemsResult(tc.results, "/out", Files{Report: "out/verify.json", Dotenv: "out/verify.env"})
			got := map[string]string{}
			for _, o := range res.Outputs {
				got[o.Name] = o.Value
			}
			if got["verified-refs"] != tc.wantRefs || got["digest"] != tc.wantDigest || got["report"] != "out/verify.json" {
				t.Errorf("outputs %v", got)
			}
			if !strings.Contains(res.Summary, tc.wantInSum) {
				t.Errorf("summary %q lacks %q", res.Summary, tc.wantInSum)
			}
		})
	}
}
