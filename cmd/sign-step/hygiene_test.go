package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// tree lists every file under dirs.
func tree(t *testing.T, dirs ...string) []string {
	t.Helper()
	var files []string
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

// TestNoKeyMaterialOnDisk runs the real binary with its own HOME, TMPDIR and
// working directory: after signing, the only new files are the
// artifacts, and none of them holds a secret.
func TestNoKeyMaterialOnDisk(t *testing.T) {
	t.Parallel()
	repo := env.Repo("nodisk")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	key, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	home, tmp, out := t.TempDir(), t.TempDir(), t.TempDir()
	before := tree(t, home, tmp, out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := process(t, ctx, map[string]string{"HOME": home, "TMPDIR": tmp, "SIGN_STEP_OUTPUT_DIR": out,
		"SIGN_STEP_KEY": string(key), "SIGN_STEP_PASSPHRASE": repoPass, "SIGN_STEP_LOG_LEVEL": "debug"}, "sign", repo+":v1")
	if r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	after := tree(t, home, tmp, out)
	var added []string
	for _, f := range after {
		if i := sort.SearchStrings(before, f); i >= len(before) || before[i] != f {
			added = append(added, strings.TrimPrefix(f, out+"/"))
		}
	}
	if strings.Join(added, ",") != "report.json,sign.env,trust-inspect.json,trust-inspect.txt" {
		t.Errorf("files written: %v, want only the artifacts", added)
	}
	haystack := r.stdout + r.stderr
	for _, f := range after {
		b, _ := os.ReadFile(f)
		haystack += string(b)
	}
	for _, secret := range append([]string{repoPass}, keyLines(string(key))...) {
		if strings.Contains(haystack, secret) {
			t.Errorf("a secret (%d chars) reached an output or a file", len(secret))
		}
	}
}

// TestFailedPushSignsNothing: the registry fails the manifest upload; the
// run fails as a registry error and the trust data is untouched, so no
// signed tag points at a manifest that is not there.
func TestFailedPushSignsNothing(t *testing.T) {
	t.Parallel()
	proxy, err := env.NewFaultProxy("https://" + env.RegistryHost)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	repo := proxy.Addr + "/" + strings.TrimPrefix(env.Repo("halfpush"), env.RegistryHost+"/")
	s := dockerSigner(t, "ci", repo)
	before := trustSnapshot(t, s, repo)
	dir := t.TempDir()
	writeLayout(t, dir)
	proxy.Fail(500, 1000)
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass, "SIGN_STEP_RETRIES": "1"}, "sign", "--source", dir, repo+":v1")
	if r.code != 5 {
		t.Fatalf("exit %d, want 5: %s", r.code, r.stderr)
	}
	if after := trustSnapshot(t, s, repo); after != before {
		t.Errorf("a failed push changed trust data: %s -> %s", before, after)
	}
}

// writeLayout writes a small random image as an OCI layout in dir.
func writeLayout(t *testing.T, dir string) string {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// newLayout is a fresh OCI layout holding one random image.
func newLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeLayout(t, dir)
	return dir
}
