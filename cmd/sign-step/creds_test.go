package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestSourceLoginStaysWithItsRegistry copies an image from a token-auth
// source registry (a hostile one, as far as the destination's login goes)
// to the htpasswd destination registry. The source's token service logs who
// asked: the destination's login must never reach it, whether it comes as
// --registry-username/--registry-password or as --notary-auth. The source
// is read anonymously, or with --source-username/--source-password.
func TestSourceLoginStaysWithItsRegistry(t *testing.T) {
	t.Parallel()
	dest, src := env.Auth, env.Token
	ts := src.Tokens
	repo := dest.Repo("from-token-source")
	s := dockerSigner(t, "ci", repo)
	notaryAuth := base64.StdEncoding.EncodeToString([]byte(dest.Username + ":" + dest.Password))
	base := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	flags := with(base, "SIGN_STEP_REGISTRY_USERNAME", dest.Username, "SIGN_STEP_REGISTRY_PASSWORD", "env://DEST_PASS", "DEST_PASS", dest.Password)

	cases := []struct {
		name     string
		vars     map[string]string
		public   bool   // the source repository allows anonymous pulls
		srcLogin bool   // pass --source-username/--source-password: the token service must see only them
		wantCode int    // sign-step's exit code
		wantErr  string // in its one error line
	}{
		{"flags, source login", flags, false, true, 0, ""},
		{"notary-auth, source login", with(base, "SIGN_STEP_NOTARY_AUTH", notaryAuth), false, true, 0, ""},
		{"flags, public source", flags, true, false, 0, ""},
		{"flags, private source, no source login", flags, false, false, 5, "check --source-username/--source-password"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srcRef := src.Repo("token-source") + ":v1"
			srcRepo := strings.TrimPrefix(strings.TrimSuffix(srcRef, ":v1"), src.Host+"/")
			digest := pushTokenSource(t, srcRef)
			vars := tc.vars
			if tc.public {
				ts.AllowAnonymousPull(srcRepo)
			}
			reader, readerPass := "reader-"+srcRepo, "reader-pass-"+srcRepo
			ts.AddUser(reader, testenv.TokenUser{Password: readerPass, Access: map[string][]string{srcRepo: {"pull"}}})
			if tc.srcLogin {
				vars = with(vars, "SIGN_STEP_SOURCE_USERNAME", reader, "SIGN_STEP_SOURCE_PASSWORD", "env://SRC_PASS", "SRC_PASS", readerPass)
			}
			tag := repo + ":" + string(rune('a'+i))
			before := len(ts.RequestsFor(srcRepo)) // the admin's push
			r := signStep(t, vars, "sign", "--source", srcRef, tag)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("exit %d, want %d and %q: %s", r.code, tc.wantCode, tc.wantErr, r.stderr)
			}

			asked := ts.RequestsFor(srcRepo)[before:]
			if len(asked) == 0 {
				t.Fatal("the source's token service was never asked")
			}
			for _, q := range asked {
				if q.User == dest.Username {
					t.Errorf("the destination's username reached the source's token service: %+v", q)
				}
				want := "" // anonymous
				if tc.srcLogin {
					want = reader
				}
				if q.User != want {
					t.Errorf("token service saw user %q, want %q", q.User, want)
				}
			}
			if ts.SawPassword(dest.Password) {
				t.Error("the destination's password reached the source's token service")
			}
			if strings.Contains(r.stdout+r.stderr, dest.Password) || strings.Contains(r.stdout+r.stderr, readerPass) {
				t.Error("a password was printed")
			}
			if tc.wantCode != 0 || r.code != 0 {
				return
			}
			// The destination holds the source's image, and docker sees it signed.
			got, err := crane.Digest(tag, crane.WithTransport(env.Transport()), crane.WithAuth(&authn.Basic{Username: dest.Username, Password: dest.Password}))
			if err != nil || got != digest {
				t.Errorf("destination has %s at %s (%v), want %s", got, tag, err, digest)
			}
			out, _, err := s.inspect(t, tag)
			if err != nil {
				t.Fatal(err)
			}
			var seen inspected
			if err := json.Unmarshal([]byte(out), &seen); err != nil || len(seen) != 1 || len(seen[0].SignedTags) != 1 ||
				"sha256:"+seen[0].SignedTags[0].Digest != digest {
				t.Errorf("docker trust inspect %s: %v\n%s\nwant %s signed", tag, err, out, digest)
			}
		})
	}
}

// pushTokenSource pushes a random image to ref on the token-auth registry
// with its admin login, and returns its digest.
func pushTokenSource(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: env.Token.Username, Password: env.Token.Password})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestLoginReachesTheDestinationNotary signs into a registry and a
// notary-server that both sit behind a token service, copying from the
// htpasswd registry with its own --source-* login: the destination login
// (flags or --notary-auth) reaches the destination's token service for the
// registry and for notary, the source login never does, and docker sees
// the tag signed.
func TestLoginReachesTheDestinationNotary(t *testing.T) {
	t.Parallel()
	dest, src := env.Token, env.Auth
	ts := dest.Tokens
	cases := []struct {
		name  string
		login func(user, pass string) map[string]string
	}{
		{"flags", func(user, pass string) map[string]string {
			return map[string]string{"SIGN_STEP_REGISTRY_USERNAME": user, "SIGN_STEP_REGISTRY_PASSWORD": "env://DEST_PASS", "DEST_PASS": pass}
		}},
		{"notary-auth", func(user, pass string) map[string]string {
			return map[string]string{"SIGN_STEP_NOTARY_AUTH": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := dest.Repo("token-dest")
			path := strings.TrimPrefix(repo, dest.Host+"/")
			user, pass := "signer-"+path, "signer-pass-"+path
			// The registry's scope names the path, notary's the GUN.
			ts.AddUser(user, testenv.TokenUser{Password: pass, Access: map[string][]string{path: {"pull", "push"}, repo: {"pull", "push"}}})

			// docker, logged in to the token registry as its admin, sets the repository up.
			d := env.Docker(t, testenv.Passphrases{Root: "root-pass-0123456789", Repository: repoPass})
			for i, kv := range d.Env {
				if strings.HasPrefix(kv, "DOCKER_CONTENT_TRUST_SERVER=") {
					d.Env[i] = "DOCKER_CONTENT_TRUST_SERVER=" + dest.NotaryURL
				}
			}
			auth := base64.StdEncoding.EncodeToString([]byte(dest.Username + ":" + dest.Password))
			cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{dest.Host: map[string]string{"auth": auth}}})
			if err := os.WriteFile(filepath.Join(d.ConfigDir, "config.json"), cfg, 0o600); err != nil {
				t.Fatal(err)
			}
			s := addDockerSigner(t, d, "ci", repo)

			srcRef := src.Repo("auth-source") + ":v1"
			digest := pushToAuthRegistry(t, srcRef).String()
			before := len(ts.Requests())
			vars := with(tc.login(user, pass), "SIGN_STEP_KEY", s.keyFile, "SIGN_STEP_PASSPHRASE", repoPass,
				"SIGN_STEP_NOTARY_SERVER", dest.NotaryURL,
				"SIGN_STEP_SOURCE_USERNAME", src.Username, "SIGN_STEP_SOURCE_PASSWORD", "env://SRC_PASS", "SRC_PASS", src.Password)
			r := signStep(t, vars, "sign", "--source", srcRef, repo+":v1")
			if r.code != 0 {
				t.Fatalf("sign: exit %d: %s", r.code, r.stderr)
			}

			services := map[string]bool{}
			for _, q := range ts.Requests()[before:] {
				if q.User == src.Username {
					t.Errorf("the source's login reached the destination's token service: %+v", q)
				}
				if q.User == user && q.OK && len(q.Granted) > 0 {
					services[q.Service] = true
				}
			}
			if !services[testenv.TokenRegistryService] || !services[testenv.TokenNotaryService] {
				t.Errorf("the destination login got tokens for %v, want the registry and notary", services)
			}
			if ts.SawPassword(src.Password) {
				t.Error("the source's password reached the destination's token service")
			}
			if strings.Contains(r.stdout+r.stderr, pass) || strings.Contains(r.stdout+r.stderr, src.Password) {
				t.Error("a password was printed")
			}
			// A repository named only in --repos-file is a destination too:
			// the login reaches its notary.
			reposFile := filepath.Join(t.TempDir(), "repos")
			if err := os.WriteFile(reposFile, []byte(repo+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if rr := signStep(t, vars, "resign", "--repos-file", reposFile); rr.code != 0 || !strings.Contains(rr.stdout, "resigned") {
				t.Errorf("resign --repos-file behind token auth: exit %d\n%s%s", rr.code, rr.stdout, rr.stderr)
			}
			out, _, err := s.inspect(t, repo+":v1")
			if err != nil {
				t.Fatal(err)
			}
			var seen inspected
			if err := json.Unmarshal([]byte(out), &seen); err != nil || len(seen) != 1 || len(seen[0].SignedTags) != 1 ||
				"sha256:"+seen[0].SignedTags[0].Digest != digest {
				t.Errorf("docker trust inspect: %v\n%s\nwant %s signed", err, out, digest)
			}
		})
	}
}
