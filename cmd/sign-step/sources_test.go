package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestSignSources pushes from each kind of --source and checks the registry
// holds the image at the tag and the report records its digest.
func TestSignSources(t *testing.T) {
	t.Parallel()
	repo := env.Repo("sources")
	s := dockerSigner(t, "ci", repo)
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "image.tar")
	tag, _ := name.NewTag("example.com/app:latest")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	upstream := env.Repo("upstream") + ":1"
	pushImage(t, upstream, img)

	cases := []struct{ name, source string }{
		{"docker save tarball", tarPath},
		{"registry reference", upstream},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ref := repo + ":src" + string(rune('a'+i))
			r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", "--source", tc.source, ref)
			if r.code != 0 {
				t.Fatalf("sign: %d %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, ref+"@"+want.String()) {
				t.Errorf("stdout %q does not report %s@%s", r.stdout, ref, want)
			}
			got, err := crane.Digest(ref, crane.WithTransport(env.Transport()))
			if err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Errorf("registry has %s at %s, want %s", got, ref, want)
			}
		})
	}
}

// TestSignFromDockerTrustDir signs with the keys docker left in its trust
// directory, and at debug level leaks neither the passphrase nor the key.
func TestSignFromDockerTrustDir(t *testing.T) {
	t.Parallel()
	repo := env.Repo("trustdir")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	out := t.TempDir()
	r := signStep(t, map[string]string{"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass, "SIGN_STEP_LOG_LEVEL": "debug", "SIGN_STEP_OUTPUT_DIR": out},
		"sign", "--trust-dir", filepath.Join(s.docker.ConfigDir, "trust"), repo+":v1")
	if r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "level=DEBUG msg=http") {
		t.Errorf("debug level shows no HTTP trace:\n%s", r.stderr)
	}
	key, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	haystack := r.stdout + r.stderr
	files, _ := filepath.Glob(filepath.Join(out, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		haystack += string(b)
	}
	for _, secret := range append([]string{repoPass}, keyLines(string(key))...) {
		if strings.Contains(haystack, secret) {
			t.Errorf("a secret (%d chars) reached the output or artifacts", len(secret))
		}
	}
}

// keyLines are the base64 body lines of a PEM.
func keyLines(pem string) []string {
	var lines []string
	for _, l := range strings.Split(pem, "\n") {
		if len(l) > 16 && !strings.HasPrefix(l, "-----") && !strings.Contains(l, ":") {
			lines = append(lines, l)
		}
	}
	return lines
}
