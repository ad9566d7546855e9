package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"
)

// TestBadInput runs every class of bad input against the real servers and
// checks: one clear line on stderr, the documented exit code, nothing
// published, and no secret in any output.
func TestBadInput(t *testing.T) {
	t.Parallel()
	repo := env.Repo("bad")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	// Trust data exists for a repository on a registry that does not.
	noRegistry := "127.0.0.1:1/" + strings.TrimPrefix(env.Repo("gone"), env.RegistryHost+"/")
	if _, _, err := s.docker.Run("trust", "signer", "add", "--key", s.pubFile, "ci", noRegistry); err != nil {
		t.Fatal(err)
	}
	uninit := env.Repo("uninitialized")
	pushRandom(t, uninit+":v1")

	// A key no role of repo lists, and a public key.
	stranger, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerPEM, err := utils.ConvertPrivateKeyToPKCS8(stranger, "stranger", "", "stranger-pass-1234")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"SIGN_STEP_KEY": string(keyPEM), "SIGN_STEP_PASSPHRASE": repoPass}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		wantMsg  string
	}{
		{"wrong passphrase", with("SIGN_STEP_PASSPHRASE", "not-the-passphrase"), []string{repo + ":v1"}, 3, "wrong passphrase"},
		{"missing passphrase", with("SIGN_STEP_PASSPHRASE", ""), []string{repo + ":v1"}, 3, "no passphrase was given"},
		{"malformed PEM", with("SIGN_STEP_KEY", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), []string{repo + ":v1"}, 3, "malformed or unsupported private key"},
		{"public key given as key", with("SIGN_STEP_KEY", "file://"+s.pubFile), []string{repo + ":v1"}, 3, "not a private key"},
		{"no key at all", with("SIGN_STEP_KEY", ""), []string{repo + ":v1"}, 2, "no signing key"},
		{"key file missing", with("SIGN_STEP_KEY", "/nonexistent/key.pem"), []string{repo + ":v1"}, 9, "--key (or SIGN_STEP_KEY): not a PEM and not a readable file"},
		{"key env var empty", with("SIGN_STEP_KEY", "env://NOPE"), []string{repo + ":v1"}, 9, "environment variable NOPE is empty"},
		{"key signs no role", with("SIGN_STEP_KEY", string(strangerPEM), "SIGN_STEP_PASSPHRASE", "stranger-pass-1234"), []string{repo + ":v1"}, 4, "its signers are ci ("},
		{"tag missing from registry", good, []string{repo + ":v1", repo + ":nope"}, 5, `tag "nope" not found in ` + repo},
		{"repository not initialized", good, []string{uninit + ":v1"}, 6, "remote trust data does not exist for " + uninit},
		{"notary unreachable", with("SIGN_STEP_NOTARY_SERVER", "https://127.0.0.1:1"), []string{repo + ":v1"}, 6, "https://127.0.0.1:1"},
		{"notary not https", with("SIGN_STEP_NOTARY_SERVER", "http://127.0.0.1:1"), []string{repo + ":v1"}, 2, "valid https URL required for trust server"},
		{"registry unreachable", good, []string{noRegistry + ":v1"}, 5, "cannot reach registry https://127.0.0.1:1"},
		{"notary CA not trusted", with("SIGN_STEP_NOTARY_CA", ""), []string{repo + ":v1"}, 7, "TLS certificate not trusted"},
		{"registry CA not trusted", with("SIGN_STEP_REGISTRY_CA", ""), []string{repo + ":v1"}, 7, "pass its CA with --registry-ca"},
		{"digest reference", good, []string{repo + "@sha256:" + strings.Repeat("0", 64)}, 2, "digest reference cannot be signed"},
		{"no tag", good, []string{repo}, 2, "no tag specified"},
		{"invalid reference", good, []string{"Repo:v1"}, 2, "must be lowercase"},
		{"no reference", good, nil, 2, "no image reference"},
		{"unknown flag", good, []string{"--nope", repo + ":v1"}, 2, "unknown flag: --nope"},
		{"bad log level", with("SIGN_STEP_LOG_LEVEL", "loud"), []string{repo + ":v1"}, 2, "invalid --log-level"},
		{"source missing", good, []string{"--source", "/nonexistent/layout", repo + ":v1"}, 2, "neither a file, a directory nor an image reference"},
		{"source not a layout", good, []string{"--source", t.TempDir(), repo + ":v1"}, 2, "not an OCI image layout"},
	}
	before := trustSnapshot(t, s, repo)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := signStep(t, tc.vars, append([]string{"sign"}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, tc.wantCode, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "sign-step: ") || !strings.Contains(lines[0], tc.wantMsg) {
				t.Errorf("stderr = %q, want one line containing %q", r.stderr, tc.wantMsg)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			for _, secret := range []string{repoPass, "stranger-pass-1234", "not-the-passphrase"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("output shows a secret")
				}
			}
		})
	}
	t.Cleanup(func() {
		if after := trustSnapshot(t, s, repo); after != before {
			t.Errorf("bad input changed trust data:\nbefore %s\nafter  %s", before, after)
		}
	})
}

// trustSnapshot is docker's view of repo's signed tags.
func trustSnapshot(t *testing.T, s signer, repo string) string {
	out, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v[0]["SignedTags"])
}
