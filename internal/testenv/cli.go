package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Passphrases are handed to CLIs through their environment variables.
type Passphrases struct {
	Root       string // root key
	Repository string // targets, snapshot and delegation keys
}

// CLI runs a client binary with a fixed, explicit environment (never the test
// process's), so parallel tests cannot leak settings into each other.
type CLI struct {
	Path      string   // binary
	BaseArgs  []string // prepended to every Run
	Env       []string // complete environment of the child
	ConfigDir string   // DOCKER_CONFIG for docker, the trust dir (-d) for notary
}

// Run runs the CLI with args. A non-nil error includes the command line and the
// output (the notary CLI prints its errors on stdout).
func (c *CLI) Run(args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(c.Path, append(append([]string(nil), c.BaseArgs...), args...)...)
	cmd.Env = c.Env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("%s %s: %w\nstdout: %s\nstderr: %s",
			filepath.Base(c.Path), strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), nil
}

// Docker returns a docker CLI with its own DOCKER_CONFIG and HOME (temp dirs of t)
// that trusts the Env's CA for notary and the registries, and uses the Env's notary.
// DOCKER_HOST is passed through for tests that need the engine.
func (e *Env) Docker(t testing.TB, p Passphrases) *CLI {
	t.Helper()
	home := t.TempDir()
	config := filepath.Join(home, ".docker")
	notaryHost := strings.TrimPrefix(e.NotaryURL, "https://")
	for _, host := range e.hosts(notaryHost) {
		d := filepath.Join(config, "tls", host)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), e.CACertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"DOCKER_CONFIG=" + config,
		"DOCKER_CONTENT_TRUST_SERVER=" + e.NotaryURL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=" + p.Root,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + p.Repository,
	}
	if h, ok := os.LookupEnv("DOCKER_HOST"); ok {
		env = append(env, "DOCKER_HOST="+h)
	}
	return &CLI{Path: "docker", Env: env, ConfigDir: config}
}

// Notary returns a notary CLI bound to the Env's server and CA, with its own trust
// dir and HOME (temp dirs of t).
func (e *Env) Notary(t testing.TB, p Passphrases) *CLI {
	t.Helper()
	home := t.TempDir()
	trust := filepath.Join(home, "trust")
	return &CLI{
		Path:     e.NotaryCLI,
		BaseArgs: []string{"-s", e.NotaryURL, "--tlscacert", e.CACertFile, "-d", trust},
		Env: []string{
			"HOME=" + home,
			"NOTARY_ROOT_PASSPHRASE=" + p.Root,
			"NOTARY_TARGETS_PASSPHRASE=" + p.Repository,
			"NOTARY_SNAPSHOT_PASSPHRASE=" + p.Repository,
			"NOTARY_DELEGATION_PASSPHRASE=" + p.Repository,
		},
		ConfigDir: trust,
	}
}

// hosts returns the registry hosts plus extra.
func (e *Env) hosts(extra ...string) []string {
	hosts := append([]string{e.RegistryHost}, extra...)
	if e.Auth != nil {
		hosts = append(hosts, e.Auth.Host)
	}
	if e.Token != nil {
		hosts = append(hosts, e.Token.Host, strings.TrimPrefix(e.Token.NotaryURL, "https://"))
	}
	return hosts
}

// EngineAvailable reports whether a Docker engine answers `docker info`.
var EngineAvailable = sync.OnceValue(func() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info").Run() == nil
})

// InstallEngineCA makes the local Docker engine trust the registries' certificates
// by writing /etc/docker/certs.d/<host:port>/ca.crt (needs root). Close removes them.
// It is safe to call from parallel tests.
func (e *Env) InstallEngineCA() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, host := range e.hosts() {
		d := filepath.Join("/etc/docker/certs.d", host)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if !slices.Contains(e.installed, d) {
			e.installed = append(e.installed, d)
		}
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), e.CACertPEM, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// EngineReady reports whether the Docker engine can judge (it runs and trusts
// the test registries' CA). Outside CI a machine without one may skip the
// engine's checks; in CI (CI=true) its absence fails the test, so a judge
// the suite promises is never skipped silently.
func (e *Env) EngineReady(t testing.TB) bool {
	t.Helper()
	var why string
	if !EngineAvailable() {
		why = "no Docker engine (`docker info` fails)"
	} else if err := e.InstallEngineCA(); err != nil {
		why = fmt.Sprintf("cannot make the engine trust the test registry CA: %v", err)
	}
	if why == "" {
		return true
	}
	if inCI(os.Getenv) {
		t.Fatalf("%s, and CI=true: the engine is one of this suite's judges", why)
	}
	t.Log(why + ": the engine's checks are skipped outside CI")
	return false
}
