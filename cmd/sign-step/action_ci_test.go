package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/sign-step/sign-step/internal/ci"
)

// syncBuffer is one stream for stdout and stderr, as the runner's log sees
// them, safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ghRun is one run of the binary exactly as GitHub runs the container
// action: no arguments, inputs as INPUT_<NAME> (hyphens kept), and the
// runner's file command files.
type ghRun struct {
	log                 string
	code                int
	workspace           string
	outputFile, summary string
}

func runAsGitHubAction(t *testing.T, inputs map[string]string, extra map[string]string) ghRun {
	t.Helper()
	tmp := t.TempDir()
	r := ghRun{workspace: filepath.Join(tmp, "workspace"), outputFile: filepath.Join(tmp, "set_output"), summary: filepath.Join(tmp, "step_summary")}
	for _, f := range []string{r.outputFile, r.summary} {
		if err := os.WriteFile(f, nil, 0o644); err != nil { // the runner creates them empty
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(r.workspace, 0o755); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_WORKSPACE":    r.workspace,
		"GITHUB_OUTPUT":       r.outputFile,
		"GITHUB_STEP_SUMMARY": r.summary,
		"RUNNER_TEMP":         "/home/runner/work/_temp", // the runner's path, not mounted in a container action
		"HOME":                filepath.Join(tmp, "home"),
	}
	for k, v := range inputs {
		vars["INPUT_"+strings.ToUpper(k)] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	var log syncBuffer
	r.code = run(context.Background(), nil, func(k string) string { return vars[k] }, &log, &log)
	r.log = log.String()
	return r
}

// parseOutputs reads GITHUB_OUTPUT's name<<DELIMITER ... DELIMITER records.
func parseOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			if lines[i] != "" {
				t.Fatalf("GITHUB_OUTPUT line %d is not a record start: %q", i, lines[i])
			}
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// keySecrets are the lines of a private key file that must never be printed
// (its base64 body), plus the passphrase.
func keySecrets(t *testing.T, keyFile, pass string) []string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{pass}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		// A PEM body's last line can be a few characters ("xg=="), which
		// base64 signatures in trust data contain by chance: too short to
		// stand for the key (the full 64-character lines do).
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.Contains(line, ": ") {
			secrets = append(secrets, line)
		}
	}
	if len(secrets) < 3 {
		t.Fatalf("key file %s has no body lines", keyFile)
	}
	return secrets
}

// assertNoSecrets checks every stream and file of a run: the log (its
// ::add-mask:: lines excepted: the runner consumes them), the output and
// summary files and every artifact.
func assertNoSecrets(t *testing.T, secrets []string, log string, files ...string) {
	t.Helper()
	var shown []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			shown = append(shown, line)
		}
	}
	check := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %.6s… found in %s", s, where)
			}
		}
	}
	check("the log", strings.Join(shown, "\n"))
	for _, root := range files {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				check(p, string(b))
			}
			return nil
		})
	}
}

func TestGitHubActionSigns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		dryRun      string
		moved       bool // the first tag is signed for another image before
		wantChanged string
		wantResult  string
	}{
		{name: "sign", dryRun: "false", wantChanged: "true", wantResult: "✅ signed"},
		{name: "dry run", dryRun: "true", wantChanged: "false", wantResult: "would-sign"},
		{name: "tag moved", dryRun: "false", moved: true, wantChanged: "true", wantResult: "signed (moved from"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := env.Repo("action" + string(rune('a'+i)))
			s := dockerSigner(t, "ci", repo)
			if tc.moved {
				pushRandom(t, repo+":v1")
				if r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1"); r.code != 0 {
					t.Fatalf("first sign: %d %s", r.code, r.stderr)
				}
			}
			img, err := random.Image(512, 2)
			if err != nil {
				t.Fatal(err)
			}
			digest, size := pushImage(t, repo+":v1", img)
			pushImage(t, repo+":v2", img)
			pem, err := os.ReadFile(s.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			r := runAsGitHubAction(t, map[string]string{
				"command":       "sign",
				"tags":          repo + ":v1\n" + repo + ":v2\n",
				"key":           string(pem),
				"passphrase":    repoPass,
				"notary-server": env.NotaryURL,
				"notary-ca":     env.CACertFile,
				"registry-ca":   env.CACertFile,
				"dry-run":       tc.dryRun,
				"summary":       "true",
				"log-level":     "debug",
			}, nil)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.log)
			}

			// Masks first: every secret is announced with ::add-mask:: before
			// any other line, and no masked value (CA certificates are masked
			// too, when they are read) was printed before its mask.
			secrets := keySecrets(t, s.keyFile, repoPass)
			lines := strings.Split(strings.TrimRight(r.log, "\n"), "\n")
			masked := map[string]bool{}
			var printed []string
			for _, l := range lines {
				m, ok := strings.CutPrefix(l, "::add-mask::")
				if !ok {
					if len(printed) == 0 {
						for _, sec := range secrets {
							if !masked[sec] {
								t.Errorf("secret line %.6s… not masked before the first output line %q", sec, l)
							}
						}
					}
					printed = append(printed, l)
					continue
				}
				masked[m] = true
				if strings.Contains(strings.Join(printed, "\n"), m) {
					t.Errorf("%.24s… was printed before its ::add-mask::", l)
				}
			}
			assertNoSecrets(t, secrets, r.log, r.outputFile, r.summary, r.workspace)

			if os.Getenv("SHOW") != "" {
				sum, _ := os.ReadFile(r.summary)
				o, _ := os.ReadFile(r.outputFile)
				t.Logf("LOG\n%s\nSUMMARY\n%s\nOUT\n%s", r.log, sum, o)
			}
			out := parseOutputs(t, r.outputFile)
			signedTags, signedRefs := repo+":v1\n"+repo+":v2", repo+":v1@"+digest+"\n"+repo+":v2@"+digest
			if tc.dryRun == "true" {
				signedTags, signedRefs = "", ""
			}
			want := map[string]string{
				"digest":        digest,
				"size":          strconv.FormatInt(size, 10),
				"signed-tags":   signedTags,
				"signed-refs":   signedRefs,
				"roles":         "targets/ci\ntargets/releases",
				"changed":       tc.wantChanged,
				"dry-run":       tc.dryRun,
				"report":        "sign-step/report.json",
				"trust-inspect": "sign-step/trust-inspect.json",
				"dotenv":        "sign-step/sign.env",
			}
			for k, v := range want {
				if out[k] != v {
					t.Errorf("output %s = %q, want %q", k, out[k], v)
				}
			}
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(out["key-id"]) {
				t.Errorf("output key-id = %q, want one key ID", out["key-id"])
			}
			if len(out) != len(ci.SignOutputNames) {
				t.Errorf("%d outputs, want %d: %v", len(out), len(ci.SignOutputNames), out)
			}
			for _, f := range []string{out["report"], out["trust-inspect"], out["dotenv"]} {
				if _, err := os.Stat(filepath.Join(r.workspace, f)); err != nil {
					t.Errorf("output path %s is not in the workspace: %v", f, err)
				}
			}

			sum, _ := os.ReadFile(r.summary)
			for _, w := range []string{"| tag | digest | roles | signer key ID | result |", "| `" + repo + ":v1` | `" + digest[:19] + "` | targets/ci, targets/releases | `" + out["key-id"][:12] + "` | " + tc.wantResult,
				"| `" + repo + "` | 20"} {
				if !strings.Contains(string(sum), w) {
					t.Errorf("summary lacks %q:\n%s", w, sum)
				}
			}
			for _, w := range []string{"::group::" + repo + "\n", "::endgroup::", "::warning title=sign-step sign::trusting each repository's root key on first use"} {
				if !strings.Contains(r.log, w) {
					t.Errorf("log lacks %q:\n%s", w, r.log)
				}
			}
			if moved := strings.Contains(r.log, "::warning title=Signed tag moved::"+repo+":v1 moved from "); moved != tc.moved {
				t.Errorf("tag moved annotation: %v, want %v\n%s", moved, tc.moved, r.log)
			}
		})
	}
}

// TestGitLabDotenv runs the binary as a GitLab job does (image: with
// SIGN_STEP_* variables and a command line) and checks sign.env.
func TestGitLabDotenv(t *testing.T) {
	t.Parallel()
	repo := env.Repo("gitlab")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":1.0")
	pem, _ := os.ReadFile(s.keyFile)
	project := t.TempDir()
	vars := map[string]string{
		"GITLAB_CI":               "true",
		"CI_PROJECT_DIR":          project,
		"HOME":                    t.TempDir(),
		"SIGNING_KEY":             string(pem), // a masked CI/CD variable
		"SIGN_STEP_KEY":           "env://SIGNING_KEY",
		"SIGN_STEP_PASSPHRASE":    repoPass,
		"SIGN_STEP_NOTARY_SERVER": env.NotaryURL,
		"SIGN_STEP_NOTARY_CA":     env.CACertFile,
		"SIGN_STEP_REGISTRY_CA":   env.CACertFile,
		"SIGN_STEP_LOG_LEVEL":     "debug",
	}
	var stdout, stderr syncBuffer
	code := run(context.Background(), []string{"sign", repo + ":1.0"}, func(k string) string { return vars[k] }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(project, "sign-step", "sign.env"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^SIGN_STEP_OUT_[A-Z0-9_]+$`).MatchString(k) {
			t.Fatalf("sign.env line %q is not NAME=value with a SIGN_STEP_OUT_ name", line)
		}
		got[k] = v
	}
	want := map[string]string{
		"SIGN_STEP_OUT_DIGEST":      digest,
		"SIGN_STEP_OUT_SIGNED_TAGS": repo + ":1.0",
		"SIGN_STEP_OUT_SIGNED_REFS": repo + ":1.0@" + digest,
		"SIGN_STEP_OUT_ROLES":       "targets/ci,targets/releases",
		"SIGN_STEP_OUT_CHANGED":     "true",
		"SIGN_STEP_OUT_DRY_RUN":     "false",
		"SIGN_STEP_OUT_REPORT":      "sign-step/report.json",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if strings.Contains(stdout.String()+stderr.String(), "::") {
		t.Errorf("GitHub workflow commands printed on GitLab:\n%s%s", stdout.String(), stderr.String())
	}
	assertNoSecrets(t, keySecrets(t, s.keyFile, repoPass), stdout.String()+stderr.String(), project)
}
