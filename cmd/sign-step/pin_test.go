package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
)

// TestVerifyDigestsNeedTrust: a digest reference passes verify only when
// trust data holds it: REPO@X when a signed tag resolves to X (and, with
// --signer, that signer signed X), REPO:TAG@X when TAG is signed at X.
// Docker's bypass needs --allow-unsigned-digests.
func TestVerifyDigestsNeedTrust(t *testing.T) {
	t.Parallel()
	repo := env.Repo("digests")
	s := dockerSigner(t, "ci", repo)
	addDockerSigner(t, s.docker, "bob", repo)
	signed, _ := pushRandom(t, repo+":v1")
	unsigned, _ := pushRandom(t, repo+":unsigned")
	mustRun(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1")

	cases := []struct {
		args     []string
		wantCode int
		wantOut  string // stdout on success
		wantErr  string // stderr on failure
	}{
		{[]string{repo + "@" + signed}, 0, repo + "@" + signed, ""},
		{[]string{"--signer", "ci", repo + "@" + signed}, 0, repo + "@" + signed, ""},
		{[]string{repo + ":v1@" + signed}, 0, repo + "@" + signed, ""},
		{[]string{"--signer", "ci", repo + ":v1@" + signed}, 0, repo + "@" + signed, ""},
		{[]string{repo + "@" + unsigned}, 8, "", "No valid trust data for " + unsigned + ": no tag of " + repo + " signed in targets/releases or targets points to it"},
		{[]string{"--signer", "ci", repo + "@" + unsigned}, 8, "", "No valid trust data for " + unsigned},
		{[]string{"--signer", "bob", repo + "@" + signed}, 8, "", "signer bob did not sign " + signed},
		// The verify-before-deploy bypass: a signed tag with another digest.
		{[]string{"--signer", "ci", repo + ":v1@" + unsigned}, 8, "", "tag v1 is signed at " + signed + ", not " + unsigned},
		{[]string{repo + ":unsigned@" + unsigned}, 8, "", "No valid trust data for unsigned"},
		{[]string{"--signer", "bob", repo + ":v1@" + signed}, 8, "", "signer bob did not sign " + signed},
		{[]string{"--allow-unsigned-digests", repo + "@" + unsigned}, 0, repo + "@" + unsigned, ""},
		{[]string{"--allow-unsigned-digests", repo + ":v1@" + unsigned}, 0, repo + "@" + unsigned, ""},
		{[]string{"--allow-unsigned-digests", "--signer", "ci", repo + "@" + signed}, 2, "", "--allow-unsigned-digests cannot be combined with --signer"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := signStep(t, nil, append([]string{"verify"}, tc.args...)...)
			if r.code != tc.wantCode || strings.TrimSpace(r.stdout) != tc.wantOut {
				t.Errorf("exit %d, stdout %q; want %d and %q (stderr %q)", r.code, r.stdout, tc.wantCode, tc.wantOut, r.stderr)
			}
			if tc.wantErr != "" && (!strings.Contains(r.stderr, tc.wantErr) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0) {
				t.Errorf("stderr %q, want one line with %q", r.stderr, tc.wantErr)
			}
		})
	}
}

// TestSignPinned: REPO:TAG@X and --expect-digest X refuse, with nothing
// pushed or published, when the tag (or --source) is not X; docker sees
// exactly the pinned digest when they pass.
func TestSignPinned(t *testing.T) {
	t.Parallel()
	repo := env.Repo("pinned-sign")
	s := dockerSigner(t, "ci", repo)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	d1, _ := pushRandom(t, repo+":v1")
	if err := crane.Copy(repo+":v1", repo+":v1-copy", crane.WithTransport(env.Transport())); err != nil {
		t.Fatal(err)
	}
	other, _ := pushRandom(t, repo+":other")
	dir := t.TempDir()
	src := writeLayout(t, dir)

	refused := []struct {
		name    string
		args    []string
		wantMsg string
		absent  string // a tag that must not have been pushed
	}{
		{"tag pinned to another digest", []string{repo + ":v1@" + other}, repo + ":v1: the tag in the registry is " + d1 + ", not the expected " + other + "; nothing signed", ""},
		{"expect-digest another digest", []string{"--expect-digest", other, repo + ":v1"}, "not the expected " + other, ""},
		{"expect-digest, one of two tags elsewhere", []string{"--expect-digest", d1, repo + ":v1", repo + ":other"}, repo + ":other: the tag in the registry is " + other, ""},
		{"dry run", []string{"--dry-run", repo + ":v1@" + other}, "not the expected " + other, ""},
		{"source is another image", []string{"--source", dir, "--expect-digest", other, repo + ":new"}, "the --source image is " + src + ", not the expected " + other + "; nothing pushed or signed", "new"},
		{"source pinned per ref", []string{"--source", dir, repo + ":new2@" + other}, "nothing pushed or signed", "new2"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			before, version := trustSnapshot(t, s, repo), timestampVersion(t, repo)
			r := signStep(t, vars, append([]string{"sign"}, tc.args...)...)
			if r.code != 5 || !strings.Contains(r.stderr, tc.wantMsg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 5 and one line with %q", r.code, r.stdout, r.stderr, tc.wantMsg)
			}
			if after, v := trustSnapshot(t, s, repo), timestampVersion(t, repo); after != before || v != version {
				t.Errorf("a refused sign changed trust data: %s (timestamp %d) -> %s (timestamp %d)", before, version, after, v)
			}
			if tc.absent != "" {
				if _, err := crane.Head(repo+":"+tc.absent, crane.WithTransport(env.Transport())); err == nil {
					t.Errorf("%s:%s was pushed by a refused run", repo, tc.absent)
				}
			}
		})
	}

	// Passing pins: docker sees every tag at the pinned digest.
	mustRun(t, vars, "sign", "--expect-digest", d1, repo+":v1", repo+":v1-copy")
	mustRun(t, vars, "sign", repo+":other@"+other)
	mustRun(t, vars, "sign", "--source", dir, repo+":built@"+src)
	out, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v1": d1, "v1-copy": d1, "other": other, "built": src}
	seen := map[string]string{}
	for _, st := range got[0].SignedTags {
		seen[st.SignedTag] = "sha256:" + st.Digest
	}
	for tag, d := range want {
		if seen[tag] != d {
			t.Errorf("docker sees %s at %q, want %s (all: %v)", tag, seen[tag], d, seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("docker sees tags %v, want %v", seen, want)
	}
}

// TestSignLyingRegistry puts a registry front in the way that lies about
// what a tag is: sign signs the digest of the manifest bytes it read, or
// refuses; a pinned digest refuses what is not it. A refused run publishes
// nothing.
func TestSignLyingRegistry(t *testing.T) {
	t.Parallel()
	liar := newLyingRegistry(t)
	real := env.Repo("lying")
	path := strings.TrimPrefix(real, env.RegistryHost+"/")
	repo := liar.addr + "/" + path // what sign-step is told; its GUN
	s := dockerSigner(t, "ci", repo)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	truth, _ := pushRandom(t, real+":truth")
	evil, _ := pushRandom(t, real+":evil") // in the registry: a digest pull would get it
	evilManifest, err := crane.Manifest(real+":evil", crane.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		lie      func(r *http.Request, h http.Header, body []byte) []byte
		pin      string // "@sha256:..." after the tag, or "--expect-digest"
		wantCode int
		wantMsg  string
	}{
		{"HEAD claims another digest", func(r *http.Request, h http.Header, body []byte) []byte {
			if r.Method == http.MethodHead {
				h.Set("Docker-Content-Digest", evil)
				h.Set("Content-Length", strconv.Itoa(len(evilManifest)))
			}
			return body
		}, "", 0, ""},
		{"HEAD and GET claim another digest", func(r *http.Request, h http.Header, body []byte) []byte {
			h.Set("Docker-Content-Digest", evil)
			return body
		}, "", 0, ""},
		// ggcr takes a schema 1 manifest's digest from the header.
		{"GET claims another digest as schema 1", func(r *http.Request, h http.Header, body []byte) []byte {
			h.Set("Docker-Content-Digest", evil)
			h.Set("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")
			return body
		}, "", 5, "hashes to " + truth + ", not " + evil + " (possible attack)"},
		{"serves another manifest, pinned in the ref", func(r *http.Request, h http.Header, body []byte) []byte {
			h.Set("Docker-Content-Digest", evil)
			return evilManifest
		}, "@" + truth, 5, "the tag in the registry is " + evil + ", not the expected " + truth + "; nothing signed"},
		{"serves another manifest, --expect-digest", func(r *http.Request, h http.Header, body []byte) []byte {
			h.Set("Docker-Content-Digest", evil)
			return evilManifest
		}, "--expect-digest", 5, "not the expected " + truth},
	}
	for i, tc := range cases {
		// One at a time: every case's honest sign changes the trust data the others compare.
		t.Run(tc.name, func(t *testing.T) {
			tag := "t" + strconv.Itoa(i)
			if err := crane.Copy(real+":truth", real+":"+tag, crane.WithTransport(env.Transport())); err != nil {
				t.Fatal(err)
			}
			args := []string{"sign", repo + ":" + tag + tc.pin}
			if tc.pin == "--expect-digest" {
				args = []string{"sign", "--expect-digest", truth, repo + ":" + tag}
			}
			if tc.wantCode != 0 {
				mustRun(t, vars, "sign", repo+":"+tag) // honestly, so there is trust data to keep
			}
			before, version := trustSnapshot(t, s, repo), timestampVersion(t, repo)
			tagPath := "/v2/" + path + "/manifests/" + tag
			liar.set(tagPath, tc.lie)
			r := signStep(t, vars, args...)
			asked := liar.set(tagPath, nil)
			if asked == 0 {
				t.Fatal("sign never asked the front for the tag: the test tests nothing")
			}
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantMsg) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", r.code, r.stdout, r.stderr, tc.wantCode, tc.wantMsg)
			}
			if tc.wantCode != 0 {
				if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("stderr is not one line: %q", r.stderr)
				}
				if after, v := trustSnapshot(t, s, repo), timestampVersion(t, repo); !strings.Contains(after, tag) || after != before || v != version {
					t.Errorf("refused run changed trust data: %s (timestamp %d) -> %s (timestamp %d)", before, version, after, v)
				}
				return
			}
			if !strings.Contains(r.stdout, "@"+truth+" ") {
				t.Errorf("sign says %q, want it to sign %s (the front claimed %s)", r.stdout, truth, evil)
			}
			if v := mustRun(t, nil, "verify", repo+":"+tag); strings.TrimSpace(v.stdout) != repo+"@"+truth {
				t.Errorf("%s is now signed as %q, want %s (the front claimed %s)", tag, v.stdout, truth, evil)
			}
		})
	}
}

// lyingRegistry is a TLS front (the Env's certificate and CA) for the
// Env's registry that rewrites the answers for chosen manifest paths.
type lyingRegistry struct {
	addr string
	mu   sync.Mutex
	lies map[string]func(r *http.Request, h http.Header, body []byte) []byte
	hits map[string]int
}

func newLyingRegistry(t *testing.T) *lyingRegistry {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.Dir, "server.crt"), filepath.Join(env.Dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	l := &lyingRegistry{lies: map[string]func(*http.Request, http.Header, []byte) []byte{}, hits: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: env.RegistryHost})
	rp.Transport = env.Transport()
	rp.ModifyResponse = func(resp *http.Response) error {
		p := resp.Request.URL.Path
		l.mu.Lock()
		lie := l.lies[p]
		if lie != nil {
			l.hits[p]++
		}
		l.mu.Unlock()
		if lie == nil || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		out := lie(resp.Request, resp.Header, body)
		resp.Body = io.NopCloser(bytes.NewReader(out))
		if resp.Request.Method != http.MethodHead {
			resp.ContentLength = int64(len(out))
			resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
		}
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})) }()
	t.Cleanup(func() { _ = srv.Close() })
	l.addr = ln.Addr().String()
	return l
}

// set arms lie for path (nil: answer honestly) and returns how many
// requests for path the previous lie saw.
func (l *lyingRegistry) set(path string, lie func(*http.Request, http.Header, []byte) []byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.hits[path]
	l.hits[path] = 0
	if lie == nil {
		delete(l.lies, path)
	} else {
		l.lies[path] = lie
	}
	return n
}

// timestampVersion is the version of gun's timestamp on the notary server:
// any publish raises it.
func timestampVersion(t *testing.T, gun string) int {
	t.Helper()
	resp, err := env.HTTPClient().Get(env.NotaryURL + "/v2/" + gun + "/_trust/tuf/timestamp.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ts struct {
		Signed struct{ Version int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&ts); err != nil || ts.Signed.Version == 0 {
		t.Fatalf("timestamp of %s: %v (status %d)", gun, err, resp.StatusCode)
	}
	return ts.Signed.Version
}

// TestGitHubActionExpectDigest: the action's expect-digest input pins the
// tags as --expect-digest does: the build's digest signs, another refuses
// with an ::error:: and nothing published.
func TestGitHubActionExpectDigest(t *testing.T) {
	t.Parallel()
	repo := env.Repo("action-pin")
	s := dockerSigner(t, "ci", repo)
	built, _ := pushRandom(t, repo+":v1")
	other, _ := pushRandom(t, repo+":other")
	pem, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	inputs := func(expect string) map[string]string {
		return map[string]string{"command": "sign", "tags": repo + ":v1", "expect-digest": expect, "key": string(pem), "passphrase": repoPass,
			"notary-server": env.NotaryURL, "notary-ca": env.CACertFile, "registry-ca": env.CACertFile}
	}
	before := trustSnapshot(t, s, repo)
	if r := runAsGitHubAction(t, inputs(other), nil); r.code != 5 || !strings.Contains(r.log, "::error") || !strings.Contains(r.log, "not the expected "+other) {
		t.Errorf("expect-digest of another image: exit %d\n%s", r.code, r.log)
	}
	if after := trustSnapshot(t, s, repo); after != before {
		t.Errorf("refused action run changed trust data: %s -> %s", before, after)
	}
	if r := runAsGitHubAction(t, inputs(built), nil); r.code != 0 {
		t.Fatalf("expect-digest of the built image: exit %d\n%s", r.code, r.log)
	}
	if v := mustRun(t, nil, "verify", repo+":v1"); strings.TrimSpace(v.stdout) != repo+"@"+built {
		t.Errorf("v1 verified as %q, want %s", v.stdout, built)
	}
}
