package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Pinned tool versions. The registry version must match tools/registry/go.mod.
const (
	registryVersion = "v3.1.2"
	notaryModule    = "github.com/theupdateframework/notary"
	notaryVersion   = "v0.7.0"
)

// notaryPatch makes notary-server read the raw multipart filename: since Go 1.17
// Part.FileName strips directories, so "targets/releases.json" arrives as "releases.json"
// and every delegation upload fails with "invalid role" (see tools/notary/README.md).
var notaryPatch = struct{ file, oldImport, newImport, oldLine, newLine string }{
	file:      "server/handlers/default.go",
	oldImport: "\t\"io\"\n",
	newImport: "\t\"io\"\n\t\"mime\"\n",
	oldLine:   `role := data.RoleName(strings.TrimSuffix(part.FileName(), ".json"))`,
	newLine: `_, disposition, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		role := data.RoleName(strings.TrimSuffix(disposition["filename"], ".json"))`,
}

// notaryLocalSigner puts a lock around the key map of notary-server's local
// trust service (tuf/signed.Ed25519, the test server's: no notary-signer):
// v0.7.0 has none, and two repositories created at once (parallel tests,
// the bench's parallel `docker trust signer add`) crash the server with
// "fatal error: concurrent map writes" in addKey. Each pair must match once.
var notaryLocalSigner = struct {
	file  string
	pairs []string
}{
	file: "tuf/signed/ed25519.go",
	pairs: []string{
		"import (\n\t\"crypto/rand\"\n\t\"errors\"\n", "import (\n\t\"crypto/rand\"\n\t\"errors\"\n\t\"sync\"\n",
		"type Ed25519 struct {\n\tkeys map[string]edCryptoKey\n}", "type Ed25519 struct {\n\tkeys map[string]edCryptoKey\n\tmu   sync.RWMutex\n}",
		"return &Ed25519{\n\t\tmake(map[string]edCryptoKey),\n\t}", "return &Ed25519{\n\t\tkeys: make(map[string]edCryptoKey),\n\t}",
		"func (e *Ed25519) addKey(role data.RoleName, k data.PrivateKey) {\n", "func (e *Ed25519) addKey(role data.RoleName, k data.PrivateKey) {\n\te.mu.Lock()\n\tdefer e.mu.Unlock()\n",
		"func (e *Ed25519) RemoveKey(keyID string) error {\n", "func (e *Ed25519) RemoveKey(keyID string) error {\n\te.mu.Lock()\n\tdefer e.mu.Unlock()\n",
		"func (e *Ed25519) ListKeys(role data.RoleName) []string {\n", "func (e *Ed25519) ListKeys(role data.RoleName) []string {\n\te.mu.RLock()\n\tdefer e.mu.RUnlock()\n",
		"func (e *Ed25519) ListAllKeys() map[string]data.RoleName {\n", "func (e *Ed25519) ListAllKeys() map[string]data.RoleName {\n\te.mu.RLock()\n\tdefer e.mu.RUnlock()\n",
		"func (e *Ed25519) PublicKeys(keyIDs ...string) (map[string]data.PublicKey, error) {\n", "func (e *Ed25519) PublicKeys(keyIDs ...string) (map[string]data.PublicKey, error) {\n\te.mu.RLock()\n\tdefer e.mu.RUnlock()\n",
		"func (e *Ed25519) GetPrivateKey(keyID string) (data.PrivateKey, data.RoleName, error) {\n", "func (e *Ed25519) GetPrivateKey(keyID string) (data.PrivateKey, data.RoleName, error) {\n\te.mu.RLock()\n\tdefer e.mu.RUnlock()\n",
	},
}

// notaryJose is the jose2go notary-signer encrypts its keys with. v0.7.0 pins
// a 2017 commit whose PBKDF2 hands crypto/hmac one hash for both inner and
// outer state; Go ≥1.24 panics on that ("hash generation function does not
// produce unique values"), so the signer dies on its first key. v1.6.0 has
// the same Encrypt/Decode API and builds the HMAC correctly.
const notaryJose = "github.com/dvsekhvalnov/jose2go@v1.6.0"

// Tools holds the paths of the built server and client binaries.
type Tools struct {
	Registry     string // distribution registry
	NotaryServer string // notary-server, patched for delegation uploads
	NotarySigner string // notary-signer, from the same patched source
	Notary       string // notary CLI
	Migrations   string // notary's own SQL migrations (migrations/{server,signer}/<db>/*.up.sql)
}

// BuildTools builds the tools from the Go module proxy, or reuses the copies cached
// under os.UserCacheDir()/sign-step/tools. It is safe to call from several processes.
func BuildTools(ctx context.Context) (Tools, error) {
	goenv, err := goCmd(ctx, "", nil, "env", "GOVERSION", "GOMOD")
	if err != nil {
		return Tools{}, err
	}
	goVersion, gomod, _ := strings.Cut(strings.TrimSpace(goenv), "\n")
	if gomod == "" || gomod == os.DevNull {
		return Tools{}, errors.New("testenv: must run inside the sign-step module (go env GOMOD is empty)")
	}
	registryMod := filepath.Join(filepath.Dir(gomod), "tools", "registry")

	var (
		wg                     sync.WaitGroup
		registryDir, notaryDir string
		registryErr, notaryErr error
	)
	wg.Go(func() { registryDir, registryErr = buildRegistry(ctx, goVersion, registryMod) })
	wg.Go(func() { notaryDir, notaryErr = buildNotary(ctx, goVersion) })
	wg.Wait()
	if err := errors.Join(registryErr, notaryErr); err != nil {
		return Tools{}, err
	}
	return Tools{
		Registry:     filepath.Join(registryDir, "registry"),
		NotaryServer: filepath.Join(notaryDir, "notary-server"),
		NotarySigner: filepath.Join(notaryDir, "notary-signer"),
		Migrations:   filepath.Join(notaryDir, "migrations"),
		Notary:       filepath.Join(notaryDir, "notary"),
	}, nil
}

func buildRegistry(ctx context.Context, goVersion, modDir string) (string, error) {
	var key []byte
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(modDir, f))
		if err != nil {
			return "", fmt.Errorf("testenv: registry tools module: %w", err)
		}
		key = append(key, b...)
	}
	return cached(goVersion, "registry", registryVersion, key, func(out string) error {
		_, err := goCmd(ctx, modDir, nil, "build", "-o", filepath.Join(out, "registry"),
			"github.com/distribution/distribution/v3/cmd/registry")
		return err
	})
}

// notaryBinaries are built from one patched notary copy, cached with its
// migrations/ directory; both are part of the cache key.
var notaryBinaries = []string{"notary-server", "notary-signer", "notary"}

func buildNotary(ctx context.Context, goVersion string) (string, error) {
	p := notaryPatch
	parts := append([]string{p.file, p.oldImport, p.newImport, p.oldLine, p.newLine, notaryJose, "migrations/", notaryLocalSigner.file}, notaryLocalSigner.pairs...)
	key := []byte(strings.Join(append(parts, notaryBinaries...), "\x00"))
	return cached(goVersion, "notary", notaryVersion, key, func(out string) error {
		work, err := os.MkdirTemp("", "sign-step-notary-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)

		// -mod=mod keeps a surrounding go.mod or vendor dir from interfering.
		js, err := goCmd(ctx, work, []string{"GOFLAGS=-mod=mod"}, "mod", "download", "-json", notaryModule+"@"+notaryVersion)
		if err != nil {
			return err
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal([]byte(js), &mod); err != nil || mod.Error != "" || mod.Dir == "" {
			return fmt.Errorf("testenv: go mod download %s@%s: %s %v", notaryModule, notaryVersion, mod.Error, err)
		}

		// The module cache is read-only and the proxy zip ships only vendor/modules.txt,
		// so build from a writable copy without vendor/.
		src := filepath.Join(work, "src")
		if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
			return err
		}
		if err := os.RemoveAll(filepath.Join(src, "vendor")); err != nil {
			return err
		}
		if err := patchFile(filepath.Join(src, p.file), p.oldImport, p.newImport, p.oldLine, p.newLine); err != nil {
			return err
		}
		if err := patchFile(filepath.Join(src, notaryLocalSigner.file), notaryLocalSigner.pairs...); err != nil {
			return err
		}
		if _, err := goCmd(ctx, src, []string{"GOFLAGS=-mod=mod"}, "get", notaryJose); err != nil {
			return err
		}
		for _, bin := range notaryBinaries {
			if _, err := goCmd(ctx, src, nil, "build", "-mod=mod", "-o", filepath.Join(out, bin), "./cmd/"+bin); err != nil {
				return err
			}
		}
		// The SQL topology applies the migrations of the very release it runs.
		return os.CopyFS(filepath.Join(out, "migrations"), os.DirFS(filepath.Join(src, "migrations")))
	})
}

// patchFile applies old→new replacement pairs, each of which must match exactly once,
// so an unexpected upstream file fails loudly instead of building an unpatched server.
func patchFile(path string, pairs ...string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	for i := 0; i < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			return fmt.Errorf("testenv: patch %s: want 1 match of %q, found %d", path, pairs[i], n)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

// cached returns the cache directory for a tool, running build into a temp dir and
// renaming it into place if it is missing. A file lock makes concurrent test
// binaries wait for one build instead of racing.
func cached(goVersion, name, version string, key []byte, build func(out string) error) (string, error) {
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	root := filepath.Join(cacheRoot, "sign-step", "tools")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(goVersion+"\x00"), key...))
	dir := filepath.Join(root, fmt.Sprintf("%s-%s-%x", name, version, sum[:6]))

	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("testenv: lock %s: %w", lock.Name(), err)
	}

	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(root, name+".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := build(tmp); err != nil {
		return "", fmt.Errorf("testenv: build %s %s: %w", name, version, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	return dir, os.Rename(tmp, dir)
}

// goCmd runs the go command with the workspace disabled and cgo off (static, portable
// binaries) and returns its stdout; errors carry stderr.
func goCmd(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "CGO_ENABLED=0"}, env...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return stdout.String(), nil
}
