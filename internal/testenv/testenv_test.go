package testenv_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.WithAuthRegistry(), testenv.WithTokenRegistry()))
}

var pass = testenv.Passphrases{Root: "root-passphrase", Repository: "repo-passphrase"}

func TestRegistryV2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		host       string
		user, pass string
		want       int
	}{
		{"open", env.RegistryHost, "", "", http.StatusOK},
		{"auth/no credentials", env.Auth.Host, "", "", http.StatusUnauthorized},
		{"auth/wrong password", env.Auth.Host, env.Auth.Username, "wrong", http.StatusUnauthorized},
		{"auth/credentials", env.Auth.Host, env.Auth.Username, env.Auth.Password, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+tt.host+"/v2/", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := env.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET /v2/ = %s, want %d", resp.Status, tt.want)
			}
		})
	}
}

// TestNotaryDelegationUpload publishes a targets/releases delegation and a target
// signed by it: the upload of targets/releases.json is what unpatched notary-server
// v0.7.0 built with Go >= 1.17 rejects (checked by hand once with a server built
// without notaryPatch: `publish` fails with "trust server rejected operation").
func TestNotaryDelegationUpload(t *testing.T) {
	t.Parallel()
	notary := env.Notary(t, pass)
	gun := env.Repo("notary-delegation")
	priv, pub := writeDelegationKey(t, "targets/releases")
	digest := sha256.Sum256([]byte("hi\n"))

	for _, args := range [][]string{
		{"init", gun},
		{"key", "import", priv},
		{"delegation", "add", gun, "targets/releases", pub, "--all-paths"},
		{"addhash", gun, "v1", "3", "--sha256", hex.EncodeToString(digest[:]), "--roles", "targets/releases"},
		{"publish", gun},
	} {
		if _, _, err := notary.Run(args...); err != nil {
			t.Fatal(err)
		}
	}

	// A fresh trust dir reads everything back from the server.
	out, _, err := env.Notary(t, pass).Run("list", gun, "--roles", "targets/releases")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "v1") || !strings.Contains(out, "targets/releases") {
		t.Errorf("notary list: target v1 in targets/releases missing:\n%s", out)
	}
}

// writeDelegationKey writes an unencrypted ECDSA key for role and its public key.
// The key is made here because notary 0.7.0 cannot import the encrypted files that
// `notary key generate -o` writes (they lack the "path" header).
func writeDelegationKey(t *testing.T, role string) (privFile, pubFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	privFile, pubFile = filepath.Join(dir, "delegation.key"), filepath.Join(dir, "delegation.pub")
	for file, block := range map[string]*pem.Block{
		privFile: {Type: "PRIVATE KEY", Headers: map[string]string{"role": role}, Bytes: privDER},
		pubFile:  {Type: "PUBLIC KEY", Bytes: pubDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return privFile, pubFile
}

// TestDockerTrustSigner adds a signer to a new repository with the docker CLI,
// which initializes the repository on our notary-server, and reads it back.
func TestDockerTrustSigner(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not on PATH; skipping docker trust interop")
	}
	docker := env.Docker(t, pass)
	repo := env.Repo("docker-signer")
	keys := t.TempDir()

	for _, args := range [][]string{
		{"trust", "key", "generate", "ci-bot", "--dir", keys},
		{"trust", "signer", "add", "--key", filepath.Join(keys, "ci-bot.pub"), "ci-bot", repo},
	} {
		if _, _, err := docker.Run(args...); err != nil {
			t.Fatal(err)
		}
	}

	out, _, err := env.Docker(t, pass).Run("trust", "inspect", repo)
	if err != nil {
		t.Fatal(err)
	}
	var inspect []struct{ Signers []struct{ Name string } }
	if err := json.Unmarshal([]byte(out), &inspect); err != nil {
		t.Fatalf("docker trust inspect output: %v\n%s", err, out)
	}
	if len(inspect) != 1 || !slices.ContainsFunc(inspect[0].Signers, func(s struct{ Name string }) bool { return s.Name == "ci-bot" }) {
		t.Errorf("docker trust inspect: signer ci-bot missing:\n%s", out)
	}
}

// TestEngineReachesRegistry checks that the Docker engine can talk to our registry
// once the CA is installed: pulling a missing tag must fail with "not found", not a
// TLS error.
func TestEngineReachesRegistry(t *testing.T) {
	t.Parallel()
	if !testenv.EngineAvailable() {
		t.Skip("no Docker engine (docker info failed); skipping engine interop")
	}
	if err := env.InstallEngineCA(); err != nil {
		t.Fatal(err)
	}
	_, _, err := env.Docker(t, pass).Run("pull", env.Repo("engine")+":missing")
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("docker pull of a missing tag: got %v, want a \"not found\" error", err)
	}
}
