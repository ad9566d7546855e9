package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/sign"
)

// TestVerifyPolicy: verify --policy on repositories signed by DCT and
// cosign, DCT only and cosign only (by the cosign CLI): the most specific
// scope applies, every system of it must hold, enforce fails the run and
// audit reports and exits 0; pins and signer modes come from the policy.
func TestVerifyPolicy(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "policy-both")
	b := setupWithSignStep(t, "policy-dct")
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	da, _ := pushRandom(t, a.repo+":v1")
	mustRun(t, vars, "sign", "--also-sign", "cosign", a.repo+":v1")
	store, chain, _ := testPKI(t, pubOf(t, a.signerPub))
	mustRun(t, vars, "sign", "--also-sign", "notation", "--notation-cert", chain, a.repo+":v1")
	db, _ := pushRandom(t, b.repo+":v1")
	mustRun(t, with(b.vars, "SIGN_STEP_KEY", b.signerKey), "sign", b.repo+":v1")
	cosignKey, cosignPub := cosignKeyPair(t)
	c := env.Repo("policy-cosign/app")
	dc, _ := pushRandom(t, c+":v1")
	if out, err := runCosign(t, []string{"COSIGN_PASSWORD=pw"}, "sign", "--yes", "--key", cosignKey, "--tlog-upload=false", c+"@"+dc); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	rootA := rootKeyID(t, a.repo)
	prefix := c[:strings.LastIndex(c, "/")] + "/*"

	policy := func(bLevel, bBlocks, aPin string, identity ...string) string {
		notation := ""
		if len(identity) > 0 {
			notation = `,"notation":{"trustStore":"` + store + `","trustedIdentities":["` + identity[0] + `"]}`
		}
		return `{"version":"1.0","policies":[
		 {"name":"both","registryScopes":["` + a.repo + `"],"dct":{"signers":["ci"],"pinRoots":["` + aPin + `"]},"cosign":{"keys":["` + a.signerPub + `"]}` + notation + `},
		 {"name":"b","registryScopes":["` + b.repo + `"],"level":"` + bLevel + `",` + bBlocks + `},
		 {"name":"moved","registryScopes":["` + prefix + `"],"cosign":{"keys":["cosign.pub"]}}]}`
	}
	dctAnyOf := `"dct":{"signers":["nobody","ci"],"signersMode":"anyOf"}`
	cosignToo := dctAnyOf + `,"cosign":{"keys":["` + cosignPub + `"]}`
	cases := []struct {
		name   string
		policy string
		code   int
		lines  []string
		passed map[string]bool // ref → passed in verify.json
	}{
		{"each repository its own systems", policy("enforce", dctAnyOf, rootA), 0,
			[]string{a.repo + "@" + da, b.repo + "@" + db, c + "@" + dc}, map[string]bool{a.repo + ":v1": true, b.repo + ":v1": true, c + ":v1": true}},
		{"gate moved to cosign, enforce", policy("enforce", cosignToo, rootA), 8,
			[]string{a.repo + "@" + da, c + "@" + dc}, map[string]bool{b.repo + ":v1": false}},
		{"gate moved to cosign, audit", policy("audit", cosignToo, rootA), 0,
			[]string{a.repo + "@" + da, c + "@" + dc}, map[string]bool{b.repo + ":v1": false}},
		{"wrong root pin", policy("enforce", dctAnyOf, strings.Repeat("ab", 32)), 8,
			[]string{b.repo + "@" + db, c + "@" + dc}, map[string]bool{a.repo + ":v1": false}},
		{"all-of signers", policy("enforce", `"dct":{"signers":["nobody","ci"]}`, rootA), 8,
			[]string{a.repo + "@" + da, c + "@" + dc}, map[string]bool{b.repo + ":v1": false}},
		{"notation identity that signed", policy("enforce", dctAnyOf, rootA, "x509.subject: C=US, ST=WA, O=sign-step, CN=ci"), 0,
			[]string{a.repo + "@" + da, b.repo + "@" + db, c + "@" + dc}, map[string]bool{a.repo + ":v1": true}},
		{"notation identity that did not sign", policy("enforce", dctAnyOf, rootA, "x509.subject: C=US, ST=WA, O=sign-step, CN=someone"), 8,
			[]string{b.repo + "@" + db, c + "@" + dc}, map[string]bool{a.repo + ":v1": false}},
		{"unknown field", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"dct":{},"cosgin":{}}]}`, 2, nil, nil},
		{"scope twice", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"dct":{}},{"name":"y","registryScopes":["*"],"dct":{}}]}`, 2, nil, nil},
		{"no system", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"]}]}`, 2, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cosign.pub"), mustRead(t, cosignPub), 0o600); err != nil {
				t.Fatal(err)
			}
			pf := filepath.Join(dir, "policy.json")
			if err := os.WriteFile(pf, []byte(tc.policy), 0o600); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			r := signStep(t, nil, "verify", "--policy", pf, "--output-dir", out, a.repo+":v1", b.repo+":v1", c+":v1")
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.code == 2 {
				if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Fatalf("want one line: %q", r.stderr)
				}
				return
			}
			got := strings.Fields(r.stdout)
			if strings.Join(got, " ") != strings.Join(tc.lines, " ") {
				t.Fatalf("stdout %q, want %q", got, tc.lines)
			}
			var res []sign.SystemResult
			if err := json.Unmarshal(mustRead(t, filepath.Join(out, "verify.json")), &res); err != nil {
				t.Fatal(err)
			}
			for _, x := range res {
				if want, ok := tc.passed[x.Ref]; ok && x.Passed != want {
					t.Fatalf("verify.json %s passed=%v, want %v: %+v", x.Ref, x.Passed, want, x)
				}
			}
		})
	}
	if r := signStep(t, nil, "verify", "--policy", "/nonexistent", "--require", "cosign", a.repo+":v1"); r.code != 2 {
		t.Fatalf("--policy with --require: exit %d", r.code)
	}
	pf := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(pf, []byte(`{"version":"1.0","policies":[{"name":"only-a","registryScopes":["`+a.repo+`"],"dct":{}}]}`), 0o600)
	if r := signStep(t, nil, "verify", "--policy", pf, b.repo+":v1"); r.code != 8 || !strings.Contains(r.stderr, "no policy") {
		t.Fatalf("a repository no policy covers: exit %d %q", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
