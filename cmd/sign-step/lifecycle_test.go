package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/testenv"
)

const rootPass = "root-pass-0123456789"

// admin is a repository set up by sign-step alone: init with a root key and
// a generated targets key, a signer made by `key generate`, added by
// `signer add`.
type admin struct {
	repo, dir            string
	rootKey, targetsKey  string
	targetsID            string
	signerKey, signerPub string
	vars                 map[string]string
}

func setupWithSignStep(t *testing.T, name string) admin {
	t.Helper()
	a := admin{repo: env.Repo(name), dir: t.TempDir()}
	a.vars = map[string]string{"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	root, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := utils.ConvertPrivateKeyToPKCS8(root, "root", "", rootPass)
	if err != nil {
		t.Fatal(err)
	}
	a.rootKey = filepath.Join(a.dir, "root.key")
	if err := os.WriteFile(a.rootKey, rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	a.targetsKey = filepath.Join(a.dir, "targets.key")
	r := mustRun(t, a.vars, "init", a.repo, "--root-key", a.rootKey, "--targets-key-out", a.targetsKey)
	m := regexp.MustCompile(`repository key ([0-9a-f]{64})`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("init did not name the repository key: %q", r.stdout)
	}
	a.targetsID = m[1]
	a.signerKey = filepath.Join(a.dir, "ci.key")
	a.signerPub = filepath.Join(a.dir, "ci.pub")
	mustRun(t, a.vars, "key", "generate", "ci", "--out", a.signerKey, "--pub-out", a.signerPub)
	mustRun(t, a.vars, "signer", "add", "ci", "--public-key", a.signerPub, "--key", a.targetsKey, a.repo)
	return a
}

func mustRun(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	r := signStep(t, vars, args...)
	if r.code != 0 {
		t.Fatalf("sign-step %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// TestLifecycleDockerAgrees sets a repository up, signs, verifies, revokes,
// re-signs and rotates with sign-step alone; the docker CLI judges each step.
func TestLifecycleDockerAgrees(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "lifecycle")
	d := env.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
	docker := signer{docker: d}

	// init is idempotent with the same root.
	if r := mustRun(t, a.vars, "init", a.repo, "--root-key", a.rootKey, "--targets-key", a.targetsKey); !strings.Contains(r.stdout, "already initialized") {
		t.Errorf("second init: %q", r.stdout)
	}
	// docker sees the signer sign-step added.
	out, _, err := docker.inspect(t, "--pretty", a.repo)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ci\s+[0-9a-f]{12}$`).MatchString(out) {
		t.Errorf("docker does not list signer ci:\n%s", out)
	}
	// docker's signer add works on a repository sign-step set up, with our targets key in its trust dir.
	targetsPEM, _ := os.ReadFile(a.targetsKey)
	if err := os.MkdirAll(filepath.Join(d.ConfigDir, "trust", "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.ConfigDir, "trust", "private", a.targetsID+".key"), targetsPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Run("trust", "key", "generate", "bob", "--dir", a.dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Run("trust", "signer", "add", "--key", filepath.Join(a.dir, "bob.pub"), "bob", a.repo); err != nil {
		t.Fatalf("docker signer add on a sign-step repository: %v", err)
	}

	digest, _ := pushRandom(t, a.repo+":v1")
	unsignedDigest, _ := pushRandom(t, a.repo+":unsigned")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	mustRun(t, signVars, "sign", a.repo+":v1")

	// verify: signed passes pinned to its digest; unsigned and unknown fail with docker's words.
	if r := mustRun(t, nil, "verify", "--signer", "ci", a.repo+":v1"); strings.TrimSpace(r.stdout) != a.repo+"@"+digest {
		t.Errorf("verify printed %q, want %s@%s", r.stdout, a.repo, digest)
	}
	cases := []struct {
		args     []string
		wantCode int
		wantMsg  string
	}{
		{[]string{a.repo + ":unsigned"}, 8, "No valid trust data for unsigned"},
		{[]string{"--signer", "bob", a.repo + ":v1"}, 8, "signer bob did not sign " + digest},
		{[]string{env.Repo("nobody") + ":v1"}, 8, "remote trust data does not exist for "},
		// A digest passes only when trust data holds it (TestVerifyDigestsNeedTrust has every case).
		{[]string{"--signer", "ci", a.repo + "@" + digest}, 0, ""},
		{[]string{a.repo + "@" + unsignedDigest}, 8, "No valid trust data for " + unsignedDigest},
		{[]string{"--signer", "ci", a.repo + ":v1@" + unsignedDigest}, 8, "tag v1 is signed at " + digest},
	}
	for _, tc := range cases {
		r := signStep(t, nil, append([]string{"verify"}, tc.args...)...)
		if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantMsg) {
			t.Errorf("verify %v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.wantCode, tc.wantMsg)
		}
	}

	// resign moves expiry forward without touching targets.
	before := metaExpiry(t, mustRunOut(t, signVars, "resign", a.repo, "--dry-run"), "targets/releases")
	time.Sleep(1100 * time.Millisecond) // expiry has second precision
	after := metaExpiry(t, mustRunOut(t, signVars, "resign", a.repo), "targets/releases")
	if !after.After(before) {
		t.Errorf("resign: targets/releases expires %s, before %s", after, before)
	}
	if r := mustRun(t, nil, "verify", a.repo+":v1"); !strings.Contains(r.stdout, digest) {
		t.Errorf("after resign verify says %q", r.stdout)
	}

	// key rotate: the new key signs, the old one no longer does, v1 stays signed.
	newKey := filepath.Join(a.dir, "ci2.key")
	mustRun(t, a.vars, "key", "generate", "ci", "--out", newKey)
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", a.targetsKey), "key", "rotate", "ci", a.repo, "--new-key", newKey)
	mustRun(t, nil, "verify", "--signer", "ci", a.repo+":v1")
	pushRandom(t, a.repo+":v2")
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", newKey), "sign", a.repo+":v2")
	if r := signStep(t, signVars, "sign", a.repo+":v2"); r.code != 4 {
		t.Errorf("old key after rotation: exit %d, want 4 (%s)", r.code, r.stderr)
	}

	// revoke: docker sees v1 unsigned, verify refuses it, v2 stays.
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", newKey), "revoke", a.repo+":v1")
	out, _, err = docker.inspect(t, a.repo)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, st := range got[0].SignedTags {
		tags = append(tags, st.SignedTag)
	}
	if strings.Join(tags, ",") != "v2" {
		t.Errorf("after revoke docker sees tags %v, want [v2]", tags)
	}
	if r := signStep(t, nil, "verify", a.repo+":v1"); r.code != 8 {
		t.Errorf("verify of a revoked tag: exit %d", r.code)
	}
}

func mustRunOut(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	out := t.TempDir()
	mustRun(t, with(vars, "SIGN_STEP_OUTPUT_DIR", out), args...)
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metaExpiry reads role's expiry from a resign report (after, else before).
func metaExpiry(t *testing.T, report, role string) time.Time {
	t.Helper()
	var rep struct {
		Repositories []struct {
			Before, After []struct {
				Role    string
				Expires time.Time
			}
		}
	}
	if err := json.Unmarshal([]byte(report), &rep); err != nil || len(rep.Repositories) != 1 {
		t.Fatalf("report: %v\n%s", err, report)
	}
	meta := rep.Repositories[0].After
	if meta == nil {
		meta = rep.Repositories[0].Before
	}
	for _, m := range meta {
		if m.Role == role {
			return m.Expires
		}
	}
	t.Fatalf("no %s in %s", role, report)
	return time.Time{}
}

// TestPinnedRootRefusesAnotherRoot: with --pin-root, a repository whose
// root is another key fails verify and sign; the right pin passes.
func TestPinnedRootRefusesAnotherRoot(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "pinned")
	digest, _ := pushRandom(t, a.repo+":v1")
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", a.signerKey), "sign", a.repo+":v1")
	rootID := rootKeyID(t, a.repo)
	if r := mustRun(t, nil, "verify", "--pin-root", rootID, a.repo+":v1"); !strings.Contains(r.stdout, digest) {
		t.Errorf("pinned verify: %q", r.stdout)
	}
	wrong := strings.Repeat("ab", 32)
	r := signStep(t, nil, "verify", "--pin-root", wrong, a.repo+":v1")
	if r.code != 8 || !strings.Contains(r.stderr, "trust data mismatch") {
		t.Errorf("verify with a wrong pin: exit %d, %q", r.code, r.stderr)
	}
	if r := signStep(t, with(a.vars, "SIGN_STEP_KEY", a.signerKey), "sign", "--pin-root", wrong, a.repo+":v1"); r.code != 8 {
		t.Errorf("sign with a wrong pin: exit %d, %q", r.code, r.stderr)
	}
}

// TestTagOnlyInASignerRole: a tag signed into targets/<name> but not
// targets/releases is not trusted by docker's pull; verify refuses it with
// docker's words and docker trust inspect lists no such tag.
func TestTagOnlyInASignerRole(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "solo")
	// Give the notary CLI the repository key (unencrypted, with its role and
	// gun, which is how it imports keys) and add a delegation outside releases.
	targetsPEM, err := os.ReadFile(a.targetsKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := utils.ParsePEMPrivateKey(targetsPEM, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	gun := a.repo
	plain, err := utils.ConvertPrivateKeyToPKCS8(priv, "targets", data.GUN(gun), "")
	if err != nil {
		t.Fatal(err)
	}
	plainFile := filepath.Join(a.dir, "targets-plain.key")
	if err := os.WriteFile(plainFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	n := env.Notary(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
	if _, _, err := n.Run("key", "import", plainFile, "--role", "targets", "--gun", gun); err != nil {
		t.Fatal(err)
	}
	soloKey := filepath.Join(a.dir, "solo.key")
	soloPub := filepath.Join(a.dir, "solo.pub")
	mustRun(t, a.vars, "key", "generate", "solo", "--out", soloKey, "--pub-out", soloPub)
	if _, _, err := n.Run("delegation", "add", gun, "targets/solo", soloPub, "--all-paths", "-p"); err != nil {
		t.Fatal(err)
	}
	pushRandom(t, a.repo+":v1")
	r := mustRun(t, with(a.vars, "SIGN_STEP_KEY", soloKey), "sign", a.repo+":v1")
	if !strings.HasSuffix(strings.TrimSpace(r.stdout), " targets/solo") {
		t.Errorf("signed into %q, want targets/solo only", r.stdout)
	}
	v := signStep(t, nil, "verify", a.repo+":v1")
	if v.code != 8 || strings.TrimSpace(v.stderr) != "sign-step: No trust data for v1" {
		t.Errorf("verify of a tag only in targets/solo: exit %d, %q", v.code, v.stderr)
	}
	out, _, err := (signer{docker: env.Docker(t, testenv.Passphrases{})}).inspect(t, a.repo)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"SignedTags": []`) {
		t.Errorf("docker trust inspect shows a signed tag:\n%s", out)
	}
}
