package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/testenv"
)

// expireRootAt re-signs gun's root.json with its real root key so that it
// expires at expires, and uploads it, as docker left roots made in 2016 or
// 2017 (root.json expires 10 years after it was last signed). A snapshot
// key among extra (decrypted with repoPass) signs a new snapshot too, as a
// repository whose snapshot key the client holds needs.
func expireRootAt(t *testing.T, gun, rootKeyFile string, expires time.Time, extra ...string) {
	t.Helper()
	ks := trustmanager.NewKeyMemoryStore(func(string, string, bool, int) (string, bool, error) { return "", false, nil })
	addKey := func(file, pass string, role data.RoleName) {
		pemBytes, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := utils.ParsePEMPrivateKey(pemBytes, pass)
		if err != nil {
			t.Fatal(err)
		}
		if err := ks.AddKey(trustmanager.KeyInfo{Role: role, Gun: data.GUN(gun)}, priv); err != nil {
			t.Fatal(err)
		}
	}
	addKey(rootKeyFile, rootPass, data.CanonicalRootRole)
	for _, f := range extra {
		addKey(f, repoPass, data.CanonicalSnapshotRole)
	}
	remote, err := store.NewNotaryServerStore(env.NotaryURL, data.GUN(gun), env.Transport())
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := client.LoadTUFRepo(client.TUFLoadOptions{GUN: data.GUN(gun), CryptoService: cryptoservice.NewCryptoService(ks), RemoteStore: remote})
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := repo.SignRoot(expires, nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	if files[data.CanonicalRootRole.String()], err = json.Marshal(sgn); err != nil {
		t.Fatal(err)
	}
	if len(extra) > 0 {
		snap, err := repo.SignSnapshot(time.Now().AddDate(3, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if files[data.CanonicalSnapshotRole.String()], err = json.Marshal(snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := remote.SetMulti(files); err != nil {
		t.Fatalf("uploading root.json expiring %s: %v", expires, err)
	}
}

// serverRoot is the root.json the notary server serves for gun, unverified.
func serverRoot(t *testing.T, gun string) (*data.Signed, *data.SignedRoot) {
	t.Helper()
	remote, err := store.NewNotaryServerStore(env.NotaryURL, data.GUN(gun), env.Transport())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := remote.GetSized(data.CanonicalRootRole.String(), -1)
	if err != nil {
		t.Fatal(err)
	}
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	root, err := data.RootFromSigned(&s)
	if err != nil {
		t.Fatal(err)
	}
	return &s, root
}

// dockerRootID is the "Root" key ID docker trust inspect shows for repo.
func dockerRootID(t *testing.T, d *testenv.CLI, repo string) (string, []string) {
	t.Helper()
	out, _, err := d.Run("trust", "inspect", repo)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		SignedTags         []struct{ SignedTag string }
		AdministrativeKeys []struct {
			Name string
			Keys []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	var id string
	for _, k := range got[0].AdministrativeKeys {
		if k.Name == "Root" && len(k.Keys) == 1 {
			id = k.Keys[0].ID
		}
	}
	var tags []string
	for _, s := range got[0].SignedTags {
		tags = append(tags, s.SignedTag)
	}
	return id, tags
}

var renewedIDs = regexp.MustCompile(`root key ID \(docker trust inspect "Root", --pin-root\): ([0-9a-f]{64}) -> ([0-9a-f]{64})`)

// TestRootRenew: a repository whose root.json expires within notary's
// 6-month re-sign window refuses every publish without the root key, with
// the real reason and nothing pushed; root renew (a new certificate for the
// same key, or a rotation to a new root key) makes publishing work again,
// and docker and the notary CLI, which trusted the old root, accept the new.
func TestRootRenew(t *testing.T) {
	t.Parallel()
	for _, rotate := range []bool{false, true} {
		name := "renew"
		if rotate {
			name = "rotate"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := setupWithSignStep(t, "root-"+name)
			signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
			pushRandom(t, a.repo+":v1")
			mustRun(t, signVars, "sign", a.repo+":v1")
			// docker and the notary CLI trust the first root they see and keep it.
			pass := testenv.Passphrases{Root: rootPass, Repository: repoPass}
			docker := env.Docker(t, pass)
			oldID, _ := dockerRootID(t, docker, a.repo)
			notaryCLI := env.Notary(t, pass)
			if _, _, err := notaryCLI.Run("list", a.repo); err != nil {
				t.Fatal(err)
			}

			cache := t.TempDir() // sign-step's own trust cache, as CI keeps it
			mustRun(t, nil, "verify", "--trust-cache", cache, a.repo+":v1")
			_, oldRoot := serverRoot(t, a.repo)
			expireRootAt(t, a.repo, a.rootKey, time.Now().AddDate(0, 5, 0))
			src := newLayout(t)
			refusals := []struct {
				args []string
				code int
				out  func(result) string
			}{
				{[]string{"sign", "--source", src, a.repo + ":v2"}, 3, func(r result) string { return r.stderr }},
				{[]string{"sign", "--dry-run", a.repo + ":v1"}, 3, func(r result) string { return r.stderr }},
				{[]string{"revoke", a.repo + ":v1"}, 3, func(r result) string { return r.stderr }},
				// resign reports each repository and exits 6 when one failed.
				{[]string{"resign", a.repo}, 6, func(r result) string { return r.stdout }},
			}
			for _, rf := range refusals {
				r := signStep(t, signVars, rf.args...)
				if msg := rf.out(r); r.code != rf.code || !strings.Contains(msg, "re-signs root in every publish") || !strings.Contains(msg, "sign-step root renew "+a.repo+" --root-key K") {
					t.Errorf("%s with root.json inside the 6-month window: exit %d\n%s%s", rf.args[0], r.code, r.stdout, r.stderr)
				}
			}
			if _, err := crane.Head(a.repo+":v2", crane.WithTransport(env.Transport())); err == nil {
				t.Errorf("the refused sign --source pushed %s:v2", a.repo)
			}
			// Admin verbs used to blame the targets key.
			bobKey, bobPub := filepath.Join(a.dir, "bob.key"), filepath.Join(a.dir, "bob.pub")
			mustRun(t, a.vars, "key", "generate", "bob", "--out", bobKey, "--pub-out", bobPub)
			for _, args := range [][]string{
				{"signer", "add", "bob", "--public-key", bobPub, "--key", a.targetsKey, a.repo},
				{"signer", "remove", "ci", "--key", a.targetsKey, a.repo},
				{"key", "rotate", "ci", a.repo, "--new-key", bobKey, "--key", a.targetsKey},
			} {
				r := signStep(t, a.vars, args...)
				if r.code != 3 || strings.Contains(r.stderr, "targets) key") || !strings.Contains(r.stderr, "root renew") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("%s %s with root.json inside the window: exit %d, %q", args[0], args[1], r.code, r.stderr)
				}
			}
			// Commands that publish nothing work, and say what is coming.
			for _, args := range [][]string{
				{"verify", a.repo + ":v1"},
				{"init", a.repo, "--root-key", a.rootKey, "--targets-key", a.targetsKey},
			} {
				r := mustRun(t, a.vars, args...)
				if !strings.Contains(r.stderr, "every publish without the root key fails") || !strings.Contains(r.stderr, "sign-step root renew "+a.repo) {
					t.Errorf("%s with root.json inside the window: no warning:\n%s", args[0], r.stderr)
				}
			}

			args := []string{"root", "renew", a.repo, "--root-key", a.rootKey}
			newRootFile := filepath.Join(a.dir, "new-root.key")
			if rotate {
				args = append(args, "--new-root-key-out", newRootFile)
			}
			r := mustRun(t, a.vars, args...)
			m := renewedIDs.FindStringSubmatch(r.stdout)
			if m == nil || m[1] != oldID || m[2] == oldID {
				t.Fatalf("root renew output (old root ID %s):\n%s", oldID, r.stdout)
			}
			newID := m[2]
			if !strings.Contains(r.stdout, "--pin-root "+oldID+" no longer matches "+a.repo+": pin "+newID) {
				t.Errorf("root renew does not tell --pin-root users what changed:\n%s", r.stdout)
			}
			// TUF: the new root.json verifies with the old root key (under
			// the ID old clients know) and with the new one.
			signedRoot, newRoot := serverRoot(t, a.repo)
			for _, k := range []struct {
				id   string
				keys map[string]data.PublicKey
			}{{oldID, oldRoot.Signed.Keys}, {newID, newRoot.Signed.Keys}} {
				if err := signed.VerifySignatures(signedRoot, data.BaseRole{Name: data.CanonicalRootRole, Threshold: 1, Keys: map[string]data.PublicKey{k.id: k.keys[k.id]}}); err != nil {
					t.Errorf("new root.json (version %d) is not signed by root key %s: %v", newRoot.Signed.Version, k.id, err)
				}
			}
			if rotate {
				if fi, err := os.Stat(newRootFile); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("new root key file: %v %v", fi, err)
				}
			}

			// Publishing works again, and root is far from expiry in report.json.
			out := t.TempDir()
			mustRun(t, with(signVars, "SIGN_STEP_OUTPUT_DIR", out), "sign", "--source", src, a.repo+":v2")
			var rep struct {
				Repositories []struct {
					Metadata []struct {
						Role    string
						Version int
						Expires time.Time
					}
				}
			}
			b, _ := os.ReadFile(filepath.Join(out, "report.json"))
			if err := json.Unmarshal(b, &rep); err != nil || len(rep.Repositories) != 1 {
				t.Fatalf("report.json: %v\n%s", err, b)
			}
			seen := map[string]bool{}
			for _, m := range rep.Repositories[0].Metadata {
				if m.Role == "root" || m.Role == "root-certificate" {
					seen[m.Role] = true
					if left := time.Until(m.Expires); left < 9*365*24*time.Hour {
						t.Errorf("after renew, %s expires %s", m.Role, m.Expires)
					}
				}
			}
			if !seen["root"] || !seen["root-certificate"] {
				t.Errorf("report.json lacks root expiries: %s", b)
			}

			// The clients that trusted the old root accept the new one.
			id, tags := dockerRootID(t, docker, a.repo)
			if id != newID || strings.Join(tags, ",") != "v1,v2" {
				t.Errorf("docker (trusted the old root) sees root %s and tags %v, want %s and v1,v2", id, tags, newID)
			}
			list, _, err := notaryCLI.Run("list", a.repo)
			if err != nil {
				t.Fatalf("the notary CLI (trusted the old root) cannot read the repository: %v", err)
			}
			if !regexp.MustCompile(`(?m)^v1\s`).MatchString(list) || !regexp.MustCompile(`(?m)^v2\s`).MatchString(list) {
				t.Errorf("notary list after root renew:\n%s", list)
			}

			mustRun(t, nil, "verify", "--trust-cache", cache, a.repo+":v2")

			// --pin-root: the old ID is refused (the certificate changed), the new one passes.
			if r := signStep(t, nil, "verify", "--pin-root", oldID, a.repo+":v2"); r.code != 8 || !strings.Contains(r.stderr, "trust data mismatch") ||
				!strings.Contains(r.stderr, "unable to match any certificates to trust_pinning config") {
				t.Errorf("verify --pin-root OLD after root renew: exit %d, %q", r.code, r.stderr)
			}
			mustRun(t, nil, "verify", "--pin-root", newID, a.repo+":v2")
			mustRun(t, nil, "verify", "--pin-root", oldID, "--pin-root", newID, a.repo+":v2")

			if !rotate {
				// A renewal run pinned to the current root: the pin checks the
				// root it starts from; the new one is trusted because the
				// pinned one signed it (notary pins only the first root seen).
				r := mustRun(t, with(a.vars, "SIGN_STEP_PIN_ROOT", newID), "root", "renew", a.repo, "--root-key", a.rootKey)
				m := renewedIDs.FindStringSubmatch(r.stdout)
				if m == nil || m[1] != newID {
					t.Fatalf("root renew --pin-root CURRENT:\n%s%s", r.stdout, r.stderr)
				}
				mustRun(t, nil, "verify", "--pin-root", m[2], a.repo+":v2")
				if r := signStep(t, nil, "verify", "--pin-root", newID, a.repo+":v2"); r.code != 8 {
					t.Errorf("verify pinned to the replaced root: exit %d, %q", r.code, r.stderr)
				}
			}
			if rotate {
				// The old root key no longer is the root; the new one renews.
				if r := signStep(t, a.vars, "root", "renew", a.repo, "--root-key", a.rootKey); r.code != 3 || !strings.Contains(r.stderr, "is not the root key of "+a.repo) {
					t.Errorf("root renew with the replaced root key: exit %d, %q", r.code, r.stderr)
				}
				if r := signStep(t, a.vars, "root", "renew", a.repo, "--root-key", a.rootKey, "--new-root-key", newRootFile); r.code != 2 || !strings.Contains(r.stderr, "already the new root key") {
					t.Errorf("repeated rotation: exit %d, %q", r.code, r.stderr)
				}
				mustRun(t, a.vars, "root", "renew", a.repo, "--root-key", newRootFile)
				if _, tags := dockerRootID(t, docker, a.repo); strings.Join(tags, ",") != "v1,v2" {
					t.Errorf("docker after a second renewal sees %v", tags)
				}
			}
		})
	}
}

// shortRootCert gives gun's root a certificate for the same root key that
// expires at notAfter, signed as notary signs a root key change: a root
// whose root.json was re-signed (by docker, which renews root.json but not
// the certificate) and whose certificate is now the nearer end.
func shortRootCert(t *testing.T, gun, rootKeyFile string, notAfter time.Time) {
	t.Helper()
	pemBytes, err := os.ReadFile(rootKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := utils.ParsePEMPrivateKey(pemBytes, rootPass)
	if err != nil {
		t.Fatal(err)
	}
	ks := trustmanager.NewKeyMemoryStore(func(string, string, bool, int) (string, bool, error) { return "", false, nil })
	if err := ks.AddKey(trustmanager.KeyInfo{Role: data.CanonicalRootRole}, priv); err != nil {
		t.Fatal(err)
	}
	remote, err := store.NewNotaryServerStore(env.NotaryURL, data.GUN(gun), env.Transport())
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := client.LoadTUFRepo(client.TUFLoadOptions{GUN: data.GUN(gun), CryptoService: cryptoservice.NewCryptoService(ks), RemoteStore: remote})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := cryptoservice.GenerateCertificate(priv, data.GUN(gun), time.Now().Add(-time.Hour), notAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.ReplaceBaseKeys(data.CanonicalRootRole, utils.CertToKey(cert)); err != nil {
		t.Fatal(err)
	}
	sgn, err := repo.SignRoot(time.Now().AddDate(10, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(sgn)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetMulti(map[string][]byte{data.CanonicalRootRole.String(): body}); err != nil {
		t.Fatalf("uploading a root with a certificate expiring %s: %v", notAfter, err)
	}
}

// TestRootNearExpiryWarns: from 7 months out (before notary's window for
// root.json; for the certificate, before clients reject the root) a
// publish works and warns, on stderr and as a GitHub ::warning::
// annotation; after root renew the warning is gone.
func TestRootNearExpiryWarns(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		age  func(t *testing.T, a admin) string // makes the root old, returns the warning
	}{
		{"root.json", func(t *testing.T, a admin) string {
			expires := time.Now().AddDate(0, 6, 14)
			expireRootAt(t, a.repo, a.rootKey, expires)
			return a.repo + ": root.json expires " + expires.UTC().Format(time.DateOnly)
		}},
		{"certificate", func(t *testing.T, a admin) string {
			notAfter := time.Now().AddDate(0, 3, 0)
			shortRootCert(t, a.repo, a.rootKey, notAfter)
			return a.repo + ": its root certificate expires " + notAfter.UTC().Format(time.DateOnly) + " (then docker and every notary client reject the repository)"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := setupWithSignStep(t, "root-warn-"+tc.name)
			pushRandom(t, a.repo+":v1")
			want := tc.age(t, a)
			signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)

			r := mustRun(t, signVars, "sign", a.repo+":v1")
			if strings.Count(r.stderr, want) != 1 || !strings.Contains(r.stderr, "sign-step root renew "+a.repo+" --root-key K") {
				t.Errorf("sign with an old root: want one warning with %q:\n%s", want, r.stderr)
			}
			pem, err := os.ReadFile(a.signerKey)
			if err != nil {
				t.Fatal(err)
			}
			gh := runAsGitHubAction(t, map[string]string{
				"command": "sign", "tags": a.repo + ":v1", "key": string(pem), "passphrase": repoPass,
				"notary-server": env.NotaryURL, "notary-ca": env.CACertFile, "registry-ca": env.CACertFile,
			}, nil)
			if gh.code != 0 || !strings.Contains(gh.log, "::warning title=sign-step sign::"+want) {
				t.Errorf("action: exit %d, want a ::warning:: with %q:\n%s", gh.code, want, gh.log)
			}

			mustRun(t, a.vars, "root", "renew", a.repo, "--root-key", a.rootKey)
			if r := mustRun(t, signVars, "sign", a.repo+":v1"); strings.Contains(r.stderr, "root renew") {
				t.Errorf("sign after root renew still warns:\n%s", r.stderr)
			}
		})
	}
}

// notaryCLIKeys are the private key files the notary CLI keeps in its
// trust dir, by the role in their PEM header.
func notaryCLIKeys(t *testing.T, n *testenv.CLI) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.ConfigDir, "private", "*.key"))
	keys := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?m)^role: (\S+)$`).FindSubmatch(b); m != nil {
			keys[string(m[1])] = f
		}
	}
	for _, role := range []string{"root", "targets", "snapshot"} {
		if keys[role] == "" {
			t.Fatalf("the notary CLI kept no %s key in %v", role, files)
		}
	}
	return keys
}

// TestRootRenewNotaryCLIRepository: a repository the notary CLI made (its
// init keeps the snapshot key on the client) is renewed with the snapshot
// key passed as --key, and the notary CLI that made it follows the rotation.
func TestRootRenewNotaryCLIRepository(t *testing.T) {
	t.Parallel()
	pass := testenv.Passphrases{Root: rootPass, Repository: repoPass}
	n := env.Notary(t, pass)
	gun := env.Repo("root-notary-cli")
	if _, _, err := n.Run("init", gun, "-p"); err != nil {
		t.Fatal(err)
	}
	keys := notaryCLIKeys(t, n)
	vars := map[string]string{"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	signArgs := func(tag string) []string {
		return []string{"sign", "--key", keys["targets"], "--key", keys["snapshot"], gun + ":" + tag}
	}
	pushRandom(t, gun+":v1")
	pushRandom(t, gun+":v2")
	mustRun(t, vars, signArgs("v1")...)

	expireRootAt(t, gun, keys["root"], time.Now().AddDate(0, 5, 0), keys["snapshot"])
	if r := signStep(t, vars, signArgs("v2")...); r.code != 3 || !strings.Contains(r.stderr, "sign-step root renew "+gun) {
		t.Fatalf("sign with root.json inside the window: exit %d, %q", r.code, r.stderr)
	}
	newRoot := filepath.Join(t.TempDir(), "root.key")
	mustRun(t, vars, "root", "renew", gun, "--root-key", keys["root"], "--key", keys["snapshot"], "--new-root-key-out", newRoot)
	mustRun(t, vars, signArgs("v2")...)
	list, _, err := n.Run("list", gun)
	if err != nil {
		t.Fatalf("the notary CLI that made the repository cannot read it after the rotation: %v", err)
	}
	if !regexp.MustCompile(`(?m)^v1\s`).MatchString(list) || !regexp.MustCompile(`(?m)^v2\s`).MatchString(list) {
		t.Errorf("notary list after the rotation:\n%s", list)
	}
	if _, tags := dockerRootID(t, env.Docker(t, pass), gun); strings.Join(tags, ",") != "v1,v2" {
		t.Errorf("docker sees tags %v, want v1,v2", tags)
	}
}

// TestRootRenewDockerRepository: a repository docker made (`docker trust
// signer add`, root key in docker's trust dir) is renewed with docker's
// root key file; docker then reads it and publishes into it again.
func TestRootRenewDockerRepository(t *testing.T) {
	t.Parallel()
	repo := env.Repo("root-docker")
	s := dockerSigner(t, "ci", repo)
	var rootKey string
	files, _ := filepath.Glob(filepath.Join(s.docker.ConfigDir, "trust", "private", "*.key"))
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "role: root\n") {
			rootKey = f
		}
	}
	if rootKey == "" {
		t.Fatalf("docker kept no root key in %v", files)
	}
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass, "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass}
	pushRandom(t, repo+":v1")
	pushRandom(t, repo+":v2")
	mustRun(t, vars, "sign", repo+":v1")
	oldID, _ := dockerRootID(t, s.docker, repo)

	expireRootAt(t, repo, rootKey, time.Now().AddDate(0, 5, 0))
	if r := signStep(t, vars, "sign", repo+":v2"); r.code != 3 || !strings.Contains(r.stderr, "sign-step root renew "+repo) {
		t.Fatalf("sign with root.json inside the window: exit %d, %q", r.code, r.stderr)
	}
	r := mustRun(t, vars, "root", "renew", repo, "--root-key", rootKey)
	m := renewedIDs.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != oldID {
		t.Fatalf("root renew of a docker repository (root %s):\n%s", oldID, r.stdout)
	}
	mustRun(t, vars, "sign", repo+":v2")
	if id, tags := dockerRootID(t, s.docker, repo); id != m[2] || strings.Join(tags, ",") != "v1,v2" {
		t.Errorf("docker sees root %s and tags %v, want %s and v1,v2", id, tags, m[2])
	}
	// docker publishes onto the renewed root (signer add needs its targets key only).
	addDockerSigner(t, s.docker, "bob", repo)
}

// TestRootRenewBadInput: each mistake is one line with its exit code, and
// root.json stays as it was.
func TestRootRenewBadInput(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "root-bad")
	_, before := serverRoot(t, a.repo)
	taken := filepath.Join(a.dir, "taken.key")
	if err := os.WriteFile(taken, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{a.repo}, 2, "--root-key is required"},
		{[]string{a.repo + ":v1", "--root-key", a.rootKey}, 2, "give a repository, not a tag"},
		{[]string{a.repo, "--root-key", a.targetsKey, "--root-passphrase", repoPass}, 3, "is not the root key of " + a.repo},
		{[]string{a.repo, "--root-key", a.rootKey, "--new-root-key-out", taken}, 2, "already exists"},
		{[]string{a.repo, "--root-key", a.rootKey, "--new-root-key", a.rootKey}, 2, "--new-root-key is the current root key"},
		{[]string{a.repo, "--root-key", a.rootKey, "--new-root-key", a.signerKey, "--new-root-key-out", filepath.Join(a.dir, "x.key")}, 2, "exclude each other"},
		{[]string{a.repo, "--root-key", a.rootKey, "--root-passphrase", "not-the-root-pass"}, 3, "wrong passphrase"},
	}
	for _, tc := range cases {
		r := signStep(t, a.vars, append([]string{"root", "renew"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("root renew %v: exit %d, stdout %q, stderr %q; want exit %d with %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
	if _, after := serverRoot(t, a.repo); after.Signed.Version != before.Signed.Version {
		t.Errorf("root.json went from version %d to %d", before.Signed.Version, after.Signed.Version)
	}
	if b, _ := os.ReadFile(taken); string(b) != "keep me" {
		t.Errorf("an existing --new-root-key-out file was overwritten")
	}
}
