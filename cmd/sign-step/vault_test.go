package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/testenv/vaultenv"
)

// The real Vault is started by the first test that needs it; TestMain stops
// it (closeTestVault).
var (
	vaultOnce    sync.Once
	testVault    *vaultenv.Vault
	testVaultErr error
	vaultSeq     struct {
		sync.Mutex
		n int
	}
)

func startVault(t *testing.T) *vaultenv.Vault {
	t.Helper()
	vaultOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold build takes minutes
		defer cancel()
		testVault, testVaultErr = vaultenv.Start(ctx)
	})
	if testVaultErr != nil {
		t.Fatal(testVaultErr)
	}
	return testVault
}

func closeTestVault() {
	if testVault != nil {
		testVault.Close()
	}
}

func vaultName(prefix string) string {
	vaultSeq.Lock()
	defer vaultSeq.Unlock()
	vaultSeq.n++
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36) + "-" + strconv.Itoa(vaultSeq.n)
}

// onGitHub adds the variables of a GitHub Actions job (CLI mode: arguments
// given), so that every masked value is announced on stdout as
// ::add-mask::VALUE, as the runner needs. The login token is found there.
func onGitHub(t *testing.T, vars map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	for _, f := range []string{out, sum} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vars["GITHUB_ACTIONS"] = "true"
	vars["GITHUB_OUTPUT"] = out
	vars["GITHUB_STEP_SUMMARY"] = sum
	vars["GITHUB_WORKSPACE"] = dir
	return vars
}

// maskedTokens are the Vault tokens the run announced with ::add-mask::.
func maskedTokens(stdout string) []string {
	var toks []string
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "::add-mask::"); ok && strings.HasPrefix(v, "hvs.") {
			toks = append(toks, v)
		}
	}
	return toks
}

func readPolicyToken(t *testing.T, v *vaultenv.Vault) string {
	t.Helper()
	tok, err := v.ReadToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestVaultSignsWithEachAuthMethod: a job configured only with Vault
// coordinates and its identity signs; docker sees the signature; the login
// token is revoked; no key line, passphrase or credential is printed.
func TestVaultSignsWithEachAuthMethod(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	policy := vaultenv.PolicyRead + "," + vaultenv.PolicyDeny
	type setup struct {
		vars    map[string]string // method and credentials
		secrets []string          // credentials that must not be printed
		args    func(path string) []string
		put     func(t *testing.T, path, key string) // store key and passphrase
		revoked bool
	}
	kv2 := func(t *testing.T, path, key string) {
		if err := v.PutKV2(path, map[string]any{"key": key, "passphrase": repoPass}); err != nil {
			t.Fatal(err)
		}
	}
	bulk := func(spec string) func(string) []string {
		return func(path string) []string {
			return []string{"--vault-secrets", strings.ReplaceAll(spec, "PATH", path)}
		}
	}
	cases := map[string]func(t *testing.T) setup{
		// VAULT_ADDR and VAULT_TOKEN as the vault CLI reads them; KV v2 path as `vault kv get` takes it.
		"token": func(t *testing.T) setup {
			tok := readPolicyToken(t, v)
			return setup{
				vars:    map[string]string{"VAULT_ADDR": v.Addr, "VAULT_TOKEN": tok},
				secrets: []string{tok},
				args:    bulk("secret/PATH key | KEY ; secret/PATH passphrase | PASSPHRASE"),
				put:     kv2,
			}
		},
		// KV v1, references on the flags themselves.
		"approle": func(t *testing.T) setup {
			roleID, secretID, err := v.AppRole(policy)
			if err != nil {
				t.Fatal(err)
			}
			return setup{
				vars:    map[string]string{"SIGN_STEP_VAULT_METHOD": "approle", "SIGN_STEP_VAULT_ROLE_ID": roleID, "SIGN_STEP_VAULT_SECRET_ID": "env://VAULT_SECRET_ID", "VAULT_SECRET_ID": secretID},
				secrets: []string{secretID},
				args: func(path string) []string {
					return []string{"--key", "vault://kv1/" + path + "#key", "--passphrase", "vault://kv1/" + path + "#passphrase"}
				},
				put: func(t *testing.T, path, key string) {
					if err := v.PutKV1(path, map[string]any{"key": key, "passphrase": repoPass}); err != nil {
						t.Fatal(err)
					}
				},
				revoked: true,
			}
		},
		// A JWT as GitLab's id_tokens give it; ?version=1 pins the good
		// passphrase under a newer, wrong one.
		"jwt": func(t *testing.T) setup {
			aud := "https://vault.example/" + vaultName("aud")
			role, err := v.JWTRole(policy, aud, map[string]string{"project_path": "group/app"})
			if err != nil {
				t.Fatal(err)
			}
			jwt, err := v.MintJWT(aud, map[string]any{"project_path": "group/app"})
			if err != nil {
				t.Fatal(err)
			}
			return setup{
				vars:    map[string]string{"SIGN_STEP_VAULT_ROLE": role, "SIGN_STEP_VAULT_JWT": "env://VAULT_ID_TOKEN", "VAULT_ID_TOKEN": jwt},
				secrets: []string{jwt},
				args:    bulk("secret/PATH?version=1 key | KEY\nsecret/PATH?version=1 passphrase | PASSPHRASE\n"),
				put: func(t *testing.T, path, key string) {
					kv2(t, path, key)
					if err := v.PutKV2(path, map[string]any{"key": key, "passphrase": "not-the-passphrase"}); err != nil {
						t.Fatal(err)
					}
				},
				revoked: true,
			}
		},
		// GitHub Actions: no --vault-jwt; sign-step mints the job's OIDC token
		// from the runtime (served here by a stand-in for the runtime's token
		// endpoint, handing out a JWT Vault trusts).
		"github-oidc": func(t *testing.T) setup {
			aud := "https://vault.example/" + vaultName("gh")
			role, err := v.JWTRole(policy, aud, map[string]string{"repository": "org/app"})
			if err != nil {
				t.Fatal(err)
			}
			jwt, err := v.MintJWT(aud, map[string]any{"repository": "org/app"})
			if err != nil {
				t.Fatal(err)
			}
			runtime := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer gh-runtime-token" || r.URL.Query().Get("audience") != aud {
					http.Error(w, "denied", http.StatusForbidden)
					return
				}
				fmt.Fprintf(w, `{"value":%q}`, jwt)
			}))
			t.Cleanup(runtime.Close)
			return setup{
				vars: map[string]string{"GITHUB_ACTIONS": "true", "SIGN_STEP_VAULT_METHOD": "jwt", "SIGN_STEP_VAULT_ROLE": role,
					"SIGN_STEP_VAULT_JWT_AUDIENCE": aud, "ACTIONS_ID_TOKEN_REQUEST_URL": runtime.URL + "/token",
					"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "gh-runtime-token"},
				secrets: []string{jwt, "gh-runtime-token"},
				args:    bulk("secret/PATH key | KEY ; secret/PATH passphrase | PASSPHRASE"),
				put:     kv2,
				revoked: true,
			}
		},
		// The API path form secret/data/... works too.
		"userpass": func(t *testing.T) setup {
			user, pass, err := v.UserPass(policy)
			if err != nil {
				t.Fatal(err)
			}
			return setup{
				vars:    map[string]string{"SIGN_STEP_VAULT_USERNAME": user, "SIGN_STEP_VAULT_PASSWORD": pass},
				secrets: []string{pass},
				args:    bulk("secret/data/PATH key | KEY ; secret/data/PATH passphrase | PASSPHRASE"),
				put:     kv2,
				revoked: true,
			}
		},
	}
	for method, mk := range cases {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			st := mk(t)
			repo := env.Repo("vault-" + method)
			s := dockerSigner(t, "ci", repo)
			digest, _ := pushRandom(t, repo+":v1")
			keyPEM, err := os.ReadFile(s.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			path := "ci/" + vaultName(method)
			st.put(t, path, string(keyPEM))

			vars := onGitHub(t, map[string]string{"SIGN_STEP_VAULT_CA": v.CACertFile})
			if _, ok := st.vars["VAULT_ADDR"]; !ok {
				vars["SIGN_STEP_VAULT_ADDR"] = v.Addr
			}
			for k, val := range st.vars {
				vars[k] = val
			}
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"sign", "--output-dir", out}, st.args(path)...)
			r := signStep(t, vars, append(args, repo+":v1")...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			stdout, _, err := s.inspect(t, repo+":v1")
			if err != nil {
				t.Fatal(err)
			}
			var got inspected
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got) != 1 || len(got[0].SignedTags) != 1 ||
				"sha256:"+got[0].SignedTags[0].Digest != digest || strings.Join(got[0].SignedTags[0].Signers, ",") != "ci" {
				t.Fatalf("docker trust inspect does not show v1 at %s signed by ci: %v\n%s", digest, err, stdout)
			}

			toks := maskedTokens(r.stdout)
			if st.revoked {
				if len(toks) != 1 {
					t.Fatalf("want one login token masked, got %d", len(toks))
				}
				if v.TokenValid(toks[0]) {
					t.Error("the login token is still valid after the run")
				}
			} else if !v.TokenValid(st.secrets[0]) {
				t.Error("the user's own token was revoked")
			}
			secrets := append(keySecrets(t, s.keyFile, repoPass), st.secrets...)
			secrets = append(secrets, toks...)
			assertNoSecrets(t, secrets, r.stdout+"\n"+r.stderr, out)
		})
	}
}

// TestVaultErrorsExplained: a denied path, a missing field and a missing path
// each fail with exit 9 and a message naming the Vault path; nothing is
// signed; the token is revoked even so.
func TestVaultErrorsExplained(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	repo := env.Repo("vault-errors")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ok := "ci/" + vaultName("ok")
	denied := vaultenv.DeniedKV2Path + "/" + vaultName("d")
	for _, p := range []string{ok, denied} {
		if err := v.PutKV2(p, map[string]any{"key": string(keyPEM), "passphrase": repoPass}); err != nil {
			t.Fatal(err)
		}
	}
	roleID, secretID, err := v.AppRole(vaultenv.PolicyRead + "," + vaultenv.PolicyDeny)
	if err != nil {
		t.Fatal(err)
	}
	for label, c := range map[string]struct {
		spec  string
		wants []string
	}{
		"denied":        {"secret/" + denied + " key | KEY ; secret/" + denied + " passphrase | PASSPHRASE", []string{"secret/data/" + denied, "permission denied"}},
		"missing field": {"secret/" + ok + " key | KEY ; secret/" + ok + " pass | PASSPHRASE", []string{"secret/data/" + ok, `no field "pass"`, "its fields: key, passphrase"}},
		"missing path":  {"secret/" + ok + "-gone key | KEY", []string{"no secret at secret/data/" + ok + "-gone"}},
	} {
		t.Run(label, func(t *testing.T) {
			vars := onGitHub(t, map[string]string{"SIGN_STEP_VAULT_ADDR": v.Addr, "SIGN_STEP_VAULT_CA": v.CACertFile,
				"SIGN_STEP_VAULT_ROLE_ID": roleID, "SIGN_STEP_VAULT_SECRET_ID": secretID})
			before := trustSnapshot(t, s, repo)
			r := signStep(t, vars, "sign", "--vault-secrets", c.spec, repo+":v1")
			if r.code != 9 {
				t.Fatalf("exit %d, want 9\nstderr: %s", r.code, r.stderr)
			}
			if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 || !strings.HasPrefix(r.stderr, "sign-step: ") {
				t.Errorf("want one line on stderr, got:\n%s", r.stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q does not say %q", r.stderr, w)
				}
			}
			if after := trustSnapshot(t, s, repo); after != before {
				t.Errorf("trust data changed on a failed run:\n%s\n%s", before, after)
			}
			toks := maskedTokens(r.stdout)
			if len(toks) != 1 || v.TokenValid(toks[0]) {
				t.Errorf("the login token (%d masked) is not revoked after a failed run", len(toks))
			}
			assertNoSecrets(t, append(keySecrets(t, s.keyFile, repoPass), append(toks, secretID)...), r.stdout+"\n"+r.stderr)
		})
	}
}

// TestVaultRevokeTokenFalse keeps the login token for later steps.
func TestVaultRevokeTokenFalse(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	user, pass, err := v.UserPass(vaultenv.PolicyRead)
	if err != nil {
		t.Fatal(err)
	}
	vars := onGitHub(t, map[string]string{"SIGN_STEP_VAULT_ADDR": v.Addr, "SIGN_STEP_VAULT_CA": v.CACertFile,
		"SIGN_STEP_VAULT_USERNAME": user, "SIGN_STEP_VAULT_PASSWORD": pass})
	// A failing run (the tag has no trust data): the secret is read, then the run fails.
	path := "ci/" + vaultName("keep")
	if err := v.PutKV2(path, map[string]any{"passphrase": "p-0123456789"}); err != nil {
		t.Fatal(err)
	}
	r := signStep(t, vars, "sign", "--vault-revoke-token=false", "--key", "vault://secret/"+path+"#missing", env.Repo("keep")+":v1")
	if r.code != 9 {
		t.Fatalf("exit %d, want 9: %s", r.code, r.stderr)
	}
	toks := maskedTokens(r.stdout)
	if len(toks) != 1 || !v.TokenValid(toks[0]) {
		t.Errorf("with --vault-revoke-token=false the token must stay valid (%d masked)", len(toks))
	}
}

// TestVaultRegistryCredentials: REGISTRY_PASSWORD and NOTARY_AUTH from Vault
// log in to a registry that requires it. (The test notary server has no auth,
// so the notary side of the challenge is not exercised here.)
func TestVaultRegistryCredentials(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	reg := env.Auth
	repo := reg.Repo("vault-private")
	s := dockerSigner(t, "ci", repo)
	digest := pushToAuthRegistry(t, repo+":v1")
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := "ci/" + vaultName("reg")
	notaryAuth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))
	if err := v.PutKV2(path, map[string]any{"key": string(keyPEM), "passphrase": repoPass, "password": reg.Password, "notary_auth": notaryAuth}); err != nil {
		t.Fatal(err)
	}
	user, pass, err := v.UserPass(vaultenv.PolicyRead)
	if err != nil {
		t.Fatal(err)
	}
	keys := "secret/" + path + " key | KEY ; secret/" + path + " passphrase | PASSPHRASE"
	for label, c := range map[string]struct {
		spec string
		vars []string
	}{
		"REGISTRY_PASSWORD": {keys + "; secret/" + path + " password | REGISTRY_PASSWORD", []string{"SIGN_STEP_REGISTRY_USERNAME", reg.Username}},
		"NOTARY_AUTH":       {keys + "; secret/" + path + " notary_auth | NOTARY_AUTH", nil},
	} {
		t.Run(label, func(t *testing.T) {
			vars := with(map[string]string{"SIGN_STEP_VAULT_ADDR": v.Addr, "SIGN_STEP_VAULT_CA": v.CACertFile,
				"SIGN_STEP_VAULT_USERNAME": user, "SIGN_STEP_VAULT_PASSWORD": pass, "SIGN_STEP_VAULT_SECRETS": c.spec}, c.vars...)
			r := signStep(t, vars, "sign", repo+":v1")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, digest.String()) {
				t.Errorf("stdout %q does not name %s", r.stdout, digest)
			}
			for _, secret := range []string{reg.Password, notaryAuth, pass} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Errorf("a credential was printed:\n%s\n%s", r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestVaultTransitSigns: the delegation key lives in Vault Transit and never
// leaves it. Its public key is added as a signer with docker; sign-step signs
// with --key vault-transit://transit/<name> (Transit signs the canonical TUF
// bytes); docker trust inspect shows the tag signed by that signer and
// sign-step verify --signer agrees.
func TestVaultTransitSigns(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	keyName, pubFile := transitKey(t, v, "dct")

	repo := env.Repo("vault-transit")
	s := dockerSigner(t, "ci", repo) // initializes the repository
	if _, stderr, err := s.docker.Run("trust", "signer", "add", "--key", pubFile, "vt", repo); err != nil {
		t.Fatalf("docker trust signer add vt: %v\n%s", err, stderr)
	}
	digest, _ := pushRandom(t, repo+":v1")

	tok := readPolicyToken(t, v)
	vars := onGitHub(t, map[string]string{"SIGN_STEP_VAULT_CA": v.CACertFile, "VAULT_ADDR": v.Addr, "VAULT_TOKEN": tok})
	out := filepath.Join(t.TempDir(), "out")
	r := signStep(t, vars, "sign", "--output-dir", out, "--key", "vault-transit://transit/"+keyName, repo+":v1")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	stdout, _, err := s.inspect(t, repo+":v1")
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got) != 1 || len(got[0].SignedTags) != 1 ||
		"sha256:"+got[0].SignedTags[0].Digest != digest || strings.Join(got[0].SignedTags[0].Signers, ",") != "vt" {
		t.Fatalf("docker trust inspect does not show v1 at %s signed by vt: %v\n%s", digest, err, stdout)
	}
	if r := mustRun(t, nil, "verify", "--signer", "vt", repo+":v1"); strings.TrimSpace(r.stdout) != repo+"@"+digest {
		t.Fatalf("verify --signer vt printed %q, want %s@%s", r.stdout, repo, digest)
	}
	if !v.TokenValid(tok) {
		t.Error("the user's own token was revoked")
	}
	assertNoSecrets(t, []string{tok}, r.stdout+"\n"+r.stderr, out)

	// vault-transit:// is a signing key only: where a PEM is needed it is refused.
	r = signStep(t, vars, "init", "--root-key", "vault-transit://transit/"+keyName, "--targets-key-out", filepath.Join(t.TempDir(), "targets.key"), env.Repo("vault-transit-init"))
	if r.code == 0 || !strings.Contains(r.stderr, "never leaves Vault") {
		t.Errorf("--root-key vault-transit:// : exit %d, stderr %q", r.code, r.stderr)
	}
}

// transitKey creates an ecdsa-p256 Transit key and writes its public half
// to a file: the key's name and that file.
func transitKey(t *testing.T, v *vaultenv.Vault, name string) (keyName, pubFile string) {
	t.Helper()
	keyName = vaultName(name)
	if err := v.CreateTransitKey(keyName, "ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	pubPEM, err := v.TransitPublicKeyPEM(keyName)
	if err != nil {
		t.Fatal(err)
	}
	pubFile = filepath.Join(t.TempDir(), "vt.pub")
	if err := os.WriteFile(pubFile, []byte(pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	return keyName, pubFile
}
