package ci

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

func names(outs []Output) []string {
	var n []string
	for _, o := range outs {
		n = append(n, o.Name)
	}
	return n
}

func TestVerifyResult(t *testing.T) {
	t.Parallel()
	files := Files{Report: "sign-step/verify.json", Dotenv: "sign-step/verify.env"}
	ok := func(ref, digest string) sign.Verified {
		r, _ := core.ParseRef(ref)
		return sign.Verified{Ref: ref, Pinned: r.Name() + "@" + digest, Descriptor: core.Descriptor{Digest: digest}}
	}
	cases := []struct {
		name       string
		refs       []sign.Verified
		wantRefs   string
		wantDigest string
		wantRow    string
	}{
		{"one digest", []sign.Verified{ok("r.io/app:1", dA), ok("r.io/app:latest", dA)}, "r.io/app:1@" + dA + "\nr.io/app:latest@" + dA, dA, "| `r.io/app:1` | `" + dA[:19] + "` |  | ✅ verified |"},
		{"two digests", []sign.Verified{ok("r.io/app:1", dA), ok("r.io/app:2", dB)}, "r.io/app:1@" + dA + "\nr.io/app:2@" + dB, "", "| `r.io/app:2` | `" + dB[:19] + "` |  | ✅ verified |"},
		{"a digest ref", []sign.Verified{ok("r.io/app@"+dA, dA)}, "r.io/app@" + dA, dA, "✅ verified"},
		{"one failed", []sign.Verified{ok("r.io/app:1", dA), {Ref: "r.io/app:2"}}, "r.io/app:1@" + dA, "", "| `r.io/app:2` | `` |  | ❌ not verified |"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := VerifyResult(sign.VerifyReport{Command: "verify", Refs: tc.refs}, "dir", files)
			if strings.Join(names(res.Outputs), " ") != strings.Join(VerifyOutputNames, " ") {
				t.Errorf("outputs %v, want %v", names(res.Outputs), VerifyOutputNames)
			}
			got := outputMap(res.Outputs)
			if got["verified-refs"] != tc.wantRefs || got["digest"] != tc.wantDigest || got["report"] != files.Report {
				t.Errorf("outputs %v, want verified-refs %q digest %q", got, tc.wantRefs, tc.wantDigest)
			}
			if !strings.Contains(res.Summary, tc.wantRow) {
				t.Errorf("summary lacks %q:\n%s", tc.wantRow, res.Summary)
			}
		})
	}
}

func TestResignResult(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	meta := func(role string, days int) core.RoleMeta {
		return core.RoleMeta{Role: role, Version: 2, Expires: now.Add(time.Duration(days) * 24 * time.Hour)}
	}
	results := []sign.ResignResult{
		{GUN: "r.io/a", Witnessed: []string{"targets/ci"}, After: []core.RoleMeta{meta("targets/ci", 1095), meta("root", 10), meta("timestamp", 1)}},
		{GUN: "r.io/b", Skipped: []string{"targets/ci"}, Before: []core.RoleMeta{meta("targets/ci", 200), meta("snapshot", -1)}},
		{GUN: "r.io/c", Error: "none of our keys can re-sign a role of r.io/c"},
	}
	cases := []struct {
		name         string
		dryRun       bool
		wantResigned string
		wantChanged  string
		wantAnn      []string // level: message prefix
		wantRow      string
	}{
		{"run", false, "r.io/a", "true", []string{
			"warning: r.io/a: root metadata expires on 2026-12-11 (in 10 days)",
			"error: r.io/b: snapshot metadata expired on 2026-11-30",
			"error: none of our keys can re-sign a role of r.io/c",
		}, "| `r.io/a` | targets/ci |  | root 2026-12-11 (**in 10 days**) | ✅ re-signed |"},
		{"dry run", true, "r.io/a", "false", nil, "| `r.io/a` | targets/ci |  | root 2026-12-11 (**in 10 days**) | would re-sign |"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := sign.NewResignReport(results, tc.dryRun)
			res := ResignResult(rep, "dir", Files{Report: "sign-step/report.json"}, now, 30*24*time.Hour)
			if strings.Join(names(res.Outputs), " ") != strings.Join(ResignOutputNames, " ") {
				t.Errorf("outputs %v, want %v", names(res.Outputs), ResignOutputNames)
			}
			got := outputMap(res.Outputs)
			if got["resigned"] != tc.wantResigned || got["changed"] != tc.wantChanged || got["dry-run"] != fmt.Sprint(tc.dryRun) {
				t.Errorf("outputs %v", got)
			}
			var ann []string
			for _, a := range res.Annotations {
				ann = append(ann, a.Level+": "+a.Message)
			}
			for _, w := range tc.wantAnn {
				found := false
				for _, a := range ann {
					found = found || strings.HasPrefix(a, w)
				}
				if !found {
					t.Errorf("annotations lack %q: %q", w, ann)
				}
			}
			for _, a := range ann {
				if strings.Contains(a, "timestamp") || strings.Contains(a, "targets/ci") {
					t.Errorf("annotation %q: timestamp and roles far from expiry are not warned about", a)
				}
			}
			if !strings.Contains(res.Summary, tc.wantRow) || !strings.Contains(res.Summary, "❌ failed: none of our keys") {
				t.Errorf("summary lacks %q or the failure:\n%s", tc.wantRow, res.Summary)
			}
		})
	}
}

func TestRevokeResult(t *testing.T) {
	t.Parallel()
	res := RevokeResult(sign.NewRevokeReport([]string{"r.io/a:1", "r.io/a:2"}), "dir", Files{Report: "sign-step/report.json", Dotenv: "sign-step/revoke.env"})
	got := outputMap(res.Outputs)
	if got["revoked-refs"] != "r.io/a:1\nr.io/a:2" || got["changed"] != "true" || got["dotenv"] != "sign-step/revoke.env" {
		t.Errorf("outputs %v", got)
	}
	env := Dotenv(res.Outputs)
	if !bytes.Contains(env, []byte("SIGN_STEP_OUT_REVOKED_REFS=r.io/a:1,r.io/a:2\n")) || bytes.Contains(env, []byte("DOTENV")) {
		t.Errorf("revoke.env:\n%s", env)
	}
}

// TestDotenvTruncatesEveryRefList: over GitLab's limit, each command's ref
// list is left empty, the other values kept.
func TestDotenvTruncatesEveryRefList(t *testing.T) {
	t.Parallel()
	var many []string
	for i := range 200 {
		many = append(many, fmt.Sprintf("registry.example.com/team/app:tag-%03d", i))
	}
	for _, res := range []Result{
		RevokeResult(sign.NewRevokeReport(many), "", Files{Report: "r.json"}),
		ResignResult(sign.NewResignReport(func() []sign.ResignResult {
			var rs []sign.ResignResult
			for _, m := range many {
				rs = append(rs, sign.ResignResult{GUN: m, Witnessed: []string{"targets/ci"}})
			}
			return rs
		}(), false), "", Files{Report: "r.json"}, time.Now(), 0),
		MigrateResult(func() []sign.MigrateResult {
			var tags []sign.MigrateTag
			for i := range many {
				tags = append(tags, sign.MigrateTag{Tag: fmt.Sprintf("t%03d", i), Digest: fmt.Sprintf("sha256:%064x", i), Systems: map[string]string{sign.SystemCosign: sign.StatusAdded}})
			}
			return []sign.MigrateResult{{GUN: "registry.example.com/team/app", Tags: tags}}
		}(), []string{sign.SystemCosign}, false, "", Files{Report: "r.json"}),
	} {
		b := Dotenv(res.Outputs)
		if len(b) > dotenvLimit+64 || !bytes.Contains(b, []byte("SIGN_STEP_OUT_TRUNCATED=true\n")) || !bytes.Contains(b, []byte("SIGN_STEP_OUT_REPORT=r.json\n")) {
			t.Errorf("%s.env (%d bytes):\n%s", res.Command, len(b), b)
		}
	}
}
