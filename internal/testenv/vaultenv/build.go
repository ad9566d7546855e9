package vaultenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// VaultVersion is the Vault server release that tools/vault/go.mod pins.
const VaultVersion = "1.20.4"

// sdkModule is the sdk release that the shims patch (see tools/vault/README.md).
const sdkModule = "github.com/hashicorp/vault/sdk@v0.19.0"

// Binary returns the path of a Vault server binary built from the Go module
// proxy by tools/vault, building it on first use. The result is cached in
// os.UserCacheDir()/sign-step/tools under a name that hashes every input of
// the build, so a change to go.mod, go.sum, the shims or the Go version builds
// a new binary and nothing installed by hand is ever used.
func Binary(ctx context.Context) (string, error) {
	toolsDir, err := toolsDir()
	if err != nil {
		return "", err
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return "", err
	}
	key, err := buildKey(toolsDir, goVersion)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "sign-step", "tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "vault-"+VaultVersion+"-"+key)
	if isExecutable(bin) {
		return bin, nil
	}

	// Parallel test packages (go test ./...) all get here at once; the lock
	// makes one of them build while the others wait and then reuse it.
	unlock, err := lockFile(ctx, bin+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) {
		return bin, nil
	}
	if err := build(ctx, toolsDir, bin); err != nil {
		return "", fmt.Errorf("building vault %s: %w", VaultVersion, err)
	}
	return bin, nil
}

// toolsDir finds tools/vault from this source file, so that it works from any
// working directory (go test runs in the package dir, go run in the caller's).
func toolsDir() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("vaultenv: cannot locate source directory")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "..", "..", "tools", "vault")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("vaultenv: tools module not found: %w", err)
	}
	return filepath.Clean(dir), nil
}

// buildInputs are the tools/vault files copied into the build directory.
var buildInputs = []string{"go.mod", "go.sum", "tools.go"}

// buildKey is a short hash of everything that determines the binary.
func buildKey(toolsDir, goVersion string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	shims, err := filepath.Glob(filepath.Join(toolsDir, "shims", "*.shim"))
	if err != nil {
		return "", err
	}
	files := append(append([]string{}, buildInputs...), relAll(toolsDir, shims)...)
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(toolsDir, name))
		if errors.Is(err, fs.ErrNotExist) && name == "go.sum" {
			continue // optional: tidy writes it in the build dir
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func relAll(base string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i], _ = filepath.Rel(base, p)
	}
	return out
}

// build makes the binary in a temp dir: tools module + shimmed sdk copy,
// tidy, build to a temp file next to bin, then an atomic rename.
func build(ctx context.Context, toolsDir, bin string) error {
	work, err := os.MkdirTemp("", "sign-step-vault-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The sdk copy comes from the module cache (downloaded through the
	// proxy if missing); it is made writable before the shims edit it.
	// This runs while work has no go.mod yet: the tools module's replace
	// points at the sdk copy that does not exist yet.
	var dl struct{ Dir, Error string }
	out, err := goCmd(ctx, work, "mod", "download", "-json", sdkModule).Output() // JSON on stdout only
	if jerr := json.Unmarshal(out, &dl); err != nil || jerr != nil || dl.Dir == "" {
		return fmt.Errorf("go mod download %s: %v %s\n%s", sdkModule, err, dl.Error, out)
	}
	sdk := filepath.Join(work, "sdk")
	if err := copyTree(dl.Dir, sdk); err != nil {
		return err
	}
	if err := applyShims(filepath.Join(toolsDir, "shims"), sdk); err != nil {
		return err
	}

	for _, name := range buildInputs {
		err := copyFile(filepath.Join(toolsDir, name), filepath.Join(work, name))
		if err != nil && !(name == "go.sum" && errors.Is(err, fs.ErrNotExist)) {
			return err
		}
	}

	// -e: keep going past packages that do not resolve; only what the
	// server binary imports has to build.
	if out, err := goCmd(ctx, work, "mod", "tidy", "-e").CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy: %v\n%s", err, tail(out, 4000))
	}
	tmp := fmt.Sprintf("%s.tmp%d", bin, os.Getpid())
	defer os.Remove(tmp)
	// -s -w: the binary is large; symbols are not needed to run tests.
	if out, err := goCmd(ctx, work, "build", "-ldflags=-s -w", "-o", tmp, "github.com/hashicorp/vault").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, tail(out, 4000))
	}
	return os.Rename(tmp, bin)
}

// goCmd runs the go command with the settings the Vault build needs:
// GONOSUMDB because several hashicorp plugin modules have no checksum-database
// entries, -mod=mod because go.sum is completed during the build, CGO off for
// a self-contained binary, GOWORK off so no workspace leaks in.
func goCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOFLAGS=-mod=mod -buildvcs=false",
		"GONOSUMDB=github.com/hashicorp",
		"GOWORK=off",
		"CGO_ENABLED=0",
	)
	return cmd
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// lockFile takes an exclusive flock, polling so that ctx can cancel the wait.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another vault build (%s): %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies regular files and dirs (the module cache is read-only, so
// the copy gets fresh, writable modes).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil
	})
}

// tail returns at most the last n bytes of b, for readable error messages.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
