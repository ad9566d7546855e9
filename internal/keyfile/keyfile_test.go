package keyfile

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

func TestCreateRefusesWhatExists(t *testing.T) {
	t.Parallel()
	const original = "the only copy of the repository key\n"
	// Each case prepares dir and returns the path to write; target is a
	// file outside the path that must stay as it was.
	cases := []struct {
		name      string
		prepare   func(t *testing.T, dir, target string) string
		wantExist bool // refused with ExistsError (else another usage error)
	}{
		{"existing file", func(t *testing.T, dir, target string) string { return target }, true},
		{"symlink to a file", func(t *testing.T, dir, target string) string {
			return symlink(t, target, filepath.Join(dir, "key"))
		}, true},
		{"dangling symlink", func(t *testing.T, dir, target string) string {
			return symlink(t, filepath.Join(dir, "not-yet"), filepath.Join(dir, "key"))
		}, true},
		{"directory", func(t *testing.T, dir, target string) string {
			p := filepath.Join(dir, "key")
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			return p
		}, true},
		{"missing directory", func(t *testing.T, dir, target string) string { return filepath.Join(dir, "nope", "key") }, false},
		{"parent is a file", func(t *testing.T, dir, target string) string { return filepath.Join(target, "key") }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			target := filepath.Join(dir, "target")
			if err := os.WriteFile(target, []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			path := tc.prepare(t, dir, target)
			err := Create(File{Path: path, Body: []byte("new key"), Mode: PrivateMode})
			var ee *ExistsError
			if err == nil || errors.As(err, &ee) != tc.wantExist || core.ClassOf(err) != core.ClassUsage {
				t.Fatalf("Create(%s) = %v (class %d), want a usage error, ExistsError %v", path, err, core.ClassOf(err), tc.wantExist)
			}
			if b, err := os.ReadFile(target); err != nil || string(b) != original {
				t.Errorf("target now %q, %v; want it untouched", b, err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "not-yet")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the dangling symlink's target was created: %v", err)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
	return link
}

func TestCreateWritesNewFiles(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		mode os.FileMode
	}{
		{"private key", PrivateMode},
		{"public key", PublicMode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "k")
			if err := Create(File{Path: p, Body: []byte("pem"), Mode: tc.mode}); err != nil {
				t.Fatal(err)
			}
			st, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p)
			if !st.Mode().IsRegular() || string(b) != "pem" {
				t.Errorf("wrote %v %q", st.Mode(), b)
			}
			// The umask may only narrow the mode.
			if runtime.GOOS != "windows" && st.Mode().Perm()&^tc.mode != 0 {
				t.Errorf("mode %v, want at most %v", st.Mode().Perm(), tc.mode)
			}
		})
	}
}

func TestCreateAllOrNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		second func(dir string) string
	}{
		{"second exists", func(dir string) string {
			p := filepath.Join(dir, "pub")
			_ = os.WriteFile(p, []byte("old pub"), 0o644)
			return p
		}},
		{"same path twice", func(dir string) string { return filepath.Join(dir, ".", "key") }},
		// Passes Check (the directory exists, the name does not) and fails
		// at open even for root: the rollback path.
		{"second cannot be created", func(dir string) string { return "/proc/self/sign-step-key-test" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := os.Stat("/proc/self"); tc.name == "second cannot be created" && err != nil {
				t.Skip("no /proc")
			}
			dir := t.TempDir()
			first := filepath.Join(dir, "key")
			err := Create(File{Path: first, Body: []byte("k"), Mode: PrivateMode}, File{Path: tc.second(dir), Body: []byte("p"), Mode: PublicMode})
			if err == nil {
				t.Fatal("Create succeeded")
			}
			if _, serr := os.Lstat(first); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("after %v the first file stays: %v", err, serr)
			}
		})
	}
}
