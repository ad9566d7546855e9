package main

import (
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/testenv"
)

// testBackupRestore is TestProductionNotary's backup step: deploy/README.md's
// pg_dump of both databases, restored into a new cluster and servers. The
// restored notary serves what was signed and signs again (its signer
// decrypts the restored timestamp and snapshot keys); with another signer
// passphrase the restored databases cannot publish.
func testBackupRestore(t *testing.T, p *testenv.ProductionNotary, vars map[string]string) {
	repo, signerKey := setupProduction(t, vars, "prod-backup")
	signVars := with(vars, "SIGN_STEP_KEY", signerKey)
	v1, _ := pushRandom(t, repo+":v1")
	mustRun(t, signVars, "sign", repo+":v1")
	serverDump, signerDump, err := p.Backup(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("same passphrase", func(t *testing.T) {
		q := p.Restore(t, serverDump, signerDump, "")
		at := with(vars, "SIGN_STEP_NOTARY_SERVER", q.URL)
		if r := mustRun(t, at, "verify", "--signer", "ci", repo+":v1"); strings.TrimSpace(r.stdout) != repo+"@"+v1 {
			t.Errorf("restored notary: verify printed %q, want %s@%s", r.stdout, repo, v1)
		}
		v2, _ := pushRandom(t, repo+":v2")
		mustRun(t, with(at, "SIGN_STEP_KEY", signerKey), "sign", repo+":v2")
		if r := mustRun(t, at, "verify", "--signer", "ci", repo+":v2"); strings.TrimSpace(r.stdout) != repo+"@"+v2 {
			t.Errorf("restored notary: verify of the new tag printed %q, want %s@%s", r.stdout, repo, v2)
		}
	})

	t.Run("another passphrase", func(t *testing.T) {
		q := p.Restore(t, serverDump, signerDump, "not-the-signer-passphrase")
		at := with(signVars, "SIGN_STEP_NOTARY_SERVER", q.URL)
		pushRandom(t, repo+":v3")
		r := signStep(t, at, "sign", repo+":v3")
		if r.code == 0 {
			t.Fatalf("restored signer database with another passphrase still signs:\n%s", r.stdout)
		}
		t.Logf("sign with another signer passphrase: exit %d: %s", r.code, r.stderr)
	})
}
