package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/sign"
)

// TestLeavingDCTGuide walks the README's "Leaving DCT" guide on one
// repository whose old tags were signed by the notary CLI and by a plain
// DCT sign: dual-sign, backfill, move the gate, stop DCT. At every step
// the gate then in force (sign-step verify --policy) passes every tag, so
// no image is unsigned on any day; the real cosign CLI is the judge of
// every cosign signature, and the DCT gate failing once the trust data is
// deleted shows it really checked DCT.
func TestLeavingDCTGuide(t *testing.T) {
	t.Parallel()
	repo := env.Repo("leaving/app")
	s := dockerSigner(t, "ci", repo)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	n := notaryCLIOf(t, s)

	// Before: a 2017-style repository, v1 by the notary CLI, v2 by DCT alone.
	d1, size1 := pushRandom(t, repo+":v1")
	if _, _, err := n.Run("addhash", repo, "v1", strconv.FormatInt(size1, 10), "--sha256", strings.TrimPrefix(d1, "sha256:"), "-r", "targets/releases", "-p"); err != nil {
		t.Fatal(err)
	}
	d2, _ := pushRandom(t, repo+":v2")
	mustRun(t, vars, "sign", repo+":v2")

	dir := t.TempDir()
	policy := func(name, level, blocks string) string {
		p := filepath.Join(dir, name+".json")
		doc := `{"version":"1.0","policies":[{"name":"` + name + `","registryScopes":["` + repo + `"],"level":"` + level + `",` + blocks + `}]}`
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dct := `"dct":{}` // what DOCKER_CONTENT_TRUST=1 enforces: a trusted pull resolves it
	cosign := `"cosign":{"keys":["` + s.pubFile + `"]}`
	dctGate := policy("dct", "enforce", dct)
	bothGate := policy("both", "enforce", dct+","+cosign)
	cosignAudit := policy("cosign-audit", "audit", cosign)
	cosignGate := policy("cosign", "enforce", cosign)
	digests := map[string]string{"v1": d1, "v2": d2}
	// gate runs the deploy gate on tags and returns its exit code; when it
	// passes, every tag must be printed at its digest and marked passed.
	gate := func(step, pf string, tags ...string) int {
		t.Helper()
		out := t.TempDir()
		args := []string{"verify", "--policy", pf, "--output-dir", out}
		for _, tag := range tags {
			args = append(args, repo+":"+tag)
		}
		r := signStep(t, nil, args...)
		if r.code != 0 {
			t.Logf("%s: gate %s: exit %d: %s", step, filepath.Base(pf), r.code, r.stderr)
			return r.code
		}
		var res []sign.SystemResult
		if err := json.Unmarshal(mustRead(t, filepath.Join(out, "verify.json")), &res); err != nil {
			t.Fatalf("%s: verify.json: %v", step, err)
		}
		passed := map[string]bool{}
		for _, x := range res {
			passed[x.Ref] = x.Passed
		}
		for _, tag := range tags {
			if !strings.Contains(r.stdout, repo+"@"+digests[tag]) || !passed[repo+":"+tag] {
				t.Fatalf("%s: %s:%s not passed at %s\nstdout %s\nverify.json %+v", step, repo, tag, digests[tag], r.stdout, res)
			}
		}
		return 0
	}
	mustPass := func(step, pf string, tags ...string) {
		t.Helper()
		if code := gate(step, pf, tags...); code != 0 {
			t.Fatalf("%s: the gate %s refused (exit %d): an image would be unsigned", step, filepath.Base(pf), code)
		}
	}
	cosignJudge := func(step string, tags ...string) {
		t.Helper()
		for _, tag := range tags {
			if out, err := cosignVerifyCLI(t, s.pubFile, repo+"@"+digests[tag]); err != nil {
				t.Fatalf("%s: cosign verify %s: %v\n%s", step, tag, err, out)
			}
		}
	}
	mustPass("before", dctGate, "v1", "v2")

	// 1. Dual-sign now: every new release gets DCT and cosign.
	d3, _ := pushRandom(t, repo+":v3")
	digests["v3"] = d3
	mustRun(t, vars, "sign", "--also-sign", "cosign", repo+":v3")
	mustPass("dual-sign", dctGate, "v1", "v2", "v3")
	cosignJudge("dual-sign", "v3")
	if code := gate("dual-sign", cosignGate, "v1"); code != 8 {
		t.Fatalf("dual-sign: the cosign gate passed v1 before the backfill (exit %d)", code)
	}

	// 2. Backfill: a dry run shows what is missing and signs nothing; the
	// run signs it; a second run reports only present.
	r := mustRun(t, vars, "migrate", "--dry-run", "--to", "cosign", repo)
	if strings.Count(r.stdout, "cosign=missing") != 2 || strings.Count(r.stdout, "cosign=present") != 1 || sigLayerCount(t, repo+"@"+d1) != 0 {
		t.Fatalf("backfill dry run:\n%s", r.stdout)
	}
	mustRun(t, vars, "migrate", "--to", "cosign", repo)
	mustPass("backfill", dctGate, "v1", "v2", "v3")
	cosignJudge("backfill", "v1", "v2")
	if r := mustRun(t, vars, "migrate", "--to", "cosign", repo); strings.Contains(r.stdout, "added") || strings.Count(r.stdout, "cosign=present") != 3 {
		t.Fatalf("backfill second run changed something:\n%s", r.stdout)
	}

	// 3. Move the gates by editing the policy, not the pipeline.
	mustPass("gates: both", bothGate, "v1", "v2", "v3")
	mustPass("gates: cosign audit", cosignAudit, "v1", "v2", "v3")
	mustPass("gates: cosign enforce", cosignGate, "v1", "v2", "v3")

	// 4. Only then stop DCT: the trust data is deleted on the server (what
	// disabling content trust does on ACR).
	if _, stderr, err := n.Run("delete", repo, "--remote"); err != nil {
		t.Fatalf("notary delete --remote: %v\n%s", err, stderr)
	}
	if code := gate("DCT stopped", dctGate, "v1"); code != 8 {
		t.Fatalf("DCT stopped: the DCT gate still passed (exit %d): it did not check DCT", code)
	}
	mustPass("DCT stopped", cosignGate, "v1", "v2", "v3")
	cosignJudge("DCT stopped", "v1", "v2", "v3")
}
