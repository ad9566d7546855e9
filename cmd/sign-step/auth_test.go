package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRegistryLogin signs on a registry that requires a login, with the
// credentials given as flags and as docker's config.json, and refuses
// without them.
func TestRegistryLogin(t *testing.T) {
	t.Parallel()
	reg := env.Auth
	repo := reg.Repo("private")
	s := dockerSigner(t, "ci", repo)
	digest := pushToAuthRegistry(t, repo+":v1")

	dockerConfig := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(reg.Username + ":" + reg.Password))
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": auth}}})
	if err := os.WriteFile(filepath.Join(dockerConfig, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	cases := []struct {
		name     string
		vars     map[string]string
		wantCode int
	}{
		{"flags", with(base, "SIGN_STEP_REGISTRY_USERNAME", reg.Username, "SIGN_STEP_REGISTRY_PASSWORD", "env://REG_PASS", "REG_PASS", reg.Password), 0},
		{"docker config.json", with(base, "DOCKER_CONFIG", dockerConfig), 0},
		{"no login", base, 5},
		{"wrong password", with(base, "SIGN_STEP_REGISTRY_USERNAME", reg.Username, "SIGN_STEP_REGISTRY_PASSWORD", "not-the-password"), 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := signStep(t, tc.vars, "sign", repo+":v1")
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, reg.Password) {
				t.Error("the registry password was printed")
			}
			if tc.wantCode == 0 && !strings.Contains(r.stdout, digest.String()) {
				t.Errorf("stdout %q does not name %s", r.stdout, digest)
			}
		})
	}
}

// pushToAuthRegistry pushes a random image to ref on the registry that
// requires a login, and returns its digest.
func pushToAuthRegistry(t *testing.T, ref string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: env.Auth.Username, Password: env.Auth.Password})); err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest
}
