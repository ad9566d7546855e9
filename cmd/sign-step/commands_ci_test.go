package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/ci"
)

// readDotenv reads a dotenv artifact as GitLab does: NAME=value lines.
func readDotenv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, ci.DotenvPrefix) {
			t.Fatalf("%s: line %q is not SIGN_STEP_OUT_NAME=value", path, line)
		}
		got[k] = v
	}
	return got
}

// TestCommandsAreCIFriendly runs verify, resign and revoke as the GitHub
// Action, in that order on one repository, and checks what each hands to
// the job: exactly its own step outputs, its <command>.env, its report, a
// job summary, and annotations (resign's expiry warnings); no secret.
func TestCommandsAreCIFriendly(t *testing.T) {
	t.Parallel()
	repo := env.Repo("cicmds")
	s := dockerSigner(t, "ci", repo)
	d1, _ := pushRandom(t, repo+":v1")
	pushRandom(t, repo+":v2")
	mustRun(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1", repo+":v2")
	pem, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]string{"notary-server": env.NotaryURL, "notary-ca": env.CACertFile, "registry-ca": env.CACertFile}
	key := map[string]string{"key": string(pem), "passphrase": repoPass}
	steps := []struct {
		command     string
		inputs      map[string]string
		names       []string
		want        map[string]string // outputs
		wantSummary []string
		wantLog     []string
		report      string // the report's file name and its "command"
	}{
		{command: "verify", inputs: map[string]string{"tags": repo + ":v1", "signer": "ci"}, names: ci.VerifyOutputNames,
			want:        map[string]string{"verified-refs": repo + ":v1@" + d1, "digest": d1, "report": "sign-step/verify.json", "dotenv": "sign-step/verify.env"},
			wantSummary: []string{"### sign-step verify", "| `" + repo + ":v1` | `" + d1[:19] + "` | ci | ✅ verified |", "1 of 1 ref(s) verified"},
			report:      "verify.json"},
		// Targets are re-signed for 3 years: within 28800h (1200 days), so each is warned about.
		{command: "resign", inputs: map[string]string{"tags": repo, "args": "--warn-within 28800h"}, names: ci.ResignOutputNames,
			want:        map[string]string{"resigned": repo, "changed": "true", "dry-run": "false", "report": "sign-step/report.json", "dotenv": "sign-step/resign.env"},
			wantSummary: []string{"### sign-step resign", "| `" + repo + "` | targets/ci, targets/releases |", "✅ re-signed", "1 re-signed, trust data was published"},
			wantLog:     []string{"::warning title=Trust metadata expires soon::" + repo + ": targets/ci metadata expires on "},
			report:      "report.json"},
		{command: "revoke", inputs: map[string]string{"tags": repo + ":v2"}, names: ci.RevokeOutputNames,
			want:        map[string]string{"revoked-refs": repo + ":v2", "changed": "true", "report": "sign-step/report.json", "dotenv": "sign-step/revoke.env"},
			wantSummary: []string{"### sign-step revoke", "| `" + repo + ":v2` | revoked |"},
			report:      "report.json"},
	}
	for _, st := range steps {
		inputs := map[string]string{"command": st.command}
		for _, m := range []map[string]string{servers, st.inputs} {
			for k, v := range m {
				inputs[k] = v
			}
		}
		if st.command != "verify" {
			for k, v := range key {
				inputs[k] = v
			}
		}
		r := runAsGitHubAction(t, inputs, nil)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", st.command, r.code, r.log)
		}
		out := parseOutputs(t, r.outputFile)
		if len(out) != len(st.names) {
			t.Errorf("%s: outputs %v, want exactly %v", st.command, out, st.names)
		}
		for k, v := range st.want {
			if out[k] != v {
				t.Errorf("%s: output %s = %q, want %q", st.command, k, out[k], v)
			}
		}
		sum, _ := os.ReadFile(r.summary)
		for _, w := range st.wantSummary {
			if !strings.Contains(string(sum), w) {
				t.Errorf("%s: summary lacks %q:\n%s", st.command, w, sum)
			}
		}
		for _, w := range st.wantLog {
			if !strings.Contains(r.log, w) {
				t.Errorf("%s: log lacks %q:\n%s", st.command, w, r.log)
			}
		}
		// The dotenv file holds the same values, lists joined with commas.
		got := readDotenv(t, filepath.Join(r.workspace, out["dotenv"]))
		for k, v := range st.want {
			if k == "dotenv" {
				continue
			}
			if got[ci.DotenvName(k)] != strings.ReplaceAll(v, "\n", ",") {
				t.Errorf("%s: %s = %q, want %q", st.command, ci.DotenvName(k), got[ci.DotenvName(k)], v)
			}
		}
		var rep struct{ Command string }
		b, err := os.ReadFile(filepath.Join(r.workspace, "sign-step", st.report))
		if err != nil || json.Unmarshal(b, &rep) != nil || rep.Command != st.command {
			t.Errorf("%s: %s is not its report: %v\n%s", st.command, st.report, err, b)
		}
		assertNoSecrets(t, keySecrets(t, s.keyFile, repoPass), r.log, r.outputFile, r.summary, r.workspace)
	}
}

// TestOutputJSON: with --output json each command's stdout is one JSON
// document, its report, and nothing else, also on GitHub, where workflow
// commands then go to stderr; text stays the default.
func TestOutputJSON(t *testing.T) {
	t.Parallel()
	repo := env.Repo("json")
	s := dockerSigner(t, "ci", repo)
	d1, _ := pushRandom(t, repo+":v1")
	keyVars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	github := func(vars map[string]string) map[string]string {
		ws := t.TempDir()
		out := with(vars, "GITHUB_ACTIONS", "true", "GITHUB_WORKSPACE", ws, "GITHUB_OUTPUT", filepath.Join(ws, "out"), "GITHUB_STEP_SUMMARY", filepath.Join(ws, "sum"))
		return out
	}
	steps := []struct {
		name  string
		vars  map[string]string
		args  []string
		check func(t *testing.T, doc map[string]any)
	}{
		{"sign", github(keyVars), []string{"sign", repo + ":v1"}, func(t *testing.T, doc map[string]any) {
			refs, _ := doc["refs"].([]any)
			if doc["command"] != "sign" || doc["changed"] != true || len(refs) != 1 {
				t.Errorf("sign document %v", doc)
			}
		}},
		{"verify", github(nil), []string{"verify", repo + ":v1"}, func(t *testing.T, doc map[string]any) {
			refs, _ := doc["refs"].([]any)
			if doc["command"] != "verify" || len(refs) != 1 || refs[0].(map[string]any)["pinned"] != repo+"@"+d1 {
				t.Errorf("verify document %v", doc)
			}
		}},
		// verify by policy prints the same one document (its refs say which systems passed).
		{"verify", github(nil), []string{"verify", "--policy", dctPolicy(t), repo + ":v1"}, func(t *testing.T, doc map[string]any) {
			refs, _ := doc["refs"].([]any)
			if doc["command"] != "verify" || len(refs) != 1 || refs[0].(map[string]any)["pinned"] != repo+"@"+d1 {
				t.Errorf("verify --policy document %v", doc)
			}
		}},
		{"resign", github(keyVars), []string{"resign", "--dry-run", repo}, func(t *testing.T, doc map[string]any) {
			repos, _ := doc["repositories"].([]any)
			if doc["command"] != "resign" || doc["dryRun"] != true || doc["changed"] != false || len(repos) != 1 {
				t.Errorf("resign document %v", doc)
			}
		}},
		{"revoke", keyVars, []string{"revoke", repo + ":v1"}, func(t *testing.T, doc map[string]any) {
			revoked, _ := doc["revoked"].([]any)
			if doc["command"] != "revoke" || doc["changed"] != true || len(revoked) != 1 || revoked[0] != repo+":v1" {
				t.Errorf("revoke document %v", doc)
			}
		}},
	}
	for _, st := range steps {
		args := append([]string{st.args[0], "--output", "json"}, st.args[1:]...)
		r := signStep(t, st.vars, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", st.name, r.code, r.stderr)
		}
		var doc map[string]any
		decodeOne(t, r.stdout, &doc)
		st.check(t, doc)
		if st.vars["GITHUB_ACTIONS"] == "true" && !strings.Contains(r.stderr, "::warning title=sign-step "+st.name+"::") {
			t.Errorf("%s: workflow commands are not on stderr:\n%s", st.name, r.stderr)
		}
	}
	if r := signStep(t, nil, "verify", "--output", "yaml", repo+":v1"); r.code != 2 || !strings.Contains(r.stderr, `invalid --output "yaml": want text or json`) || r.stdout != "" {
		t.Errorf("--output yaml: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestGitLabVerifyDotenv: on GitLab, verify leaves verify.env in the
// project directory for artifacts:reports:dotenv, and prints no GitHub
// workflow command.
func TestGitLabVerifyDotenv(t *testing.T) {
	t.Parallel()
	repo := env.Repo("glverify")
	s := dockerSigner(t, "ci", repo)
	d, _ := pushRandom(t, repo+":1.0")
	mustRun(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":1.0")
	project := t.TempDir()
	r := signStep(t, map[string]string{"GITLAB_CI": "true", "CI_PROJECT_DIR": project, "SIGN_STEP_OUTPUT_DIR": ""}, "verify", repo+":1.0")
	if r.code != 0 || r.stdout != repo+"@"+d+"\n" {
		t.Fatalf("verify: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	got := readDotenv(t, filepath.Join(project, "sign-step", "verify.env"))
	want := map[string]string{"SIGN_STEP_OUT_VERIFIED_REFS": repo + ":1.0@" + d, "SIGN_STEP_OUT_DIGEST": d, "SIGN_STEP_OUT_REPORT": "sign-step/verify.json"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "::") {
		t.Errorf("GitHub workflow commands printed on GitLab:\n%s%s", r.stdout, r.stderr)
	}
}

// dctPolicy is a --policy file requiring DCT only, for every repository.
func dctPolicy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	doc := `{"version": "1.0", "policies": [{"name": "all", "registryScopes": ["*"], "level": "enforce", "dct": {}}]}`
	if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
