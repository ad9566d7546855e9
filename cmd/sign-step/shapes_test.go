package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/testenv"
)

// Repositories as each real client makes them, then signed by sign-step;
// docker judges (trust inspect, and a trusted pull on the engine).

// trustKey is the file in a docker or notary CLI trust dir whose PEM role
// header is role (and, when given, whose gun header is gun).
func trustKey(t *testing.T, trustDir, role, gun string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(trustDir, "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("role: "+role+"\n")) && (gun == "" || bytes.Contains(b, []byte("gun: "+gun+"\n"))) {
			return f
		}
	}
	t.Fatalf("no %s key in %s (%v)", role, trustDir, files)
	return ""
}

// judge has docker say that repo:tag is signed at digest by signers
// (docker trust inspect), and, when an engine is here, that
// DOCKER_CONTENT_TRUST=1 docker pull gets that digest.
func judge(t *testing.T, repo, tag, digest string, signers ...string) {
	t.Helper()
	d := env.Docker(t, testenv.Passphrases{})
	out, _, err := d.Run("trust", "inspect", repo+":"+tag)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || len(got[0].SignedTags) != 1 {
		t.Fatalf("docker trust inspect %s:%s: %v\n%s", repo, tag, err, out)
	}
	st := got[0].SignedTags[0]
	if "sha256:"+st.Digest != digest || !slices.Equal(st.Signers, signers) {
		t.Errorf("docker sees %s:%s at %s signed by %v, want %s by %v", repo, tag, st.Digest, st.Signers, digest, signers)
	}
	if !engineReady(t) {
		return
	}
	trusted := &testenv.CLI{Path: d.Path, Env: append(append([]string(nil), d.Env...), "DOCKER_CONTENT_TRUST=1"), ConfigDir: d.ConfigDir}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", repo+":"+tag, repo+"@"+digest).Run() })
	pulled, _, err := trusted.Run("pull", repo+":"+tag)
	if err != nil {
		t.Fatalf("DOCKER_CONTENT_TRUST=1 docker pull %s:%s: %v", repo, tag, err)
	}
	if !strings.Contains(pulled, digest) {
		t.Errorf("trusted pull of %s:%s did not resolve to %s:\n%s", repo, tag, digest, pulled)
	}
}

// engineReady reports whether the Docker engine is here and trusts the
// test registry; without it the engine half of the judgement is skipped
// (and the test says so in its log).
func engineReady(t *testing.T) bool {
	t.Helper()
	return env.EngineReady(t)
}

// notaryShape is a repository made by the notary CLI's defaults: `init`
// (root, targets and snapshot keys on the client), then targets/releases
// and targets/ci for one delegation key, as docker's documentation has
// notary users do it.
type notaryShape struct {
	repo        string
	cli         *testenv.CLI
	snapshotKey string // in the notary CLI's trust dir
	vars        map[string]string
}

func notaryCLIShape(t *testing.T, name string) notaryShape {
	t.Helper()
	s := notaryShape{repo: env.Repo(name), cli: env.Notary(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "ci.key"), filepath.Join(dir, "ci.pub")
	mustRun(t, map[string]string{"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}, "key", "generate", "ci", "--out", key, "--pub-out", pub)
	for _, args := range [][]string{
		{"init", s.repo, "-p"},
		{"delegation", "add", s.repo, "targets/releases", pub, "--all-paths"},
		{"delegation", "add", s.repo, "targets/ci", pub, "--all-paths", "-p"},
	} {
		if _, _, err := s.cli.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	s.snapshotKey = trustKey(t, s.cli.ConfigDir, "snapshot", s.repo)
	s.vars = map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": repoPass}
	return s
}

// TestRepositoriesMadeByEachClient: each real client's repository shape,
// signed by sign-step, and docker accepts the result.
func TestRepositoriesMadeByEachClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(t *testing.T) (repo string, vars map[string]string, args []string)
		signers []string
	}{
		{name: "DOCKER_CONTENT_TRUST=1 docker push (targets only)", signers: []string{"Repo Admin"},
			setup: func(t *testing.T) (string, map[string]string, []string) {
				if !engineReady(t) {
					t.Skip("DOCKER_CONTENT_TRUST=1 docker push needs the Docker engine")
				}
				repo := env.Repo("dctpush")
				d := env.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
				// The engine starts with no images: give it one through the registry.
				pushRandom(t, repo+":seed")
				t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", repo+":seed", repo+":pushed").Run() })
				for _, args := range [][]string{{"pull", repo + ":seed"}, {"tag", repo + ":seed", repo + ":pushed"}} {
					if _, _, err := d.Run(args...); err != nil {
						t.Fatal(err)
					}
				}
				trusted := &testenv.CLI{Path: d.Path, Env: append(append([]string(nil), d.Env...), "DOCKER_CONTENT_TRUST=1"), ConfigDir: d.ConfigDir}
				if _, _, err := trusted.Run("push", repo+":pushed"); err != nil {
					t.Fatalf("DOCKER_CONTENT_TRUST=1 docker push: %v", err)
				}
				key := trustKey(t, filepath.Join(d.ConfigDir, "trust"), "targets", repo)
				return repo, map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": repoPass}, nil
			}},
		{name: "docker trust signer add", signers: []string{"ci"},
			setup: func(t *testing.T) (string, map[string]string, []string) {
				repo := env.Repo("signeradd")
				s := dockerSigner(t, "ci", repo)
				return repo, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, nil
			}},
		{name: "notary CLI init, snapshot key passed with --key", signers: []string{"ci"},
			setup: func(t *testing.T) (string, map[string]string, []string) {
				s := notaryCLIShape(t, "notarycli")
				return s.repo, s.vars, []string{"--key", s.vars["SIGN_STEP_KEY"], "--key", s.snapshotKey}
			}},
		{name: "notary CLI init, then notary key rotate snapshot -r", signers: []string{"ci"},
			setup: func(t *testing.T) (string, map[string]string, []string) {
				s := notaryCLIShape(t, "notaryrotated")
				if _, _, err := s.cli.Run("key", "rotate", s.repo, "snapshot", "-r"); err != nil {
					t.Fatal(err)
				}
				return s.repo, s.vars, nil
			}},
		{name: "docker signer added and never used, resigned and rotated first", signers: []string{"ci"},
			setup: func(t *testing.T) (string, map[string]string, []string) {
				repo := env.Repo("neverused")
				s := dockerSigner(t, "ci", repo)
				vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
				if r := mustRun(t, vars, "resign", repo); !strings.Contains(r.stdout, "nothing to re-sign (never signed into: targets/ci,targets/releases)") {
					t.Errorf("resign of a never-used signer says %q", r.stdout)
				}
				newKey := filepath.Join(t.TempDir(), "ci2.key")
				mustRun(t, vars, "key", "generate", "ci", "--out", newKey)
				targets := trustKey(t, filepath.Join(s.docker.ConfigDir, "trust"), "targets", repo)
				mustRun(t, with(vars, "SIGN_STEP_KEY", targets), "key", "rotate", "ci", repo, "--new-key", newKey)
				return repo, with(vars, "SIGN_STEP_KEY", newKey), nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, vars, args := tc.setup(t)
			digest, _ := pushRandom(t, repo+":by-sign-step")
			r := signStep(t, vars, append(append([]string{"sign"}, args...), repo+":by-sign-step")...)
			if r.code != 0 {
				t.Fatalf("sign: exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
			judge(t, repo, "by-sign-step", digest, tc.signers...)
		})
	}
}

// TestClientHeldSnapshotKeyCheckedFirst: with the notary CLI's default
// init and only a delegation key, sign --source, resign and signer add
// fail in one line naming the snapshot key and both ways out, before
// anything is pushed or published.
func TestClientHeldSnapshotKeyCheckedFirst(t *testing.T) {
	t.Parallel()
	s := notaryCLIShape(t, "snapclient")
	existing, _ := pushRandom(t, s.repo+":existing")
	if r := signStep(t, s.vars, "sign", "--key", s.vars["SIGN_STEP_KEY"], "--key", s.snapshotKey, s.repo+":existing"); r.code != 0 {
		t.Fatalf("sign with the snapshot key: exit %d: %s", r.code, r.stderr)
	}
	before := roleVersions(t, s.repo)
	src := newLayout(t)
	snapshotID := regexp.MustCompile(`[0-9a-f]{64}`).FindString(filepath.Base(s.snapshotKey))
	pubPEM := filepath.Join(t.TempDir(), "bob.pub")
	mustRun(t, map[string]string{"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}, "key", "generate", "bob", "--out", filepath.Join(t.TempDir(), "bob.key"), "--pub-out", pubPEM)
	targetsKey := trustKey(t, s.cli.ConfigDir, "targets", s.repo)
	cases := []struct {
		name     string
		vars     map[string]string
		args     []string
		wantCode int
		stdout   bool // the line is the repository's in a fleet report (resign)
	}{
		{"sign --source", s.vars, []string{"sign", "--source", src, s.repo + ":new"}, 3, false},
		{"resign", s.vars, []string{"resign", s.repo}, 6, true},
		{"signer add", with(s.vars, "SIGN_STEP_KEY", targetsKey), []string{"signer", "add", "bob", "--public-key", pubPEM, s.repo}, 3, false},
	}
	for _, tc := range cases {
		r := signStep(t, tc.vars, tc.args...)
		msg := strings.TrimSpace(r.stderr)
		if tc.stdout {
			msg = strings.TrimSpace(r.stdout)
		}
		if r.code != tc.wantCode || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "snapshot key "+snapshotID) ||
			!strings.Contains(msg, "--key") || !strings.Contains(msg, "notary key rotate "+s.repo+" snapshot -r") {
			t.Errorf("%s: exit %d, want %d and one line naming snapshot key %s, --key and notary key rotate:\n%s%s", tc.name, r.code, tc.wantCode, snapshotID, r.stdout, r.stderr)
		}
	}
	if _, err := crane.Head(s.repo+":new", crane.WithTransport(env.Transport())); err == nil {
		t.Error("sign --source pushed the image before finding that the publish cannot be completed")
	}
	if after := roleVersions(t, s.repo); !maps.Equal(before, after) {
		t.Errorf("trust data changed from %v to %v", before, after)
	}
	judge(t, s.repo, "existing", existing, "ci")
}

// TestClientHeldSnapshotKeyRefusedAtPublish: a sign with nothing to push
// and one repository, and a resign, ask no snapshot-key check first
// (GET snapshot.key): notary-server refuses the publish they send without a
// snapshot (ErrBadHierarchy), which is told in the check's one line, same
// exit code, with nothing published.
func TestClientHeldSnapshotKeyRefusedAtPublish(t *testing.T) {
	t.Parallel()
	s := notaryCLIShape(t, "snapatpublish")
	pushRandom(t, s.repo+":existing")
	pushRandom(t, s.repo+":new")
	// Something to re-sign, signed with the snapshot key.
	mustRun(t, s.vars, "sign", "--key", s.vars["SIGN_STEP_KEY"], "--key", s.snapshotKey, s.repo+":existing")
	before := roleVersions(t, s.repo)
	snapshotID := regexp.MustCompile(`[0-9a-f]{64}`).FindString(filepath.Base(s.snapshotKey))
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		stdout   bool // the line is the repository's in a fleet report (resign)
	}{
		{"sign", []string{"sign", s.repo + ":new"}, 3, false},
		{"resign", []string{"resign", s.repo}, 6, true},
	} {
		proxy := notaryProxy(t)
		r := signStep(t, with(s.vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), tc.args...)
		msg := strings.TrimSpace(r.stderr)
		if tc.stdout {
			msg = strings.TrimSpace(r.stdout)
		}
		if r.code != tc.wantCode || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "snapshot key "+snapshotID) ||
			!strings.Contains(msg, "nothing was published") || !strings.Contains(msg, "notary key rotate "+s.repo+" snapshot -r") {
			t.Errorf("%s: exit %d, want %d and one line naming snapshot key %s, that nothing was published and notary key rotate:\n%s%s", tc.name, r.code, tc.wantCode, snapshotID, r.stdout, r.stderr)
		}
		seen := proxy.Seen()
		if n := seen["GET /v2/"+s.repo+"/_trust/tuf/snapshot.key"]; n != 0 {
			t.Errorf("%s: asked for the snapshot key %d times, want the publish's refusal alone", tc.name, n)
		}
		if n := proxy.Count("POST", testenv.PublishPath(s.repo)); n != 1 {
			t.Errorf("%s: %d publishes, want the one refused: %v", tc.name, n, seen)
		}
	}
	if after := roleVersions(t, s.repo); !maps.Equal(before, after) {
		t.Errorf("trust data changed from %v to %v", before, after)
	}
}

// TestExpiredDelegationRefusedFirst: signing or revoking into an expired
// targets/releases is refused in one line naming the role and resign,
// before anything is pushed or any publish is sent; after resign it works.
func TestExpiredDelegationRefusedFirst(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "expiredrole")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	pushRandom(t, a.repo+":v1")
	mustRun(t, signVars, "sign", a.repo+":v1")
	expireSoon(t, a.repo, "targets/releases", a.signerKey, 2*time.Second)
	time.Sleep(3 * time.Second)

	src := newLayout(t)
	proxy := notaryProxy(t)
	vars := with(signVars, "SIGN_STEP_NOTARY_SERVER", proxy.URL())
	want := "targets/releases of " + a.repo + " expired "
	for _, args := range [][]string{{"sign", "--source", src, a.repo + ":v2"}, {"revoke", a.repo + ":v1"}} {
		r := signStep(t, vars, args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 6 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, want) || !strings.Contains(msg, "sign-step resign "+a.repo) {
			t.Errorf("%s: exit %d, want 6 and one line with %q and `sign-step resign`: %q", args[0], r.code, want, r.stderr)
		}
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(a.repo)); n != 0 {
		t.Errorf("%d publishes sent into an expired role", n)
	}
	if _, err := crane.Head(a.repo+":v2", crane.WithTransport(env.Transport())); err == nil {
		t.Error("sign --source pushed before refusing the expired role")
	}
	mustRun(t, signVars, "resign", a.repo)
	digest, _ := pushRandom(t, a.repo+":v2")
	mustRun(t, signVars, "sign", a.repo+":v2")
	judge(t, a.repo, "v2", digest, "ci")
}

// TestDelegationExpiresBeforePublish: the role is valid when the run
// reads and checks it and expired when its publish reaches the server (the
// POST is held until then). The publish re-signs what was checked (there is
// no second read of the trust data before the POST, which is where the
// notary client used to find the role expired and start it over): one
// POST, the tag is signed, and the role is renewed.
func TestDelegationExpiresBeforePublish(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "expiresmidway")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	pushRandom(t, a.repo+":v1")
	mustRun(t, signVars, "sign", a.repo+":v1")
	digest, _ := pushRandom(t, a.repo+":v2")
	const life = 6 * time.Second
	expires := time.Now().Add(life)
	expireSoon(t, a.repo, "targets/releases", a.signerKey, life)

	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(a.repo), Before: func() { time.Sleep(time.Until(expires) + time.Second) }})
	r := signStep(t, with(signVars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), "sign", a.repo+":v2")
	if time.Now().Before(expires) {
		t.Fatal("the publish was not held: the proxy rule did not match")
	}
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: %s", r.code, r.stderr)
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(a.repo)); n != 1 {
		t.Errorf("%d publish POSTs, want 1", n)
	}
	judge(t, a.repo, "v2", digest, "ci")
	// Renewed: a sign after the old expiry needs no resign.
	pushRandom(t, a.repo+":v3")
	mustRun(t, signVars, "sign", a.repo+":v3")
}

// TestNeverSignedRoles: a notary CLI delegation and a sign-step signer,
// both added and never signed into: resign reports them as nothing to
// re-sign (exit 0, report.json neverSigned) and key rotate completes.
func TestNeverSignedRoles(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "neversigned")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	out := t.TempDir()
	r := mustRun(t, with(signVars, "SIGN_STEP_OUTPUT_DIR", out), "resign", a.repo)
	if want := a.repo + " nothing to re-sign (never signed into: targets/ci,targets/releases)"; strings.TrimSpace(r.stdout) != want {
		t.Errorf("resign says %q, want %q", r.stdout, want)
	}
	var rep struct {
		Repositories []struct {
			Witnessed   []string
			NeverSigned []string `json:"neverSigned"`
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Repositories) != 1 {
		t.Fatalf("report.json: %v\n%s", err, b)
	}
	if got := rep.Repositories[0]; len(got.Witnessed) != 0 || strings.Join(got.NeverSigned, ",") != "targets/ci,targets/releases" {
		t.Errorf("report.json: witnessed %v, neverSigned %v", got.Witnessed, got.NeverSigned)
	}
	// One role signed, the other never: the signed one is re-signed.
	d1, _ := pushRandom(t, a.repo+":v1")
	mustRun(t, signVars, "sign", a.repo+":v1")
	bobKey, bobPub := filepath.Join(a.dir, "bob.key"), filepath.Join(a.dir, "bob.pub")
	mustRun(t, a.vars, "key", "generate", "bob", "--out", bobKey, "--pub-out", bobPub)
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", a.targetsKey), "signer", "add", "bob", "--public-key", bobPub, a.repo)
	r = mustRun(t, with(a.vars, "SIGN_STEP_KEY", bobKey), "resign", a.repo)
	if want := a.repo + " resigned targets/releases (never signed into, nothing to re-sign: targets/bob)"; strings.TrimSpace(r.stdout) != want {
		t.Errorf("resign says %q, want %q", r.stdout, want)
	}
	newBob := filepath.Join(a.dir, "bob2.key")
	mustRun(t, a.vars, "key", "generate", "bob", "--out", newBob)
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", a.targetsKey), "key", "rotate", "bob", a.repo, "--new-key", newBob)
	judge(t, a.repo, "v1", d1, "ci")
	d2, _ := pushRandom(t, a.repo+":v2")
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", newBob), "sign", a.repo+":v2")
	judge(t, a.repo, "v2", d2, "bob")
}

// revokeShape is a repository with v1 signed by ci (targets/releases and
// targets/ci) and solo signed only into targets/solo, a delegation the
// notary CLI added outside releases; it returns the repository and the
// keys (ci, solo) in docker's trust dir layout.
func revokeShape(t *testing.T, name string) (admin, string) {
	t.Helper()
	a := setupWithSignStep(t, name)
	n := env.Notary(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
	targetsPEM, err := os.ReadFile(a.targetsKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := utils.ParsePEMPrivateKey(targetsPEM, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := utils.ConvertPrivateKeyToPKCS8(priv, "targets", data.GUN(a.repo), "")
	if err != nil {
		t.Fatal(err)
	}
	plainFile := filepath.Join(a.dir, "targets-plain.key")
	if err := os.WriteFile(plainFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Run("key", "import", plainFile, "--role", "targets", "--gun", a.repo); err != nil {
		t.Fatal(err)
	}
	soloKey, soloPub := filepath.Join(a.dir, "solo.key"), filepath.Join(a.dir, "solo.pub")
	mustRun(t, a.vars, "key", "generate", "solo", "--out", soloKey, "--pub-out", soloPub)
	if _, _, err := n.Run("delegation", "add", a.repo, "targets/solo", soloPub, "--all-paths", "-p"); err != nil {
		t.Fatal(err)
	}
	pushRandom(t, a.repo+":v1")
	pushRandom(t, a.repo+":solo")
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", a.signerKey), "sign", a.repo+":v1")
	mustRun(t, with(a.vars, "SIGN_STEP_KEY", soloKey), "sign", a.repo+":solo")
	return a, soloKey
}

// roleTags lists each targets role's tags as the notary CLI reads them.
func roleTags(t *testing.T, repo string) map[string][]string {
	t.Helper()
	n := env.Notary(t, testenv.Passphrases{})
	out := map[string][]string{}
	for _, role := range []string{"targets", "targets/releases", "targets/ci", "targets/solo"} {
		stdout, _, err := n.Run("list", repo, "--roles", role)
		if err != nil {
			t.Fatal(err)
		}
		tags := []string{}
		for _, line := range strings.Split(stdout, "\n") {
			if f := strings.Fields(line); len(f) == 4 && f[3] == role {
				tags = append(tags, f[0])
			}
		}
		sort.Strings(tags)
		out[role] = tags
	}
	return out
}

// TestRevokeMatchesDocker: the same revocation by `docker trust revoke`
// in one repository and by sign-step in its twin leaves the same tags in
// every role: a tag only in a signer's role is revoked, and a repository
// revoke takes the child-role tags too.
func TestRevokeMatchesDocker(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tag    string // "" revokes the repository
		ownKey bool   // sign-step revokes with solo's key only
	}{
		{name: "tag only in a signer role", tag: "solo", ownKey: true},
		{name: "whole repository", tag: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ours, soloKey := revokeShape(t, "revoke-ours")
			theirs, theirSolo := revokeShape(t, "revoke-docker")

			// docker, with both delegation keys in its trust dir.
			d := env.Docker(t, testenv.Passphrases{Root: rootPass, Repository: repoPass})
			private := filepath.Join(d.ConfigDir, "trust", "private")
			if err := os.MkdirAll(private, 0o700); err != nil {
				t.Fatal(err)
			}
			keys := []string{theirSolo}
			if !tc.ownKey {
				keys = append(keys, theirs.signerKey)
			}
			for _, k := range keys {
				pemBytes, err := os.ReadFile(k)
				if err != nil {
					t.Fatal(err)
				}
				priv, err := utils.ParsePEMPrivateKey(pemBytes, repoPass)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(private, priv.ID()+".key"), pemBytes, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			dockerRef, ourRef := theirs.repo, ours.repo
			if tc.tag != "" {
				dockerRef, ourRef = dockerRef+":"+tc.tag, ourRef+":"+tc.tag
			}
			if _, _, err := d.Run("trust", "revoke", "--yes", dockerRef); err != nil {
				t.Fatal(err)
			}
			vars := ours.vars
			args := []string{"revoke", "--key", soloKey}
			if !tc.ownKey {
				args = append(args, "--key", ours.signerKey)
			}
			if tc.tag == "" {
				args = append(args, "--yes")
			}
			r := signStep(t, vars, append(args, ourRef)...)
			if r.code != 0 {
				t.Fatalf("revoke: exit %d: %s", r.code, r.stderr)
			}
			want, got := roleTags(t, theirs.repo), roleTags(t, ours.repo)
			for role, tags := range want {
				if !slices.Equal(got[role], tags) {
					t.Errorf("%s holds %v after sign-step's revoke, %v after docker's", role, got[role], tags)
				}
			}
			if tc.tag == "" && len(want["targets/solo"])+len(want["targets/releases"]) != 0 {
				t.Errorf("docker's revoke left tags: %v", want)
			}
		})
	}
}

// TestRevokeFailingMidwayReportsWhatWasRevoked: of two repositories, the
// second's publish is refused. The first is revoked, and the run says so
// before it fails.
func TestRevokeFailingMidwayReportsWhatWasRevoked(t *testing.T) {
	t.Parallel()
	r1, r2 := env.Repo("revoked"), env.Repo("refused")
	s := dockerSigner(t, "ci", r1, r2)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	pushRandom(t, r1+":v1")
	pushRandom(t, r2+":v1")
	mustRun(t, vars, "sign", r1+":v1", r2+":v1")
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(r2), Status: http.StatusBadRequest, Drop: true})
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), "revoke", r1+":v1", r2+":v1")
	if r.code != 6 || strings.TrimSpace(r.stdout) != "revoked "+r1+":v1" || !strings.Contains(r.stderr, "1 of 2 repositories were not revoked") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 6, only %s:v1 reported revoked, and the count", r.code, r.stdout, r.stderr, r1)
	}
	if v := signStep(t, nil, "verify", r1+":v1"); v.code != 8 {
		t.Errorf("verify of the revoked tag: exit %d", v.code)
	}
	mustRun(t, nil, "verify", r2+":v1")
}
