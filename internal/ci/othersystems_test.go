package ci

import (
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/sign"
)

func outputOf(res Result, name string) (string, bool) {
	for _, o := range res.Outputs {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

func TestWithSystems(t *testing.T) {
	t.Parallel()
	status := map[string]map[string]string{
		"r.io/team/app@sha256:aaa": {"cosign": sign.StatusAdded, "notation": sign.StatusPresent},
		"r.io/team/web@sha256:bbb": {"cosign": sign.StatusMissing},
	}
	res := WithSystems(Result{Command: "sign"}, []string{"cosign", "notation"}, status)
	if got, _ := outputOf(res, "cosign-refs"); got != "r.io/team/app:sha256-aaa.sig" {
		t.Errorf("cosign-refs = %q (a dry run's missing signature is no ref)", got)
	}
	for _, want := range []string{"| image | cosign | notation |", "| `r.io/team/app@sha256:aaa` | added | present |", "| `r.io/team/web@sha256:bbb` | missing | — |", "--insecure-ignore-tlog=true"} {
		if !strings.Contains(res.Summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.Summary)
		}
	}
	if plain := WithSystems(Result{Command: "sign"}, nil, nil); len(plain.Outputs) != 0 || plain.Summary != "" {
		t.Errorf("without --also-sign: %+v", plain)
	}
}

func TestMigrateResult(t *testing.T) {
	t.Parallel()
	results := []sign.MigrateResult{
		{GUN: "r.io/team/app", Tags: []sign.MigrateTag{
			{Tag: "v1", Digest: "sha256:aaa", Signers: []string{"ci"}, Systems: map[string]string{"cosign": sign.StatusAdded}},
			{Tag: "v2", Digest: "sha256:bbb", Systems: map[string]string{"cosign": sign.StatusPresent}},
			{Tag: "odd", Skipped: "only in targets/bob"},
			{Tag: "new", Digest: "sha256:ccc", Systems: map[string]string{"cosign": sign.StatusMissing}},
		}},
		{GUN: "r.io/team/broken", Error: "trust data mismatch"},
	}
	for _, dry := range []bool{false, true} {
		res := MigrateResult(results, []string{"cosign"}, dry, "out", Files{Report: "out/report.json", Dotenv: "out/migrate.env"})
		if got, _ := outputOf(res, "migrated-refs"); got != "r.io/team/app:v1@sha256:aaa\nr.io/team/app:new@sha256:ccc" {
			t.Errorf("dry=%v migrated-refs = %q", dry, got)
		}
		if got, _ := outputOf(res, "cosign-refs"); got != "r.io/team/app:sha256-aaa.sig\nr.io/team/app:sha256-bbb.sig" {
			t.Errorf("dry=%v cosign-refs = %q", dry, got)
		}
		if got, _ := outputOf(res, "changed"); got != map[bool]string{false: "true", true: "false"}[dry] {
			t.Errorf("dry=%v changed = %q", dry, got)
		}
		if len(res.Annotations) != 1 || res.Annotations[0].Level != "error" || !strings.Contains(res.Annotations[0].Message, "r.io/team/broken") {
			t.Errorf("dry=%v annotations %+v, want one error for the broken repository", dry, res.Annotations)
		}
		for _, want := range []string{"| tag | digest | DCT signers | cosign |", "| `r.io/team/app:v1` | `sha256:aaa` | ci | added |", "skipped: only in targets/bob"} {
			if !strings.Contains(res.Summary, want) {
				t.Errorf("dry=%v summary lacks %q:\n%s", dry, want, res.Summary)
			}
		}
	}
}
