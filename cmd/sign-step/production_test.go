package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestProductionNotary runs sign-step against notary as it is deployed:
// notary-server with a remote notary-signer (mutual TLS) and PostgreSQL
// storage for both, started on first use (testenv.Env.ProductionNotary), so
// the package's other tests do not pay for it. Its steps run in order: the
// fault step stops the signer the others need.
func TestProductionNotary(t *testing.T) {
	t.Parallel()
	p := env.ProductionNotary(t)
	vars := map[string]string{
		"SIGN_STEP_NOTARY_SERVER":                    p.URL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE":       rootPass,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass,
	}

	t.Run("init, signer add, sign; docker agrees", func(t *testing.T) {
		repo, signerKey := setupProduction(t, vars, "prod")
		digest, _ := pushRandom(t, repo+":v1")
		mustRun(t, with(vars, "SIGN_STEP_KEY", signerKey), "sign", repo+":v1")

		// docker, against the same notary-server, sees the tag signed by ci.
		d := p.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
		out, _, err := d.Run("trust", "inspect", repo)
		if err != nil {
			t.Fatal(err)
		}
		if got := signedTagsIn(t, out); len(got) != 1 || got["v1"] != digest+" by ci" {
			t.Errorf("docker sees %v, want only v1 at %s by ci:\n%s", got, digest, out)
		}
		if r := mustRun(t, vars, "verify", "--signer", "ci", repo+":v1"); strings.TrimSpace(r.stdout) != repo+"@"+digest {
			t.Errorf("verify printed %q, want %s@%s", r.stdout, repo, digest)
		}

		// The trust data is in PostgreSQL, and the server-held keys are in
		// notary-signer's database, not in notary-server.
		roles, err := p.SQL(t.Context(), "notaryserver", "SELECT string_agg(DISTINCT role, ',' ORDER BY role) FROM tuf_files WHERE gun = '"+repo+"'")
		if err != nil {
			t.Fatal(err)
		}
		if want := "root,snapshot,targets,targets/ci,targets/releases,timestamp"; roles != want {
			t.Errorf("tuf_files roles for %s = %q, want %q", repo, roles, want)
		}
		keys, err := p.SQL(t.Context(), "notarysigner", "SELECT string_agg(role, ',' ORDER BY role) FROM private_keys WHERE gun = '"+repo+"'")
		if err != nil {
			t.Fatal(err)
		}
		if keys != "snapshot,timestamp" {
			t.Errorf("notary-signer holds %q keys for %s, want snapshot,timestamp", keys, repo)
		}
	})

	t.Run("docker signer add; sign-step signs", func(t *testing.T) {
		// docker initializes the repository: notary-server creates its
		// timestamp and snapshot keys in notary-signer.
		d := p.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
		repo := env.Repo("prod-docker")
		s := addDockerSigner(t, d, "ci", repo)
		digest, _ := pushRandom(t, repo+":v1")
		mustRun(t, with(vars, "SIGN_STEP_KEY", s.keyFile), "sign", repo+":v1")
		out, _, err := s.inspect(t, repo+":v1")
		if err != nil {
			t.Fatal(err)
		}
		if got := signedTagsIn(t, out); got["v1"] != digest+" by ci" {
			t.Errorf("docker sees v1 as %q, want %s by ci:\n%s", got["v1"], digest, out)
		}
	})

	t.Run("backup and restore", func(t *testing.T) { testBackupRestore(t, p, vars) })

	t.Run("notary-signer down at publish", func(t *testing.T) {
		repo, signerKey := setupProduction(t, vars, "prod-fault")
		signVars := with(vars, "SIGN_STEP_KEY", signerKey)
		old, _ := pushRandom(t, repo+":v1")
		mustRun(t, signVars, "sign", repo+":v1")
		moved, _ := pushRandom(t, repo+":v1") // the tag now names an image trust does not
		before := trustRows(t, p, repo)

		p.StopSigner()
		t.Cleanup(func() { // leave the topology usable whatever happens below
			if err := p.StartSigner(context.Background()); err != nil {
				t.Error(err)
			}
		})
		r := signStep(t, signVars, "sign", repo+":v1")
		t.Logf("sign with notary-signer down: exit %d: %s", r.code, r.stderr)
		if r.code != 6 {
			t.Errorf("exit %d, want 6 (notary)\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 {
			t.Errorf("stderr has %d lines, want one:\n%s", len(lines), r.stderr)
		}
		for _, want := range []string{p.URL, "could not sign", "notary-signer"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr does not name %q: %s", want, r.stderr)
			}
		}
		if after := trustRows(t, p, repo); after != before {
			t.Errorf("trust data changed while the signer was down:\nbefore %s\nafter  %s", before, after)
		}

		// With the signer back, readers still see the old signature, and
		// the same sign now publishes.
		if err := p.StartSigner(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Logf("notary-server restarts so far to reconnect to notary-signer: %d", p.ServerRestarts())
		if r := mustRun(t, vars, "verify", repo+":v1"); strings.TrimSpace(r.stdout) != repo+"@"+old {
			t.Errorf("after the failed publish verify printed %q, want %s@%s", r.stdout, repo, old)
		}
		mustRun(t, signVars, "sign", repo+":v1")
		if trustRows(t, p, repo) == before {
			t.Error("trust data rows did not change after a successful publish: the check above proves nothing")
		}
		d := p.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
		out, _, err := d.Run("trust", "inspect", repo+":v1")
		if err != nil {
			t.Fatal(err)
		}
		if got := signedTagsIn(t, out); got["v1"] != moved+" by ci" {
			t.Errorf("after recovery docker sees v1 as %q, want %s by ci:\n%s", got["v1"], moved, out)
		}
	})
}

// setupProduction makes a repository with sign-step alone (init with a root
// key, a generated targets key, signer ci added) on vars' notary server and
// returns it with ci's key file.
func setupProduction(t *testing.T, vars map[string]string, name string) (repo, signerKey string) {
	t.Helper()
	repo, dir := env.Repo(name), t.TempDir()
	root, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := utils.ConvertPrivateKeyToPKCS8(root, "root", "", rootPass)
	if err != nil {
		t.Fatal(err)
	}
	rootKey, targetsKey := filepath.Join(dir, "root.key"), filepath.Join(dir, "targets.key")
	signerKey, signerPub := filepath.Join(dir, "ci.key"), filepath.Join(dir, "ci.pub")
	if err := os.WriteFile(rootKey, rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, vars, "init", repo, "--root-key", rootKey, "--targets-key-out", targetsKey)
	mustRun(t, vars, "key", "generate", "ci", "--out", signerKey, "--pub-out", signerPub)
	mustRun(t, vars, "signer", "add", "ci", "--public-key", signerPub, "--key", targetsKey, repo)
	return repo, signerKey
}

// trustRows is every stored version of repo's metadata (role, version and
// checksum) in notary-server's database.
func trustRows(t *testing.T, p *testenv.ProductionNotary, repo string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := p.SQL(ctx, "notaryserver", "SELECT string_agg(role || '@' || version || ':' || coalesce(sha256, ''), ' ' ORDER BY role, version) FROM tuf_files WHERE gun = '"+repo+"'")
	if err != nil {
		t.Fatal(err)
	}
	if rows == "" {
		t.Fatalf("no trust data for %s in notary-server's database", repo)
	}
	return rows
}

// signedTags maps each tag `docker trust inspect` prints to "DIGEST by SIGNERS".
func signedTagsIn(t *testing.T, out string) map[string]string {
	t.Helper()
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	tags := map[string]string{}
	for _, r := range got {
		for _, st := range r.SignedTags {
			tags[st.SignedTag] = "sha256:" + st.Digest + " by " + strings.Join(st.Signers, ",")
		}
	}
	return tags
}
