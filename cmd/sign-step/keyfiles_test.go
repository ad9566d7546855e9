package main

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"
)

// newRootKey writes an encrypted root key to dir and returns its path.
func newRootKey(t *testing.T, dir string) string {
	t.Helper()
	root, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := utils.ConvertPrivateKeyToPKCS8(root, "root", "", rootPass)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "root.key")
	if err := os.WriteFile(p, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// errorLine is sign-step's one error line on stderr, or "".
func errorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "sign-step: ") {
			return l
		}
	}
	return ""
}

// mustBe fails unless path holds exactly want (a regular file, or through
// its symlink).
func mustBe(t *testing.T, path, want string) {
	t.Helper()
	if b, err := os.ReadFile(path); err != nil || string(b) != want {
		t.Errorf("%s now holds %.40q (%v); want it untouched", path, b, err)
	}
}

func mustNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was created (%v)", path, err)
	}
}

// TestInitTwiceKeepsTheKeyFile re-runs an init that generated the
// repository key (the documented idempotent bootstrap): the key file stays
// the repository's key, and nothing is written.
func TestInitTwiceKeepsTheKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	repo := env.Repo("init-twice")
	vars := map[string]string{"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	rootKey := newRootKey(t, dir)
	targetsKey := filepath.Join(dir, "targets.key")
	first := mustRun(t, vars, "init", repo, "--root-key", rootKey, "--targets-key-out", targetsKey)
	if !strings.Contains(first.stdout, "initialized "+repo) {
		t.Fatalf("first init: %q", first.stdout)
	}
	original, err := os.ReadFile(targetsKey)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(targetsKey); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	t.Run("reruns", func(t *testing.T) {
		const same = "already initialized with this root key; changed nothing"
		cases := []struct {
			name     string
			args     func(t *testing.T) []string
			written  string // a path the run must not create
			wantCode int
			wantMsg  string // in stdout on success, else in stderr
		}{
			{"same --targets-key-out", func(t *testing.T) []string {
				return []string{"--root-key", rootKey, "--targets-key-out", targetsKey}
			}, "", 0, same},
			{"another --targets-key-out", func(t *testing.T) []string {
				return []string{"--root-key", rootKey, "--targets-key-out", filepath.Join(dir, "other.key")}
			}, filepath.Join(dir, "other.key"), 0, same},
			{"--targets-key", func(t *testing.T) []string { return []string{"--root-key", rootKey, "--targets-key", targetsKey} }, "", 0, same},
			{"another root", func(t *testing.T) []string {
				return []string{"--root-key", newRootKey(t, t.TempDir()), "--targets-key-out", filepath.Join(dir, "third.key")}
			}, filepath.Join(dir, "third.key"), 6, "already initialized with another root key; not touching it"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := signStep(t, vars, append([]string{"init", repo}, tc.args(t)...)...)
				msg := r.stdout
				if tc.wantCode != 0 {
					msg = errorLine(r.stderr)
				}
				if r.code != tc.wantCode || !strings.Contains(msg, tc.wantMsg) {
					t.Errorf("re-run: exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, tc.wantCode, tc.wantMsg)
				}
				mustBe(t, targetsKey, string(original))
				if tc.written != "" {
					mustNotExist(t, tc.written)
				}
			})
		}
	})
	// The file still holds the repository key: the server takes a change signed with it.
	pub := filepath.Join(dir, "ci.pub")
	mustRun(t, vars, "key", "generate", "ci", "--out", filepath.Join(dir, "ci.key"), "--pub-out", pub)
	mustRun(t, vars, "signer", "add", "ci", "--public-key", pub, "--key", targetsKey, repo)
}

// TestInitRefusesTakenKeyFile: on a new repository, a --targets-key-out
// that names anything (a key, a symlink, a dangling symlink, a directory)
// is refused before anything is published, and its target is untouched.
func TestInitRefusesTakenKeyFile(t *testing.T) {
	t.Parallel()
	const original = "the only copy of another repository's key\n"
	cases := []struct {
		name    string
		plant   func(t *testing.T, out, outside string)
		created string // relative to outside: must stay absent
	}{
		{"existing key file", func(t *testing.T, out, outside string) {
			if err := os.WriteFile(out, []byte(original), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"symlink to a key file", func(t *testing.T, out, outside string) {
			symlinkOrSkip(t, filepath.Join(outside, "target"), out)
		}, ""},
		{"dangling symlink", func(t *testing.T, out, outside string) {
			symlinkOrSkip(t, filepath.Join(outside, "new.key"), out)
		}, "new.key"},
		{"directory", func(t *testing.T, out, outside string) {
			if err := os.Mkdir(out, 0o700); err != nil {
				t.Fatal(err)
			}
		}, ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, outside := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte(original), 0o600); err != nil {
				t.Fatal(err)
			}
			repo := env.Repo("init-taken-" + string(rune('a'+i)))
			vars := map[string]string{"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
			rootKey := newRootKey(t, dir)
			out := filepath.Join(dir, "targets.key")
			tc.plant(t, out, outside)
			r := signStep(t, vars, "init", repo, "--root-key", rootKey, "--targets-key-out", out)
			if line := errorLine(r.stderr); r.code != 2 || !strings.Contains(line, "--targets-key-out: "+out+" already exists; refusing to overwrite a key file") {
				t.Errorf("exit %d, stderr %q; want 2 and one line saying %s exists", r.code, r.stderr, out)
			}
			mustBe(t, filepath.Join(outside, "target"), original)
			if tc.created != "" {
				mustNotExist(t, filepath.Join(outside, tc.created))
			}
			// Nothing was published: the repository is still new.
			again := mustRun(t, vars, "init", repo, "--root-key", rootKey, "--targets-key-out", filepath.Join(dir, "fresh.key"))
			if !strings.HasPrefix(again.stdout, "initialized "+repo) {
				t.Errorf("init after the refusal: %q; want a new repository", again.stdout)
			}
		})
	}
}

// TestKeyGenerateNeverOverwrites: as docker refuses an existing NAME.pub,
// key generate refuses any file it would write, before generating.
func TestKeyGenerateNeverOverwrites(t *testing.T) {
	t.Parallel()
	const original = "an existing key\n"
	vars := map[string]string{"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	cases := []struct {
		name  string
		plant func(t *testing.T, dir, outside string) (out, pub string)
		// untouched are files that must keep original; absent must not exist.
		untouched, absent func(dir, outside string) []string
	}{
		{"run twice", func(t *testing.T, dir, outside string) (string, string) {
			out := filepath.Join(dir, "ci.key")
			mustRun(t, vars, "key", "generate", "ci", "--out", out)
			b, _ := os.ReadFile(out)
			if err := os.WriteFile(filepath.Join(outside, "first.key"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			return out, ""
		}, nil, nil},
		{"--pub-out exists", func(t *testing.T, dir, outside string) (string, string) {
			pub := filepath.Join(dir, "ci.pub")
			if err := os.WriteFile(pub, []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "ci.key"), pub
		}, func(dir, _ string) []string { return []string{filepath.Join(dir, "ci.pub")} },
			func(dir, _ string) []string { return []string{filepath.Join(dir, "ci.key")} }},
		{"--out symlinked to a key", func(t *testing.T, dir, outside string) (string, string) {
			out := filepath.Join(dir, "ci.key")
			symlinkOrSkip(t, filepath.Join(outside, "target"), out)
			return out, filepath.Join(dir, "ci.pub")
		}, func(_, outside string) []string { return []string{filepath.Join(outside, "target")} },
			func(dir, _ string) []string { return []string{filepath.Join(dir, "ci.pub")} }},
		{"--out dangling symlink", func(t *testing.T, dir, outside string) (string, string) {
			out := filepath.Join(dir, "ci.key")
			symlinkOrSkip(t, filepath.Join(outside, "new.key"), out)
			return out, ""
		}, nil, func(_, outside string) []string { return []string{filepath.Join(outside, "new.key")} }},
		{"--pub-out symlinked", func(t *testing.T, dir, outside string) (string, string) {
			pub := filepath.Join(dir, "ci.pub")
			symlinkOrSkip(t, filepath.Join(outside, "target"), pub)
			return filepath.Join(dir, "ci.key"), pub
		}, func(_, outside string) []string { return []string{filepath.Join(outside, "target")} },
			func(dir, _ string) []string { return []string{filepath.Join(dir, "ci.key")} }},
		{"--out is --pub-out", func(t *testing.T, dir, outside string) (string, string) {
			return filepath.Join(dir, "ci.key"), filepath.Join(dir, "ci.key")
		}, nil, func(dir, _ string) []string { return []string{filepath.Join(dir, "ci.key")} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, outside := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte(original), 0o600); err != nil {
				t.Fatal(err)
			}
			out, pub := tc.plant(t, dir, outside)
			args := []string{"key", "generate", "ci", "--out", out}
			if pub != "" {
				args = append(args, "--pub-out", pub)
			}
			r := signStep(t, vars, args...)
			if line := errorLine(r.stderr); r.code != 2 || line == "" || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, one error line and no public key printed", r.code, r.stdout, r.stderr)
			}
			if first, err := os.ReadFile(filepath.Join(outside, "first.key")); err == nil {
				mustBe(t, out, string(first))
			}
			if tc.untouched != nil {
				for _, p := range tc.untouched(dir, outside) {
					mustBe(t, p, original)
				}
			}
			if tc.absent != nil {
				for _, p := range tc.absent(dir, outside) {
					mustNotExist(t, p)
				}
			}
		})
	}
}

func symlinkOrSkip(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
}

// TestArtifactsIgnorePlantedSymlinks runs each artifact-writing command with
// its output directory in a checkout where a hostile repository committed
// symlinks. A symlinked artifact file is replaced by a regular file (its
// target untouched); a directory that leads out of the checkout is refused
// before anything is published.
func TestArtifactsIgnorePlantedSymlinks(t *testing.T) {
	t.Parallel()
	const original = "outside the checkout, must stay\n"
	cases := []struct {
		name  string
		files []string // artifact names planted as symlinks to outside files
		dir   bool     // sign-step itself is a symlink to an outside directory
		run   func(t *testing.T, repo, keyFile, ws string) (int, string)
	}{
		{"sign", []string{"report.json", "trust-inspect.json", "trust-inspect.txt"}, false, runSignIn},
		{"sign, directory", nil, true, runSignIn},
		{"action sign.env", []string{"sign.env", "report.json"}, false, func(t *testing.T, repo, keyFile, ws string) (int, string) {
			pem, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			r := runAsGitHubAction(t, map[string]string{
				"command": "sign", "tags": repo + ":v1", "key": string(pem), "passphrase": repoPass,
				"notary-server": env.NotaryURL, "notary-ca": env.CACertFile, "registry-ca": env.CACertFile,
			}, map[string]string{"GITHUB_WORKSPACE": ws})
			return r.code, r.log
		}},
		{"action, directory", nil, true, func(t *testing.T, repo, keyFile, ws string) (int, string) {
			pem, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			r := runAsGitHubAction(t, map[string]string{
				"command": "sign", "tags": repo + ":v1", "key": string(pem), "passphrase": repoPass,
				"notary-server": env.NotaryURL, "notary-ca": env.CACertFile, "registry-ca": env.CACertFile,
			}, map[string]string{"GITHUB_WORKSPACE": ws})
			return r.code, r.log
		}},
		{"resign report.json", []string{"report.json"}, false, func(t *testing.T, repo, keyFile, ws string) (int, string) {
			mustRun(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1")
			r := signStep(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "resign", "--output-dir", filepath.Join(ws, "sign-step"), repo)
			return r.code, r.stderr
		}},
		{"resign, directory", nil, true, func(t *testing.T, repo, keyFile, ws string) (int, string) {
			mustRun(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1")
			r := signStep(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "resign", "--output-dir", filepath.Join(ws, "sign-step"), repo)
			return r.code, r.stderr
		}},
		{"verify verify.json", []string{"verify.json"}, false, func(t *testing.T, repo, keyFile, ws string) (int, string) {
			mustRun(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1")
			r := signStep(t, nil, "verify", "--output-dir", filepath.Join(ws, "sign-step"), repo+":v1")
			return r.code, r.stderr
		}},
	}
	repos := make([]string, len(cases))
	for i := range cases {
		repos[i] = env.Repo("planted-" + string(rune('a'+i)))
	}
	s := dockerSigner(t, "ci", repos...)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := repos[i]
			pushRandom(t, repo+":v1")
			base := t.TempDir()
			ws, outside := filepath.Join(base, "checkout"), filepath.Join(base, "outside")
			for _, d := range []string{ws, filepath.Join(outside, "dir")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if tc.dir {
				symlinkOrSkip(t, filepath.Join(outside, "dir"), filepath.Join(ws, "sign-step"))
			} else if err := os.Mkdir(filepath.Join(ws, "sign-step"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				if err := os.WriteFile(filepath.Join(outside, f), []byte(original), 0o644); err != nil {
					t.Fatal(err)
				}
				symlinkOrSkip(t, filepath.Join(outside, f), filepath.Join(ws, "sign-step", f))
			}
			code, log := tc.run(t, repo, s.keyFile, ws)
			for _, f := range tc.files {
				mustBe(t, filepath.Join(outside, f), original)
			}
			if es, _ := os.ReadDir(filepath.Join(outside, "dir")); len(es) != 0 {
				t.Errorf("%d files were written into the outside directory", len(es))
			}
			if tc.dir {
				if code != 2 || !strings.Contains(log, "a symlink there leads out of "+ws+"; not following it") {
					t.Errorf("exit %d, log:\n%s\nwant 2 and one line saying the symlink leads out", code, log)
				}
				if tc.name == "sign, directory" || tc.name == "action, directory" {
					// Refused before the publish: v1 is still unsigned.
					if r := signStep(t, nil, "verify", repo+":v1"); r.code != 8 {
						t.Errorf("verify after the refused sign: exit %d %s; want 8 (nothing published)", r.code, r.stderr)
					}
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, log:\n%s", code, log)
			}
			for _, f := range tc.files {
				st, err := os.Lstat(filepath.Join(ws, "sign-step", f))
				if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
					t.Errorf("%s: %v %v; want the artifact as a regular file", f, st, err)
				}
			}
		})
	}
}

func runSignIn(t *testing.T, repo, keyFile, ws string) (int, string) {
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", "--output-dir", filepath.Join(ws, "sign-step"), repo+":v1")
	return r.code, r.stderr
}

// TestInitKeepsTheKeyWhenThePublishFails: the generated key is written
// before the publish, so a failed publish never leaves a repository whose
// key is lost; the error says where the key is, and a re-run with it
// creates the repository.
func TestInitKeepsTheKeyWhenThePublishFails(t *testing.T) {
	t.Parallel()
	notary := refusePublishes(t, env.NotaryURL)
	dir := t.TempDir()
	repo := env.Repo("init-publish-fails")
	vars := map[string]string{"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE": rootPass, "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE": repoPass}
	rootKey := newRootKey(t, dir)
	out := filepath.Join(dir, "targets.key")
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", notary), "init", "--retries", "0", repo, "--root-key", rootKey, "--targets-key-out", out)
	if line := errorLine(r.stderr); r.code == 0 || !strings.Contains(line, "the generated repository key is kept in "+out+": re-run with --targets-key "+out) {
		t.Fatalf("exit %d, stderr %q; want a failure naming the key file", r.code, r.stderr)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file after the failed publish: %v %v", st, err)
	}
	again := mustRun(t, vars, "init", repo, "--root-key", rootKey, "--targets-key", out)
	if !strings.HasPrefix(again.stdout, "initialized "+repo) {
		t.Errorf("re-run with the kept key: %q", again.stdout)
	}
}

// refusePublishes is a TLS proxy to target (same certificate as the env's
// servers) that answers every POST, notary's publish, with 503.
func refusePublishes(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = env.Transport()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			http.Error(w, "publishing refused by the test", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.Dir, "server.crt"), filepath.Join(env.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}
