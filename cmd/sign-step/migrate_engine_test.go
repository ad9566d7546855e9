package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
)

// TestMigrateDockerTrustSignedTag: a tag `docker trust sign` made (through
// the engine) is migrated to cosign with docker's delegation key, and the
// cosign CLI accepts it; DCT still resolves the same digest.
func TestMigrateDockerTrustSignedTag(t *testing.T) {
	t.Parallel()
	if !env.EngineReady(t) {
		t.Skip("docker trust sign needs the engine")
	}
	repo := env.Repo("migrate-docker")
	s := dockerSigner(t, "ci", repo)
	img, err := crane.Image(map[string][]byte{"hello.txt": []byte("signed by docker trust sign\n")})
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, repo+":v1", img)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", repo+":v1").Run() })
	if _, _, err := s.docker.Run("pull", repo+":v1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.docker.Run("trust", "sign", repo+":v1"); err != nil {
		t.Fatal(err)
	}
	// The engine pushes its own manifest: the digest to migrate is the one
	// trust data vouches for.
	pinned := strings.TrimSpace(mustRun(t, nil, "verify", repo+":v1").stdout)
	_, digest, _ := strings.Cut(pinned, "@")
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	r := mustRun(t, vars, "migrate", "--to", "cosign", repo)
	if !strings.Contains(r.stdout, repo+":v1 "+digest+" cosign=added dct-signers=ci") {
		t.Fatalf("migrate: %s", r.stdout)
	}
	if out, err := cosignVerifyCLI(t, s.pubFile, repo+"@"+digest); err != nil {
		t.Fatalf("cosign verify: %v\n%s", err, out)
	}
	if r := mustRun(t, nil, "verify", "--require", "dct,cosign", "--cosign-key", s.pubFile, repo+":v1"); strings.TrimSpace(r.stdout) != repo+"@"+digest {
		t.Fatalf("verify: %q", r.stdout)
	}
}
