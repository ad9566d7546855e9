package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/redact"
)

// runCLI runs sign-step on the clock now with exactly vars as its
// environment: no test server is configured, so nothing here may need one.
func runCLI(t *testing.T, now time.Time, vars map[string]string, args ...string) result {
	t.Helper()
	base := map[string]string{"HOME": t.TempDir(), "SIGN_STEP_RETRIES": "0"}
	for k, v := range vars {
		base[k] = v
	}
	var stdout, stderr bytes.Buffer
	code := runAt(context.Background(), func() time.Time { return now }, args, func(k string) string { return base[k] }, &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// encryptedKeyFile writes an encrypted delegation-style key and returns its path.
func encryptedKeyFile(t *testing.T, role, pass string) string {
	t.Helper()
	k, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := utils.ConvertPrivateKeyToPKCS8(k, data.RoleName(role), "", pass)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), role+".key")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every class of usage error exits 2 with one line naming what to fix, and
// nothing on stdout: argument counts, unknown commands, flags and values,
// from the command line, the environment and the action's inputs. None of
// these runs reaches a server.
func TestUsageErrorExitCodes(t *testing.T) {
	t.Parallel()
	rootKey := encryptedKeyFile(t, "root", "root-pass-0123456789")
	before, after := notary.DockerHubNotaryRetired.Add(-time.Hour), notary.DockerHubNotaryRetired.Add(time.Hour)
	action := func(kv ...string) map[string]string {
		m := map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": t.TempDir(), "INPUT_SUMMARY": "false"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name     string
		now      time.Time
		vars     map[string]string
		args     []string
		wantCode int
		want     string   // in the one stderr line
		notWant  []string // never in it
	}{
		{"unknown command", before, nil, []string{"bogus"}, 2, `unknown command "bogus" for "sign-step"`, nil},
		{"unknown command suggests", before, nil, []string{"sgn", "x:1"}, 2, "did you mean sign?", nil},
		{"unknown subcommand", before, nil, []string{"signer", "bogus"}, 2, `unknown command "bogus" for "sign-step signer"; commands: add, remove`, nil},
		{"unknown key subcommand", before, nil, []string{"key", "load", "x"}, 2, `unknown command "load" for "sign-step key"`, nil},
		{"version takes no argument", before, nil, []string{"version", "x"}, 2, `unknown command "x" for "sign-step version"`, nil},
		{"signer add: too few arguments", before, nil, []string{"signer", "add", "--public-key", "x", "repo"}, 2, "requires at least 2 arg(s), only received 1: usage: sign-step signer add NAME", nil},
		{"signer remove: too few arguments", before, nil, []string{"signer", "remove", "ci"}, 2, "requires at least 2 arg(s)", nil},
		{"inspect: no argument", before, nil, []string{"inspect"}, 2, "requires at least 1 arg(s), only received 0: usage: sign-step inspect", nil},
		{"key generate: no argument", before, nil, []string{"key", "generate"}, 2, "accepts 1 arg(s), received 0: usage: sign-step key generate NAME", nil},
		{"key rotate: one argument", before, nil, []string{"key", "rotate", "ci"}, 2, "accepts 2 arg(s), received 1", nil},
		{"init: no argument", before, nil, []string{"init"}, 2, "accepts 1 arg(s), received 0: usage: sign-step init REPOSITORY", nil},
		{"init: two arguments", before, nil, []string{"init", "a/b", "c/d"}, 2, "accepts 1 arg(s), received 2", nil},
		{"sign: no reference", before, nil, []string{"sign"}, 2, "no image reference given: usage: sign-step sign", nil},
		{"revoke: no reference", before, nil, []string{"revoke"}, 2, "no image reference given: usage: sign-step revoke", nil},
		{"unknown flag", before, nil, []string{"sign", "--bogus", "x/y:1"}, 2, "unknown flag: --bogus", nil},
		{"duration without unit", before, nil, []string{"sign", "--timeout", "5", "x/y:1"}, 2, `invalid duration "5": want a number with a unit`, nil},
		{"warn-within in days parses", before, nil, []string{"resign", "--warn-within", "30d", "--min-remaining", "180d", "--timeout", "1d"}, 2, "no repository given", nil},
		{"warn-within bad", before, nil, []string{"resign", "--warn-within", "30x", "a/b"}, 2, `invalid argument "30x" for "--warn-within"`, nil},
		{"env duration names the variable", before, map[string]string{"SIGN_STEP_TIMEOUT": "5"}, []string{"sign", "x/y:1"}, 2, `SIGN_STEP_TIMEOUT: invalid value for --timeout: invalid duration "5"`, nil},
		{"env days duration parses", before, map[string]string{"SIGN_STEP_TIMEOUT": "1d", "SIGN_STEP_WARN_WITHIN": "30d"}, []string{"resign"}, 2, "no repository given", nil},
		{"env int names the variable", before, map[string]string{"SIGN_STEP_RETRIES": "many"}, []string{"sign", "x/y:1"}, 2, "SIGN_STEP_RETRIES: invalid value for --retries", nil},
		{"env bool names the variable", before, map[string]string{"SIGN_STEP_DRY_RUN": "maybe"}, []string{"sign", "x/y:1"}, 2, "SIGN_STEP_DRY_RUN: invalid value for --dry-run", nil},
		{"bad log level", before, map[string]string{"SIGN_STEP_LOG_LEVEL": "loud"}, []string{"sign", "x/y:1"}, 2, "invalid --log-level", nil},
		{"no signing key", before, nil, []string{"sign", "x/y:1"}, 2, "no signing key: pass --key", nil},
		{"init hint names --root-passphrase", before, nil, []string{"init", "--root-key", rootKey, "--targets-key-out", filepath.Join(t.TempDir(), "t.key"), "registry.example.com/a/b"}, 3, "no passphrase was given (--root-passphrase or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE)", []string{"(--passphrase"}},

		{"action: no tags names the input", before, action("INPUT_COMMAND", "sign", "INPUT_KEY", "env://NOPE"), nil, 2, `no image reference given: give them in input tags (one per line) for command "sign"`, []string{"sign-step sign [flags]"}},
		{"action: flag named as input", before, action("INPUT_COMMAND", "sign", "INPUT_TAGS", "x/y:1"), nil, 2, "no signing key: pass input key (PEM", []string{"--key"}},
		{"action: bad input value", before, action("INPUT_COMMAND", "sign", "INPUT_TAGS", "x/y:1", "INPUT_TIMEOUT", "5"), nil, 2, `invalid argument "5" for "input timeout" flag`, []string{"--timeout"}},
		{"action: no key for the input", before, action("INPUT_COMMAND", "inspect"), nil, 2, `give them in input tags (one per line) for command "inspect"`, nil},

		{"docker.io after notary.docker.io's retirement", after, nil, []string{"verify", "alpine:3"}, 6, "notary.docker.io, the default notary of docker.io repositories such as docker.io/library/alpine, was retired on 2026-12-08: pass --notary-server", nil},
		{"docker.io retired, inspect", after, nil, []string{"inspect", "docker.io/team/app"}, 6, "was retired on 2026-12-08: pass --notary-server", nil},
		{"docker.io retired, action names the input", after, action("INPUT_COMMAND", "verify", "INPUT_TAGS", "team/app:v1"), nil, 6, "was retired on 2026-12-08: pass input notary-server", []string{"--notary-server"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.now, c.vars, c.args...)
			if r.code != c.wantCode {
				t.Errorf("exit code %d, want %d; stderr: %s", r.code, c.wantCode, r.stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "sign-step: ") || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr = %q, want one line containing %q", r.stderr, c.want)
			}
			for _, nw := range c.notWant {
				if strings.Contains(r.stderr, nw) {
					t.Errorf("stderr %q says %q", r.stderr, nw)
				}
			}
			if c.vars["GITHUB_ACTIONS"] == "" && r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if c.vars["GITHUB_ACTIONS"] != "" && !strings.Contains(r.stdout, "::error") {
				t.Errorf("no error annotation in %q", r.stdout)
			}
		})
	}
}

// version and --version print the version, exit 0, and need no environment.
func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, time.Now(), map[string]string{"SIGN_STEP_TIMEOUT": "5"}, args...)
		if r.code != 0 || r.stdout != "sign-step version "+version+"\n" || r.stderr != "" {
			t.Errorf("%v: code %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

// Before notary.docker.io's retirement, a docker.io ref still goes to it:
// the wiring picks it, and lets it through.
func TestDockerHubNotaryBeforeRetirement(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		now     time.Time
		server  string
		want    string
		wantErr bool
	}{
		{"before", notary.DockerHubNotaryRetired.Add(-time.Minute), "", notary.DockerHubNotary, false},
		{"after", notary.DockerHubNotaryRetired.Add(time.Minute), "", "", true},
		{"after, server given", notary.DockerHubNotaryRetired.Add(time.Minute), "https://notary.example.com", "https://notary.example.com", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			now := c.now
			home := t.TempDir()
			a := &app{getenv: func(k string) string { return map[string]string{"HOME": home}[k] }, secrets: &redact.Set{},
				log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
			a.common.notaryServer = c.server
			_, nc, err := a.clients(context.Background(), &notary.Keyring{}, "alpine:3")
			if c.wantErr {
				if err == nil {
					t.Fatal("clients accepted notary.docker.io after its retirement")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := nc.ServerFor("docker.io/library/alpine"); got != c.want {
				t.Errorf("notary server %s, want %s", got, c.want)
			}
			if err := nc.CheckServer("docker.io/library/alpine"); err != nil {
				t.Errorf("CheckServer: %v", err)
			}
		})
	}
}
