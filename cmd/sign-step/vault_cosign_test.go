package main

import (
	"strings"
	"testing"
)

// TestVaultTransitCosign: with --key vault-transit://, --also-sign cosign
// signs through Transit too (prehashed SHA-256, the key never leaves
// Vault), and the real cosign CLI accepts the signature with the Transit
// key's public half.
func TestVaultTransitCosign(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	keyName, pubFile := transitKey(t, v, "cosign")
	a := setupWithSignStep(t, "transit-cosign")
	mustRun(t, a.vars, "signer", "add", "vt", "--public-key", pubFile, "--key", a.targetsKey, a.repo)
	digest, _ := pushRandom(t, a.repo+":v1")

	tok := readPolicyToken(t, v)
	vars := map[string]string{"SIGN_STEP_VAULT_CA": v.CACertFile, "VAULT_ADDR": v.Addr, "VAULT_TOKEN": tok}
	ref := "vault-transit://transit/" + keyName
	r := mustRun(t, vars, "sign", "--key", ref, "--also-sign", "cosign", a.repo+":v1")
	if !strings.Contains(r.stdout, "cosign added "+a.repo+"@"+digest) {
		t.Fatalf("stdout: %s", r.stdout)
	}
	if out, err := cosignVerifyCLI(t, pubFile, a.repo+"@"+digest); err != nil {
		t.Fatalf("cosign verify refused the Transit-made signature: %v\n%s", err, out)
	}
	if out, err := cosignVerifyCLI(t, a.signerPub, a.repo+"@"+digest); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Fatalf("cosign verify with another key: %v\n%s", err, out)
	}
	// migrate with the Transit key finds its own signature: nothing added.
	r = mustRun(t, vars, "migrate", "--to", "cosign", "--cosign-key", ref, a.repo)
	if !strings.Contains(r.stdout, "cosign=present") || strings.Contains(r.stdout, "added") {
		t.Fatalf("migrate after --also-sign: %s", r.stdout)
	}
	assertNoSecrets(t, []string{tok}, r.stdout+"\n"+r.stderr, t.TempDir())
}
