package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestEnginePullEnforcesTrust uses the real enforcement path as the judge:
// the docker CLI 28 with DOCKER_CONTENT_TRUST=1 asks notary for the tag's
// digest and has the engine pull that digest. A tag sign-step signed must
// pull; a tag it did not sign must be refused.
func TestEnginePullEnforcesTrust(t *testing.T) {
	t.Parallel()
	if !env.EngineReady(t) {
		t.Skip("DOCKER_CONTENT_TRUST=1 pull cannot be checked here")
	}
	repo := env.Repo("enforced")
	s := dockerSigner(t, "ci", repo)
	// A real (tiny) filesystem image, so the engine can unpack it.
	img, err := crane.Image(map[string][]byte{"hello.txt": []byte("signed by sign-step\n")})
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := pushImage(t, repo+":signed", img)
	other, err := crane.Image(map[string][]byte{"hello.txt": []byte("never signed\n")})
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, repo+":unsigned", other)

	if r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":signed"); r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	trusted := &testenv.CLI{Path: s.docker.Path, Env: append(append([]string(nil), s.docker.Env...), "DOCKER_CONTENT_TRUST=1"), ConfigDir: s.docker.ConfigDir}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", repo+":signed", repo+"@"+digest).Run() })

	out, _, err := trusted.Run("pull", repo+":signed")
	if err != nil {
		t.Fatalf("DOCKER_CONTENT_TRUST=1 docker pull of a signed tag failed: %v", err)
	}
	if !strings.Contains(out, digest) {
		t.Errorf("pull did not resolve through trust data to %s:\n%s", digest, out)
	}
	_, stderr, err := trusted.Run("pull", repo+":unsigned")
	if err == nil {
		t.Fatal("DOCKER_CONTENT_TRUST=1 docker pull accepted a tag sign-step did not sign")
	}
	if !strings.Contains(stderr, "No valid trust data for unsigned") {
		t.Errorf("refusal does not say why: %s", stderr)
	}
}
