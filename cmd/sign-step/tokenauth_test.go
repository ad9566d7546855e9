package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/testenv"
)

// The tests of this file sign and read through a real registry and a real
// notary-server behind the token service fixture, asserting from its log
// who asked for what: the credential sources, identity tokens, scopes per
// command, anonymous reads, the token cache and the realm policy.

// acrUser is the username `az acr login` writes next to an identity token.
const acrUser = "00000000-0000-0000-0000-000000000000"

// tokenDocker is a docker CLI logged in to reg as its admin, with reg's
// notary-server as trust server.
func tokenDocker(t *testing.T, reg *testenv.TokenRegistry) *testenv.CLI {
	t.Helper()
	d := env.Docker(t, testenv.Passphrases{Root: "root-pass-0123456789", Repository: repoPass})
	for i, kv := range d.Env {
		if strings.HasPrefix(kv, "DOCKER_CONTENT_TRUST_SERVER=") {
			d.Env[i] = "DOCKER_CONTENT_TRUST_SERVER=" + reg.NotaryURL
		}
	}
	for _, host := range []string{reg.Host, strings.TrimPrefix(reg.NotaryURL, "https://")} {
		dir := filepath.Join(d.ConfigDir, "tls", host)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.crt"), env.CACertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeDockerConfig(t, d.ConfigDir, map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": basicAuth(reg.Username, reg.Password)}}})
	return d
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

func writeDockerConfig(t *testing.T, dir string, cfg map[string]any) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tokenRepo is a repository of reg that docker initialized by adding the
// signer "ci" (docker trust signer add).
func tokenRepo(t *testing.T, reg *testenv.TokenRegistry, name string) (string, signer) {
	t.Helper()
	repo := reg.Repo(name)
	return repo, addDockerSigner(t, tokenDocker(t, reg), "ci", repo)
}

// repoPath is the registry's name of repo (its scope), the GUN without the host.
func repoPath(reg *testenv.TokenRegistry, repo string) string {
	return strings.TrimPrefix(repo, reg.Host+"/")
}

// addRepoUser adds an account that may pull and push repo, at the registry
// (by path) and at notary (by GUN).
func addRepoUser(reg *testenv.TokenRegistry, repo string, u testenv.TokenUser) (string, testenv.TokenUser) {
	name := "user-" + strings.ReplaceAll(repoPath(reg, repo), "/", "-")
	u.Access = map[string][]string{repoPath(reg, repo): {"pull", "push"}, repo: {"pull", "push"}}
	reg.Tokens.AddUser(name, u)
	return name, u
}

// requestsSince returns the token requests since the before-th that name
// repo, at the registry or at notary.
func requestsSince(reg *testenv.TokenRegistry, before int, repo string) []testenv.TokenRequest {
	var out []testenv.TokenRequest
	for _, q := range reg.Tokens.Requests()[before:] {
		for _, s := range q.Scopes {
			if strings.HasPrefix(s, "repository:"+repoPath(reg, repo)+":") || strings.HasPrefix(s, "repository:"+repo+":") {
				out = append(out, q)
				break
			}
		}
	}
	return out
}

// signedTags is what docker trust inspect shows signed in repo: tag -> digest.
func dockerSignedTags(t *testing.T, s signer, repo string) map[string]string {
	t.Helper()
	out, stderr, err := s.inspect(t, repo)
	if err != nil {
		t.Fatalf("docker trust inspect: %v: %s", err, stderr)
	}
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	tags := map[string]string{}
	for _, st := range got[0].SignedTags {
		tags[st.SignedTag] = "sha256:" + st.Digest
	}
	return tags
}

// TestTokenLogins signs through the token service with each source of
// credentials docker has: flags, config.json, a credential helper
// (credsStore and credHelpers, the real docker-credential-* protocol on
// PATH) and an identity token alone, as `az acr login` leaves it. Both the
// registry and notary must get tokens for the login; the identity token
// reaches notary through the OAuth2 refresh_token grant with docker's client
// id. A wrong password fails in one line and publishes nothing.
func TestTokenLogins(t *testing.T) {
	t.Parallel()
	reg := env.Token
	helperCtx := context.Background() // the build is bounded by the test binary's timeout
	type login struct {
		user, pass, refresh string
	}
	cases := []struct {
		name     string
		identity bool // the account logs in with an identity token only
		vars     func(t *testing.T, l login) (map[string]string, string)
		wantCode int
		wantErr  string // in the one line of a failure
	}{
		{name: "flags", vars: func(t *testing.T, l login) (map[string]string, string) {
			return map[string]string{"SIGN_STEP_REGISTRY_USERNAME": l.user, "SIGN_STEP_REGISTRY_PASSWORD": "env://PASS", "PASS": l.pass}, ""
		}},
		{name: "config.json auth", vars: func(t *testing.T, l login) (map[string]string, string) {
			dir := t.TempDir()
			writeDockerConfig(t, dir, map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": basicAuth(l.user, l.pass)}}})
			return map[string]string{"DOCKER_CONFIG": dir}, ""
		}},
		{name: "credsStore helper", vars: func(t *testing.T, l login) (map[string]string, string) {
			dir, bin := t.TempDir(), t.TempDir()
			writeDockerConfig(t, dir, map[string]any{"credsStore": "signsteptest"})
			if err := env.InstallCredentialHelper(helperCtx, bin, "signsteptest", map[string]testenv.HelperLogin{reg.Host: {Username: l.user, Secret: l.pass}}); err != nil {
				t.Fatal(err)
			}
			return map[string]string{"DOCKER_CONFIG": dir, "PATH": bin}, bin
		}},
		{name: "credHelpers helper", vars: func(t *testing.T, l login) (map[string]string, string) {
			dir, bin := t.TempDir(), t.TempDir()
			// credsStore is another helper that has nothing: credHelpers wins for the host.
			writeDockerConfig(t, dir, map[string]any{"credsStore": "empty", "credHelpers": map[string]string{reg.Host: "signsteptest"}})
			if err := env.InstallCredentialHelper(helperCtx, bin, "signsteptest", map[string]testenv.HelperLogin{reg.Host: {Username: l.user, Secret: l.pass}}); err != nil {
				t.Fatal(err)
			}
			return map[string]string{"DOCKER_CONFIG": dir, "PATH": bin}, bin
		}},
		{name: "identity token in config.json (az acr login)", identity: true, vars: func(t *testing.T, l login) (map[string]string, string) {
			dir := t.TempDir()
			writeDockerConfig(t, dir, map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": basicAuth(acrUser, ""), "identitytoken": l.refresh}}})
			return map[string]string{"DOCKER_CONFIG": dir}, ""
		}},
		{name: "identity token from a credential helper", identity: true, vars: func(t *testing.T, l login) (map[string]string, string) {
			dir, bin := t.TempDir(), t.TempDir()
			writeDockerConfig(t, dir, map[string]any{"credsStore": "signsteptest"})
			if err := env.InstallCredentialHelper(helperCtx, bin, "signsteptest", map[string]testenv.HelperLogin{reg.Host: {Username: "<token>", Secret: l.refresh}}); err != nil {
				t.Fatal(err)
			}
			return map[string]string{"DOCKER_CONFIG": dir, "PATH": bin}, bin
		}},
		{name: "wrong password (notary is asked first)", wantCode: 6, wantErr: "--registry-username", vars: func(t *testing.T, l login) (map[string]string, string) {
			return map[string]string{"SIGN_STEP_REGISTRY_USERNAME": l.user, "SIGN_STEP_REGISTRY_PASSWORD": "not-" + l.pass}, ""
		}},
		{name: "credential helper not on PATH", wantCode: 2, wantErr: "docker-credential-missing not found in PATH", vars: func(t *testing.T, l login) (map[string]string, string) {
			dir := t.TempDir()
			writeDockerConfig(t, dir, map[string]any{"credsStore": "missing"})
			return map[string]string{"DOCKER_CONFIG": dir, "PATH": t.TempDir()}, ""
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, s := tokenRepo(t, reg, "login")
			digest := pushTokenSource(t, repo+":v1")
			u := testenv.TokenUser{Password: "pass-" + repoPath(reg, repo)}
			if tc.identity {
				u = testenv.TokenUser{RefreshToken: "refresh-" + repoPath(reg, repo)}
			}
			user, u := addRepoUser(reg, repo, u)
			vars, helperDir := tc.vars(t, login{user: user, pass: u.Password, refresh: u.RefreshToken})
			before := len(reg.Tokens.Requests())
			r := signStep(t, with(vars, "SIGN_STEP_KEY", s.keyFile, "SIGN_STEP_PASSPHRASE", repoPass, "SIGN_STEP_NOTARY_SERVER", reg.NotaryURL), "sign", repo+":v1")
			if r.code != tc.wantCode {
				t.Fatalf("sign: exit %d, want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			for _, secret := range []string{u.Password, u.RefreshToken} {
				if secret != "" && strings.Contains(r.stdout+r.stderr, secret) {
					t.Error("a secret was printed")
				}
			}
			reqs := requestsSince(reg, before, repo)
			if tc.wantCode != 0 {
				if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(r.stderr, tc.wantErr) {
					t.Errorf("stderr is not one line naming %q: %q", tc.wantErr, r.stderr)
				}
				if got := dockerSignedTags(t, s, repo); len(got) != 0 {
					t.Errorf("a failed login published %v", got)
				}
				for _, q := range reqs {
					if q.OK && strings.Contains(strings.Join(q.Scopes, " "), "push") {
						t.Errorf("a write token was granted: %+v", q)
					}
				}
				return
			}
			granted := map[string]bool{}
			for _, q := range reqs {
				if q.User == user && q.OK && len(q.Granted) > 0 {
					granted[q.Service] = true
				}
				if tc.identity && q.Service == testenv.TokenNotaryService &&
					(q.Method != "POST" || q.Grant != "refresh_token" || q.ClientID != "docker") {
					t.Errorf("notary token request %+v, want POST grant_type=refresh_token client_id=docker", q)
				}
			}
			if !granted[testenv.TokenRegistryService] || !granted[testenv.TokenNotaryService] {
				t.Errorf("%s got tokens from %v, want the registry and notary; requests: %+v", user, granted, reqs)
			}
			if helperDir != "" && !slices.Contains(testenv.CredentialHelperCalls(helperDir), "get "+reg.Host) {
				t.Errorf("the credential helper was asked %v, want get %s", testenv.CredentialHelperCalls(helperDir), reg.Host)
			}
			if got := dockerSignedTags(t, s, repo); got["v1"] != digest {
				t.Errorf("docker sees %v, want v1 at %s", got, digest)
			}
		})
	}
}

// scopesOf returns the sorted distinct scopes requested of service.
func scopesOf(reqs []testenv.TokenRequest, service string) []string {
	seen := map[string]bool{}
	for _, q := range reqs {
		if q.Service == service {
			for _, s := range q.Scopes {
				seen[s] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// TestTokenScopesPerCommand runs each command against the token pair and
// checks the scopes it asked for: "pull" only for the reads (inspect,
// verify, and every command's reading of trust data), "pull,push" at notary
// only for publishing, and never push at the registry but to push an image.
func TestTokenScopesPerCommand(t *testing.T) {
	t.Parallel()
	reg := env.Token
	repo, s := tokenRepo(t, reg, "scopes")
	pushTokenSource(t, repo+":v1")
	path := repoPath(reg, repo)
	login := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL, "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	layoutDir := t.TempDir()
	writeLayout(t, layoutDir)
	pull := func(name string) string { return "repository:" + name + ":pull" }
	write := []string{pull(repo), "repository:" + repo + ":pull,push"}
	steps := []struct {
		args         []string
		wantNotary   []string
		wantRegistry []string
	}{
		{[]string{"sign", "--dry-run", repo + ":v1"}, []string{pull(repo)}, []string{pull(path)}}, // publishes nothing
		{[]string{"sign", repo + ":v1"}, write, []string{pull(path)}},
		// cosign reads with pull, and writes its .sig image with push,pull
		{[]string{"sign", "--also-sign", "cosign", "--dry-run", repo + ":v1"}, []string{pull(repo)}, []string{pull(path)}},
		{[]string{"sign", "--also-sign", "cosign", "--force", repo + ":v1"}, write, []string{pull(path), "repository:" + path + ":push,pull"}},
		{[]string{"verify", repo + ":v1"}, []string{pull(repo)}, nil}, // a tag resolves through trust data alone
		{[]string{"inspect", repo}, []string{pull(repo)}, nil},
		{[]string{"sign", "--source", layoutDir, repo + ":v2"}, write, []string{"repository:" + path + ":push,pull"}},
		{[]string{"resign", "--dry-run", repo}, []string{pull(repo)}, nil},
		{[]string{"resign", repo}, write, nil},
		{[]string{"revoke", repo + ":v2"}, write, nil},
	}
	for _, st := range steps {
		before := len(reg.Tokens.Requests())
		r := signStep(t, login, st.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", st.args, r.code, r.stderr)
		}
		reqs := requestsSince(reg, before, repo)
		if got := scopesOf(reqs, testenv.TokenNotaryService); !slices.Equal(got, st.wantNotary) {
			t.Errorf("%v asked notary for %v, want %v", st.args, got, st.wantNotary)
		}
		if got := scopesOf(reqs, testenv.TokenRegistryService); !slices.Equal(got, st.wantRegistry) {
			t.Errorf("%v asked the registry for %v, want %v", st.args, got, st.wantRegistry)
		}
	}
}

// TestTokenAnonymousRead verifies and inspects a public repository with no
// credentials at all, as anyone may pull it; a private one is refused in
// one line.
func TestTokenAnonymousRead(t *testing.T) {
	t.Parallel()
	reg := env.Token
	public, s := tokenRepo(t, reg, "public")
	private, _ := tokenRepo(t, reg, "private")
	digest := pushTokenSource(t, public+":v1")
	pushTokenSource(t, private+":v1")
	admin := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL, "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	if r := signStep(t, admin, "sign", public+":v1"); r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	reg.Tokens.AllowAnonymousPull(repoPath(reg, public))
	reg.Tokens.AllowAnonymousPull(public)
	anonymous := map[string]string{"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL}
	cases := []struct {
		name     string
		args     []string
		repo     string
		wantCode int
		wantOut  string
	}{
		{"verify public", []string{"verify", public + ":v1"}, public, 0, public + "@" + digest},
		{"inspect public", []string{"inspect", public + ":v1"}, public, 0, strings.TrimPrefix(digest, "sha256:")},
		{"verify private", []string{"verify", private + ":v1"}, private, 6, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(reg.Tokens.Requests())
			r := signStep(t, anonymous, tc.args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantOut) {
				t.Errorf("stdout %q does not hold %q", r.stdout, tc.wantOut)
			}
			if tc.wantCode != 0 && len(strings.Split(strings.TrimSpace(r.stderr), "\n")) != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			reqs := requestsSince(reg, before, tc.repo)
			if len(reqs) == 0 {
				t.Error("no token request: the servers did not ask for a token")
			}
			for _, q := range reqs {
				if q.Grant != "anonymous" || q.User != "" {
					t.Errorf("request %+v, want anonymous", q)
				}
			}
		})
	}
}

// TestTokenCache counts the token requests of a multi-tag sign and of a
// multi-repository sign: one per service and scope.
func TestTokenCache(t *testing.T) {
	t.Parallel()
	reg := env.Token
	a, s := tokenRepo(t, reg, "cache-a")
	b := reg.Repo("cache-b")
	if _, _, err := s.docker.Run("trust", "signer", "add", "--key", s.pubFile, "ci", b); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{a + ":v1", a + ":v2", a + ":v3", b + ":v1"} {
		pushTokenSource(t, ref)
	}
	login := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL, "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	cases := []struct {
		name  string
		args  []string
		repos []string
	}{
		{"three tags", []string{"sign", a + ":v1", a + ":v2", a + ":v3"}, []string{a}},
		{"two repositories", []string{"sign", a + ":v1", b + ":v1"}, []string{a, b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(reg.Tokens.Requests())
			if r := signStep(t, login, tc.args...); r.code != 0 {
				t.Fatalf("sign: %d %s", r.code, r.stderr)
			}
			count := map[string]int{}
			for _, repo := range tc.repos {
				for _, q := range requestsSince(reg, before, repo) {
					count[q.Service+" "+strings.Join(q.Scopes, " ")]++
				}
			}
			if len(count) == 0 {
				t.Fatal("no token request")
			}
			for k, n := range count {
				if n != 1 {
					t.Errorf("%d token requests for %s, want 1", n, k)
				}
			}
			t.Logf("token requests: %v", count)
		})
	}
}

// TestTokenRealms signs where the token realm is on the registry's own IP
// at another port (allowed, as docker allows it), on another private IP
// (refused with the flag named, on the registry side and the notary side,
// then allowed with --allow-token-realm), and on a DNS name.
func TestTokenRealms(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ts := env.Token.Tokens
	ownIP, err := env.TokenRegistryWithRealm(ctx, "https://"+ts.Addr+"/token")
	if err != nil {
		t.Fatal(err)
	}
	otherRealm, err := ts.Listen(env, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	otherIP, err := env.TokenRegistryWithRealm(ctx, otherRealm)
	if err != nil {
		t.Fatal(err)
	}
	// The registry sends clients to 127.0.0.2, its notary to localhost:
	// the registry side alone refuses.
	registryOnly := *otherIP
	registryOnly.NotaryURL = env.Token.NotaryURL
	cases := []struct {
		name       string
		reg        *testenv.TokenRegistry
		allow      string
		wantCode   int // of sign
		wantNotary bool
	}{
		{"registry's own IP, other port", ownIP, "", 0, true},
		{"other private IP", otherIP, "", 6, false}, // notary is asked first
		{"other private IP at the registry only", &registryOnly, "", 5, true},
		{"other private IP, allowed", otherIP, "127.0.0.2", 0, true},
		{"other private IP at the registry only, allowed", &registryOnly, "127.0.0.2", 0, true},
		{"DNS name", env.Token, "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, s := tokenRepo(t, tc.reg, "realm")
			src := t.TempDir()
			writeLayout(t, src)
			vars := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": tc.reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": tc.reg.Password,
				"SIGN_STEP_NOTARY_SERVER": tc.reg.NotaryURL, "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			if tc.allow != "" {
				vars["SIGN_STEP_ALLOW_TOKEN_REALM"] = tc.allow
			}
			before := len(ts.Requests())
			r := signStep(t, vars, "sign", "--source", src, repo+":v1")
			if r.code != tc.wantCode {
				t.Fatalf("sign: exit %d, want %d: %s", r.code, tc.wantCode, r.stderr)
			}
			ins := signStep(t, vars, "verify", repo+":v1") // reads notary first
			if tc.wantCode == 0 {
				if ins.code != 0 {
					t.Fatalf("verify: exit %d: %s", ins.code, ins.stderr)
				}
				if got := dockerSignedTags(t, s, repo); got["v1"] == "" {
					t.Errorf("docker sees %v, want v1 signed", got)
				}
				return
			}
			refused := []result{r}
			if !tc.wantNotary {
				refused = append(refused, ins) // else nothing is signed to verify
			}
			for _, out := range refused {
				if lines := strings.Split(strings.TrimSpace(out.stderr), "\n"); len(lines) != 1 || !strings.Contains(out.stderr, "--allow-token-realm 127.0.0.2") {
					t.Errorf("stderr is not one line naming the flag: %q", out.stderr)
				}
			}
			// Nothing reached the service from the refused side.
			for _, q := range requestsSince(tc.reg, before, repo) {
				if !tc.wantNotary || q.Service == testenv.TokenRegistryService {
					t.Errorf("the refused realm was asked for a token: %+v", q)
				}
			}
			if got := dockerSignedTags(t, s, repo); len(got) != 0 {
				t.Errorf("published %v", got)
			}
		})
	}
}

// TestTokenRealmFromA401: the notary server's challenge is learned from its
// 401 to the first trust-data request, not from a ping of /v2/ (none is
// sent), and the realm policy still holds for it: a notary server whose 401
// sends clients to a token service on another private IP gets a one-line
// refusal naming --allow-token-realm, and that service is never asked, with
// or without credentials. Allowed, the same service gets the login (so the
// assertion sees a request when there is one).
func TestTokenRealmFromA401(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ts := env.Token.Tokens
	foreign, err := ts.Listen(env, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := env.TokenRegistryWithRealm(ctx, foreign)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		allow string
	}{
		{"foreign realm refused", ""},
		{"foreign realm allowed", "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo, s := tokenRepo(t, attacker, "realm401")
			proxy, err := env.NewFaultProxy(attacker.NotaryURL)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			vars := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": attacker.Username, "SIGN_STEP_REGISTRY_PASSWORD": attacker.Password,
				"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			if tc.allow != "" {
				vars["SIGN_STEP_ALLOW_TOKEN_REALM"] = tc.allow
			}
			before := len(ts.Requests())
			r := signStep(t, vars, "verify", repo+":v1")
			seen := proxy.Seen()
			if n := seen["GET /v2/"]; n != 0 {
				t.Errorf("%d pings of notary, want the challenge from the first 401: %v", n, seen)
			}
			if n := seen["GET /v2/"+repo+"/_trust/tuf/root.json"]; n == 0 {
				t.Errorf("root.json was not asked: %v", seen)
			}
			var notary []testenv.TokenRequest
			for _, q := range requestsSince(attacker, before, repo) {
				if q.Service != testenv.TokenRegistryService {
					notary = append(notary, q)
				}
			}
			if tc.allow != "" {
				if len(notary) == 0 || notary[0].User != attacker.Username {
					t.Errorf("allowed realm: token requests %+v, want the login", notary)
				}
				return
			}
			if r.code != 6 || len(strings.Split(strings.TrimSpace(r.stderr), "\n")) != 1 || !strings.Contains(r.stderr, "--allow-token-realm 127.0.0.2") {
				t.Errorf("exit %d, want 6 and one line naming --allow-token-realm 127.0.0.2: %q", r.code, r.stderr)
			}
			if len(notary) != 0 {
				t.Errorf("the refused realm was asked for a token: %+v", notary)
			}
			if strings.Contains(r.stdout+r.stderr, attacker.Password) {
				t.Error("the password was printed")
			}
		})
	}
}

// TestTokenRealmPlainHTTP is a notary server (and registry) that sends
// clients to a plain-http token realm, where the login would travel in
// clear text: sign-step refuses in one line and never connects to it.
func TestTokenRealmPlainHTTP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg, err := env.TokenRegistryWithRealm(ctx, "http://"+ln.Addr().String()+"/token")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL, "SIGN_STEP_ALLOW_TOKEN_REALM": "127.0.0.1"}
	for _, args := range [][]string{{"verify", reg.Repo("plain") + ":v1"}, {"inspect", reg.Repo("plain")}} {
		r := signStep(t, vars, args...)
		// Refused for the right reason, not for any failure before the challenge.
		if r.code == 0 || len(strings.Split(strings.TrimSpace(r.stderr), "\n")) != 1 || !strings.Contains(r.stderr, "only https realms are used") {
			t.Errorf("%v: exit %d, want a one-line refusal of the plain-http realm: %q", args, r.code, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, reg.Password) {
			t.Error("the password was printed")
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections to the plain-http realm", n)
	}
}

// TestTokenReadsAsDockerDoes reads a repository with docker trust inspect
// and with sign-step inspect and verify, from the same config.json, and
// compares the notary token requests each made: same method, grant, client
// id and scopes, for a password login and for an identity token alone.
func TestTokenReadsAsDockerDoes(t *testing.T) {
	t.Parallel()
	reg := env.Token
	repo, s := tokenRepo(t, reg, "parity")
	pushTokenSource(t, repo+":v1")
	admin := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER": reg.NotaryURL, "SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	if r := signStep(t, admin, "sign", repo+":v1"); r.code != 0 {
		t.Fatalf("sign: %d %s", r.code, r.stderr)
	}
	user, u := addRepoUser(reg, repo, testenv.TokenUser{Password: "pass-" + repoPath(reg, repo), RefreshToken: "refresh-" + repoPath(reg, repo)})
	configs := map[string]map[string]string{
		"password":       {"auth": basicAuth(user, u.Password)},
		"identity token": {"auth": basicAuth(acrUser, ""), "identitytoken": u.RefreshToken},
	}
	// shape is a notary token request without what differs by nature.
	type shape struct {
		Method, Grant, User, ClientID, Scopes string
		OK                                    bool
	}
	shapes := func(before int) []shape {
		var out []shape
		for _, q := range requestsSince(reg, before, repo) {
			if q.Service == testenv.TokenNotaryService {
				out = append(out, shape{q.Method, q.Grant, q.User, q.ClientID, strings.Join(q.Scopes, " "), q.OK})
			}
		}
		return out
	}
	for name, auth := range configs {
		t.Run(name, func(t *testing.T) {
			d := tokenDocker(t, reg)
			writeDockerConfig(t, d.ConfigDir, map[string]any{"auths": map[string]any{reg.Host: auth}})
			before := len(reg.Tokens.Requests())
			if out, stderr, err := d.Run("trust", "inspect", repo); err != nil {
				t.Fatalf("docker trust inspect: %v: %s%s", err, out, stderr)
			}
			docker := shapes(before)
			t.Logf("docker trust inspect asked notary: %+v", docker)
			if len(docker) == 0 {
				t.Fatal("docker asked for no notary token")
			}
			for _, args := range [][]string{{"inspect", repo}, {"verify", repo + ":v1"}} {
				before := len(reg.Tokens.Requests())
				r := signStep(t, map[string]string{"DOCKER_CONFIG": d.ConfigDir, "SIGN_STEP_NOTARY_SERVER": reg.NotaryURL}, args...)
				if r.code != 0 {
					t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
				}
				if ours := shapes(before); !slices.Equal(ours, docker) {
					t.Errorf("%v asked notary %+v\ndocker asked %+v", args, ours, docker)
				}
			}
		})
	}
}

// TestTokenScopesAdmin is TestTokenScopesPerCommand for the commands that
// set a repository up, on the token pair with sign-step alone: each asks
// notary for "pull,push" only when it publishes, and never for "*".
func TestTokenScopesAdmin(t *testing.T) {
	t.Parallel()
	reg := env.Token
	repo, dir := reg.Repo("admin-scopes"), t.TempDir()
	root, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := utils.ConvertPrivateKeyToPKCS8(root, "root", "", rootPass)
	if err != nil {
		t.Fatal(err)
	}
	rootKey, targetsKey := filepath.Join(dir, "root.key"), filepath.Join(dir, "targets.key")
	if err := os.WriteFile(rootKey, rootPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ci, ciPub, ci2 := filepath.Join(dir, "ci.key"), filepath.Join(dir, "ci.pub"), filepath.Join(dir, "ci2.key")
	vars := map[string]string{"SIGN_STEP_REGISTRY_USERNAME": reg.Username, "SIGN_STEP_REGISTRY_PASSWORD": reg.Password,
		"SIGN_STEP_NOTARY_SERVER":              reg.NotaryURL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	pull := []string{"repository:" + repo + ":pull"}
	write := []string{"repository:" + repo + ":pull", "repository:" + repo + ":pull,push"}
	steps := []struct {
		vars []string
		args []string
		want []string
	}{
		{nil, []string{"init", repo, "--root-key", rootKey, "--targets-key-out", targetsKey}, write},
		{nil, []string{"init", repo, "--root-key", rootKey, "--targets-key", targetsKey}, pull}, // already initialized
		{nil, []string{"key", "generate", "ci", "--out", ci, "--pub-out", ciPub}, nil},
		{nil, []string{"signer", "add", "ci", "--public-key", ciPub, "--key", targetsKey, repo}, write},
		{[]string{"SIGN_STEP_KEY", ci}, []string{"sign", repo + ":v1"}, write}, // rotate re-signs what ci signed
		{nil, []string{"key", "generate", "ci", "--out", ci2}, nil},
		{[]string{"SIGN_STEP_KEY", targetsKey}, []string{"key", "rotate", "ci", repo, "--new-key", ci2}, write},
		{nil, []string{"signer", "remove", "ci", "--key", targetsKey, repo}, write},
	}
	pushTokenSource(t, repo+":v1")
	for _, st := range steps {
		before := len(reg.Tokens.Requests())
		r := signStep(t, with(vars, st.vars...), st.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s%s", st.args, r.code, r.stdout, r.stderr)
		}
		if got := scopesOf(requestsSince(reg, before, repo), testenv.TokenNotaryService); !slices.Equal(got, st.want) && !(len(got) == 0 && st.want == nil) {
			t.Errorf("%v asked notary for %v, want %v", st.args, got, st.want)
		}
	}
}
