package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/testenv"
)

// env is the registry + notary-server shared by this package's tests.
var env *testenv.Env

func TestMain(m *testing.M) {
	if unitOnly(m) { // -short (make unit): no servers, the unit tests only
		os.Exit(m.Run())
	}
	code := testenv.Main(m, &env, testenv.WithAuthRegistry(), testenv.WithTokenRegistry())
	closeTestVault() // started on first use by the Vault tests (vault_test.go)
	os.Exit(code)
}

const repoPass = "repo-pass-0123456789"

// result is one in-process run of sign-step.
type result struct {
	stdout, stderr string
	code           int
}

// signStep runs sign-step with args and exactly the environment vars (plus
// the CA and notary server of the test env), as a CI job would.
func signStep(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	base := map[string]string{
		"HOME":                    t.TempDir(),
		"SIGN_STEP_NOTARY_SERVER": env.NotaryURL,
		"SIGN_STEP_NOTARY_CA":     env.CACertFile,
		"SIGN_STEP_REGISTRY_CA":   env.CACertFile,
		"SIGN_STEP_OUTPUT_DIR":    filepath.Join(t.TempDir(), "out"),
		"SIGN_STEP_LOG_LEVEL":     "warn",
	}
	for k, v := range vars {
		base[k] = v
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return base[k] }, &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// pushRandom pushes a random image to ref and returns its digest and manifest size.
func pushRandom(t *testing.T, ref string) (string, int64) {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return pushImage(t, ref, img)
}

func pushImage(t *testing.T, ref string, img remote.Taggable) (string, int64) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	opt := remote.WithTransport(env.Transport())
	switch img := img.(type) {
	case v1.Image:
		err = remote.Write(r, img, opt)
	case v1.ImageIndex:
		err = remote.WriteIndex(r, img, opt)
	default:
		t.Fatalf("cannot push %T", img)
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(raw))
	return h.String(), int64(len(raw))
}

// signer is a docker-made delegation key added to a repository by docker.
type signer struct {
	docker  *testenv.CLI
	keyFile string // docker's encrypted private key file
	pubFile string
}

// dockerSigner makes a key with `docker trust key generate NAME` and adds it
// with `docker trust signer add`, which also initializes the repository.
func dockerSigner(t *testing.T, name string, repos ...string) signer {
	t.Helper()
	return addDockerSigner(t, env.Docker(t, testenv.Passphrases{Root: "root-pass-0123456789", Repository: repoPass}), name, repos...)
}

// addDockerSigner is dockerSigner with an existing docker CLI (which holds
// the repositories' root and targets keys).
func addDockerSigner(t *testing.T, d *testenv.CLI, name string, repos ...string) signer {
	t.Helper()
	dir := t.TempDir()
	if _, _, err := d.Run("trust", "key", "generate", name, "--dir", dir); err != nil {
		t.Fatal(err)
	}
	s := signer{docker: d, pubFile: filepath.Join(dir, name+".pub")}
	files, _ := filepath.Glob(filepath.Join(d.ConfigDir, "trust", "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("role: "+name+"\n")) {
			s.keyFile = f
		}
	}
	if s.keyFile == "" {
		t.Fatalf("docker wrote no private key for %s in %v", name, files)
	}
	for _, repo := range repos {
		if _, _, err := d.Run(append([]string{"trust", "signer", "add", "--key", s.pubFile, name}, repo)...); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// dockerInspect is `docker trust inspect` as the docker CLI prints it.
func (s signer) inspect(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return s.docker.Run(append([]string{"trust", "inspect"}, args...)...)
}

type inspected []struct {
	Name       string
	SignedTags []struct {
		SignedTag string
		Digest    string
		Signers   []string
	}
}

func TestSignExistingTagsDockerAgrees(t *testing.T) {
	t.Parallel()
	repo := env.Repo("app")
	s := dockerSigner(t, "ci", repo)
	d1, _ := pushRandom(t, repo+":v1")
	d2, _ := pushRandom(t, repo+":v2")

	out := filepath.Join(t.TempDir(), "artifacts")
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": "file://" + s.keyFile, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass},
		"sign", "--output-dir", out, repo+":v1", repo+":v2")
	if r.code != 0 {
		t.Fatalf("sign exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	stdout, _, err := s.inspect(t, repo+":v1", repo+":v2")
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("docker trust inspect output: %v\n%s", err, stdout)
	}
	want := map[string]string{"v1": strings.TrimPrefix(d1, "sha256:"), "v2": strings.TrimPrefix(d2, "sha256:")}
	if len(got) != 2 {
		t.Fatalf("docker inspect shows %d repositories, want 2:\n%s", len(got), stdout)
	}
	for _, g := range got {
		if len(g.SignedTags) != 1 {
			t.Fatalf("%s: %d signed tags, want 1:\n%s", g.Name, len(g.SignedTags), stdout)
		}
		tag := g.SignedTags[0]
		if tag.Digest != want[tag.SignedTag] || strings.Join(tag.Signers, ",") != "ci" {
			t.Errorf("%s: docker sees %s at %s signed by %v, want %s by ci", g.Name, tag.SignedTag, tag.Digest, tag.Signers, want[tag.SignedTag])
		}
	}
	// The artifact is byte for byte what docker prints.
	art, err := os.ReadFile(filepath.Join(out, "trust-inspect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(art) != stdout {
		t.Errorf("trust-inspect.json differs from docker trust inspect:\n--- ours\n%s\n--- docker\n%s", art, stdout)
	}
	pretty, _, err := s.inspect(t, "--pretty", repo+":v1", repo+":v2")
	if err != nil {
		t.Fatal(err)
	}
	art, _ = os.ReadFile(filepath.Join(out, "trust-inspect.txt"))
	if string(art) != pretty {
		t.Errorf("trust-inspect.txt differs from docker trust inspect --pretty:\n--- ours\n%s\n--- docker\n%s", art, pretty)
	}
	var rep struct {
		Refs []struct {
			Ref    string
			Target struct {
				Digest string
				Size   int64
			}
			Roles []string
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Refs) != 2 {
		t.Fatalf("report.json: %v\n%s", err, b)
	}
	if strings.Join(rep.Refs[0].Roles, ",") != "targets/ci,targets/releases" && strings.Join(rep.Refs[0].Roles, ",") != "targets/releases,targets/ci" {
		t.Errorf("roles = %v, want targets/releases and targets/ci", rep.Refs[0].Roles)
	}
}

func TestInspectMatchesDocker(t *testing.T) {
	t.Parallel()
	repo := env.Repo("inspect")
	s := dockerSigner(t, "alice", repo)
	addDockerSigner(t, s.docker, "bob", repo)
	pushRandom(t, repo+":1.0")
	pushRandom(t, repo+":latest")
	if r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":1.0", repo+":latest"); r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	empty := env.Repo("never-signed")
	cases := [][]string{
		{repo},
		{repo + ":1.0"},
		{repo, repo + ":latest"},
		{"--pretty", repo},
		{"--pretty", repo + ":latest", repo},
		{empty},
		{"--pretty", empty},
		{repo + ":missing-tag"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			wantOut, wantErr, derr := s.inspect(t, args...)
			r := signStep(t, nil, append([]string{"inspect"}, args...)...)
			if r.stdout != wantOut {
				t.Errorf("stdout differs:\n--- sign-step\n%s\n--- docker\n%s", r.stdout, wantOut)
			}
			if (derr != nil) != (r.code != 0) {
				t.Errorf("exit code %d, docker error %v", r.code, derr)
			}
			if derr == nil && r.stderr != wantErr {
				t.Errorf("stderr %q, docker %q", r.stderr, wantErr)
			}
			// Docker failed: sign-step must say so too, in docker's words (an
			// empty stderr is contained in anything, so it is refused first).
			if got := strings.TrimSpace(r.stderr); derr != nil && (got == "" || !strings.Contains(wantErr, got)) {
				t.Errorf("stderr %q, docker %q", r.stderr, wantErr)
			}
		})
	}
}

func TestSignFromOCILayoutMultiArch(t *testing.T) {
	t.Parallel()
	repo := env.Repo("multi")
	s := dockerSigner(t, "ci", repo)
	// A two-platform index in an OCI layout, as buildx --output type=oci writes it.
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	dir := t.TempDir()
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: idx})); err != nil {
		t.Fatal(err)
	}
	wantDigest, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.RawManifest()

	r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", "--source", dir, repo+":1", repo+":stable")
	if r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	// The registry has the index at both tags, and docker sees both signed at the index digest.
	for _, tag := range []string{"1", "stable"} {
		desc, err := crane.Head(repo+":"+tag, crane.WithTransport(env.Transport()))
		if err != nil {
			t.Fatal(err)
		}
		if desc.Digest != wantDigest || desc.Size != int64(len(raw)) {
			t.Errorf("%s: registry has %s (%d bytes), want %s (%d)", tag, desc.Digest, desc.Size, wantDigest, len(raw))
		}
	}
	stdout, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].SignedTags) != 2 {
		t.Fatalf("docker sees:\n%s", stdout)
	}
	for _, st := range got[0].SignedTags {
		if "sha256:"+st.Digest != wantDigest.String() {
			t.Errorf("%s signed at %s, want index %s", st.SignedTag, st.Digest, wantDigest)
		}
	}
}
