package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A key reaches sign-step in whatever shape the CI system's variables allow;
// each one signs against the real servers, and docker sees the tag signed.
// A variable holding a path (GitLab File-type variable) read with env:// is
// refused with the file:// hint, publishes nothing, and no shape's value
// appears in any output.
func TestKeyShapesSign(t *testing.T) {
	t.Parallel()
	names := []string{"pem", "crlf", "literal", "b64", "b64named", "b64wrapped", "filevar", "pathvar", "envpath"}
	repos := map[string]string{}
	var all []string
	for _, n := range names {
		repos[n] = env.Repo("shape-" + n)
		all = append(all, repos[n])
	}
	s := dockerSigner(t, "ci", all...)
	keyBytes, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key := string(keyBytes)
	b64 := base64.StdEncoding.EncodeToString(keyBytes)
	crlf := strings.ReplaceAll(key, "\n", "\r\n")
	literal := strings.ReplaceAll(strings.TrimSuffix(key, "\n"), "\n", `\n`)
	wrapped := b64[:76] + "\n" + b64[76:152] + "\n" + b64[152:] + "\n"
	with := func(kv ...string) map[string]string {
		m := map[string]string{"SIGN_STEP_PASSPHRASE": repoPass}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name     string
		repo     string
		vars     map[string]string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"PEM in SIGN_STEP_KEY", repos["pem"], with("SIGN_STEP_KEY", key), nil, 0, ""},
		{"CRLF PEM in env://", repos["crlf"], with("CI_KEY", crlf), []string{"--key", "env://CI_KEY"}, 0, ""},
		{"literal \\n PEM in env://", repos["literal"], with("CI_KEY", literal), []string{"--key", "env://CI_KEY"}, 0, ""},
		{"base64 in SIGN_STEP_KEY (GitLab masked variable)", repos["b64"], with("SIGN_STEP_KEY", b64), nil, 0, ""},
		{"base64://VAR", repos["b64named"], with("CI_KEY_B64", b64), []string{"--key", "base64://CI_KEY_B64"}, 0, ""},
		{"wrapped base64 in env://", repos["b64wrapped"], with("CI_KEY", wrapped), []string{"--key", "env://CI_KEY"}, 0, ""},
		{"File-type variable as file://$VAR", repos["filevar"], with(), []string{"--key", "file://" + s.keyFile}, 0, ""},
		{"File-type SIGN_STEP_KEY (a path)", repos["pathvar"], with("SIGN_STEP_KEY", s.keyFile), nil, 0, ""},
		{"File-type variable read with env://", repos["envpath"], with("CI_KEY_FILE", s.keyFile), []string{"--key", "env://CI_KEY_FILE"}, 3,
			"resolving env://CI_KEY_FILE: the variable holds the path of a file, not a PEM (a GitLab File-type variable?): pass file://$CI_KEY_FILE"},
	}
	secrets := []string{b64, repoPass}
	for _, l := range strings.Split(key, "\n") {
		if len(l) > 20 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, l)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			digest, _ := pushRandom(t, c.repo+":v1")
			r := signStep(t, c.vars, append(append([]string{"sign"}, c.args...), c.repo+":v1")...)
			for _, sec := range secrets {
				if strings.Contains(r.stdout+r.stderr, sec) {
					t.Errorf("output shows part of the key or passphrase:\n%s\n%s", r.stdout, r.stderr)
					break
				}
			}
			if r.code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, c.wantCode, r.stderr)
			}
			out, _, err := s.inspect(t, c.repo)
			if err != nil {
				t.Fatal(err)
			}
			signed := strings.Contains(out, strings.TrimPrefix(digest, "sha256:"))
			if c.wantCode != 0 {
				if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], c.wantMsg) {
					t.Errorf("stderr = %q, want one line with %q", r.stderr, c.wantMsg)
				}
				if signed {
					t.Error("a refused key shape published the tag")
				}
				return
			}
			if !signed {
				t.Errorf("docker does not see %s:v1 signed at %s:\n%s", c.repo, digest, out)
			}
		})
	}
}

// SIGN_STEP_YES in the environment never arms revoke-all: `revoke REPO`
// still asks for --yes on the command line, and the tag stays signed.
func TestYesNotReadFromEnvironment(t *testing.T) {
	t.Parallel()
	repo := env.Repo("yes-env")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	vars := map[string]string{"SIGN_STEP_KEY": "file://" + s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	if r := signStep(t, vars, "sign", repo+":v1"); r.code != 0 {
		t.Fatalf("sign: exit %d: %s", r.code, r.stderr)
	}
	vars["SIGN_STEP_YES"] = "true"
	r := signStep(t, vars, "revoke", repo)
	if r.code != 2 || !strings.Contains(r.stderr, "pass --yes to revoke them all") {
		t.Errorf("revoke REPO with SIGN_STEP_YES=true: exit %d, stderr %q; want 2 asking for --yes", r.code, r.stderr)
	}
	out, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"SignedTag": "v1"`) && !strings.Contains(out, `"SignedTag":"v1"`) {
		t.Errorf("v1 no longer signed:\n%s", out)
	}
}

// GitHub's "re-run with debug logging" sets RUNNER_DEBUG=1: sign-step logs
// at debug whatever --log-level says. inspect exits 1 whatever failed for a
// ref (no trust data, an untrusted certificate), as docker trust inspect does.
func TestRunnerDebugAndInspectExit(t *testing.T) {
	t.Parallel()
	repo := env.Repo("never-signed")
	cases := []struct {
		name      string
		vars      map[string]string
		wantDebug bool
	}{
		{"RUNNER_DEBUG=1", map[string]string{"RUNNER_DEBUG": "1"}, true},
		{"RUNNER_DEBUG unset", nil, false},
		{"RUNNER_DEBUG=0", map[string]string{"RUNNER_DEBUG": "0"}, false},
		{"notary certificate not trusted", map[string]string{"SIGN_STEP_NOTARY_CA": ""}, false}, // was exit 7
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := signStep(t, c.vars, "inspect", repo) // SIGN_STEP_LOG_LEVEL=warn
			if r.code != 1 {
				t.Errorf("inspect exit %d, want 1 as docker; stderr %s", r.code, r.stderr)
			}
			if got := strings.Contains(r.stderr, "level=DEBUG"); got != c.wantDebug {
				t.Errorf("debug lines = %v, want %v:\n%s", got, c.wantDebug, r.stderr)
			}
		})
	}
}

// A signer's public key is not announced to GitHub as a secret: no
// ::add-mask:: carries any line of it, while the private key's lines are masked.
func TestPublicKeyNotMasked(t *testing.T) {
	t.Parallel()
	repo := env.Repo("pubmask")
	s := dockerSigner(t, "ci", repo)
	pub, err := os.ReadFile(s.pubFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": filepath.Join(t.TempDir(), "summary"),
		"SIGN_STEP_NOTARY_SERVER": "https://127.0.0.1:1", "SIGN_STEP_RETRIES": "0", "SIGN_STEP_PASSPHRASE": repoPass}
	r := signStep(t, vars, "signer", "add", "ci2", "--public-key", s.pubFile, "--key", "file://"+s.keyFile, repo)
	if r.code != 6 {
		t.Fatalf("exit %d, want 6 (notary unreachable): %s", r.code, r.stderr)
	}
	masks := map[string]bool{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "::add-mask::"); ok {
			masks[v] = true
		}
	}
	for _, l := range strings.Split(string(pub), "\n") {
		if l = strings.TrimSpace(l); l != "" && masks[l] {
			t.Errorf("public key line masked: %q", l)
		}
	}
	privMasked := false
	for _, l := range strings.Split(string(priv), "\n") {
		if l = strings.TrimSpace(l); len(l) > 20 && masks[l] {
			privMasked = true
		}
	}
	if !privMasked {
		t.Errorf("no line of the private key masked; masks: %v", masks)
	}
}
