package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/testenv"
)

// The composite action run by a real runner implementation: nektos/act in
// host mode (-P ubuntu-latest=-self-hosted), where actions/checkout is
// handled locally and the action's steps run on this machine, as on a
// self-hosted runner. The workflows are shaped like examples/workflows:
// checkout, a docker login (what docker/login-action leaves on the runner),
// then `uses: ./` for sign, verify and resign. act gets no network: remote
// actions are refused (--action-offline-mode, a proxy that answers nothing,
// GOPROXY=off) and no docker daemon is reachable (DOCKER_HOST points
// nowhere).

// Pinned remote actions inside action.yml that the workflows here must skip
// (Go is on PATH; act has no cache service): act reads their action.yml even
// for a skipped step, so each is mapped to a local action that fails the job
// if it ever runs.
var actSkippedActions = []string{
	"actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e",
	"actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae",
}

// actEntry is one line of act's --json log.
type actEntry struct {
	Msg        string   `json:"msg"`
	Command    string   `json:"command"`
	Arg        string   `json:"arg"`
	Raw        string   `json:"raw"`
	Content    string   `json:"content"`
	StepID     []string `json:"stepID"` // [workflow step id, composite step id]
	StepResult string   `json:"stepResult"`
	JobResult  string   `json:"jobResult"`
	RawOutput  bool     `json:"raw_output"`
}

type actRun struct {
	err     error
	entries []actEntry
	keep    string // what the workflow's last step kept: outputs (*.json) and artifacts/
	out     string // act's whole output
}

// masks are the values announced with ::add-mask::.
func (r actRun) masks() map[string]bool {
	m := map[string]bool{}
	for _, e := range r.entries {
		if e.Command == "add-mask" {
			m[e.Arg] = true
		}
	}
	return m
}

// log is the job log as a user reads it, without act masking anything
// (--insecure-secrets): every message, summary and command line except the
// ::add-mask:: commands, which the runner consumes.
func (r actRun) log() string {
	var b strings.Builder
	for _, e := range r.entries {
		if e.Command == "add-mask" {
			continue
		}
		b.WriteString(e.Msg + "\n" + e.Raw + "\n" + e.Content + "\n")
	}
	return b.String()
}

// stepLog is what the workflow step with this id printed.
func (r actRun) stepLog(id string) string {
	var b strings.Builder
	for _, e := range r.entries {
		if len(e.StepID) > 0 && e.StepID[0] == id && e.Command != "add-mask" {
			b.WriteString(e.Msg + "\n")
		}
	}
	return b.String()
}

func (r actRun) summaries() []string {
	var s []string
	for _, e := range r.entries {
		if e.Command == "summary" {
			s = append(s, e.Content)
		}
	}
	return s
}

func (r actRun) outputs(t *testing.T, step string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.keep, step+".json"))
	if err != nil {
		t.Fatalf("outputs of %s: %v\n%s", step, err, r.out)
	}
	out := map[string]string{}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("outputs of %s: %v: %s", step, err, b)
	}
	return out
}

// actWorkdir is a git checkout of the action's source as it is on disk (the
// work tree, not HEAD), with the workflow as its only workflow file.
func actWorkdir(t *testing.T, workflow string, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"action.yml", "go.mod", "go.sum", "scripts", "cmd", "internal"} {
		src := filepath.Join(repoRoot, p)
		if err := os.CopyFS(filepath.Join(dir, p), os.DirFS(src)); err != nil {
			fi, serr := os.Stat(src)
			if serr != nil || fi.IsDir() {
				t.Fatal(err)
			}
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wf := filepath.Join(dir, ".github", "workflows", "sign.yml")
	if err := os.MkdirAll(filepath.Dir(wf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, []byte(workflow), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "action under act"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// actExtra is what a run adds to the checkout (files beside action.yml) and
// to the job's environment.
type actExtra struct {
	files map[string][]byte
	env   []string
}

// runAct runs the workflow's push event under act in host mode with the
// given secrets and returns its log. The job sees only this environment
// (host mode passes act's own through): a fresh HOME, the Go toolchain and
// caches of this test (so the action's `go build` needs no download), and
// no network but loopback.
func runAct(t *testing.T, workflow string, secrets map[string]string, extra actExtra) actRun {
	t.Helper()
	act, err := testenv.BuildAct(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := actWorkdir(t, workflow, extra.files)
	tmp := t.TempDir()
	keep := filepath.Join(tmp, "keep")
	standin := filepath.Join(tmp, "standin")
	for _, d := range []string{keep, standin, filepath.Join(tmp, "home")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(standin, "action.yml"), []byte(`name: skipped
description: stands in for a pinned remote action that must be skipped under act
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "::error::ACT-STANDIN-RAN a remote action ran"; exit 1
`), 0o644); err != nil {
		t.Fatal(err)
	}
	var sf bytes.Buffer
	for k, v := range secrets {
		// godotenv: a double-quoted value turns \n back into newlines.
		fmt.Fprintf(&sf, "%s=%q\n", k, v)
	}
	secretFile := filepath.Join(tmp, "secrets.env")
	if err := os.WriteFile(secretFile, sf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	gov, err := exec.Command("go", "env", "GOROOT", "GOPATH", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	g := strings.Split(strings.TrimSpace(string(gov)), "\n")
	args := []string{"push", "-C", dir, "-W", ".github/workflows/sign.yml",
		"-P", "ubuntu-latest=-self-hosted", "--json", "--insecure-secrets",
		"--secret-file", secretFile, "--no-cache-server", "--action-offline-mode", "--pull=false",
		"--action-cache-path", filepath.Join(tmp, "act-cache")}
	for _, a := range actSkippedActions {
		args = append(args, "--local-repository", a+"="+standin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, act, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + filepath.Join(g[0], "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + filepath.Join(tmp, "home"),
		"GOPATH=" + g[1], "GOCACHE=" + g[2], "GOMODCACHE=" + g[3],
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=",
		"DOCKER_HOST=unix://" + filepath.Join(tmp, "no-docker.sock"),
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", // loopback is never proxied
		"https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9",
		"KEEP=" + keep,
		"TMPDIR=" + tmp,
	}
	cmd.Env = append(cmd.Env, extra.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	r := actRun{keep: keep}
	r.err = cmd.Run()
	r.out = out.String()
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e actEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			r.entries = append(r.entries, e)
		}
	}
	return r
}

// actWorkflow is an example-shaped workflow: checkout, a docker login as
// docker/login-action leaves it (~/.docker/config.json), then the action
// for sign, verify and resign. Registry credentials are not inputs: the
// action must find the login on the runner. The last step keeps the steps'
// outputs and the artifacts (act removes the workspace after the job).
func actWorkflow(registry, repo, notary, ca string) string {
	r := strings.NewReplacer("REGISTRY_HOST", registry, "REPO", repo, "NOTARY", notary, "CA_FILE", ca)
	return r.Replace(`name: sign
on: push
permissions:
  contents: read
jobs:
  sign:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11d5960a326750d5838078e36cf38b85af677262 # v4.4.0
      - name: docker login
        env:
          REGISTRY: REGISTRY_HOST
          REGISTRY_USERNAME: ${{ secrets.REGISTRY_USERNAME }}
          REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}
        run: |
          mkdir -p "$HOME/.docker"
          auth=$(printf '%s:%s' "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" | base64 | tr -d '\n')
          printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REGISTRY" "$auth" > "$HOME/.docker/config.json"
      - id: sign
        uses: ./
        with:
          tags: |
            REPO:v1
            REPO:v2
          key: ${{ secrets.DCT_DELEGATION_KEY }}
          passphrase: ${{ secrets.DCT_DELEGATION_PASSPHRASE }}
          notary-server: NOTARY
          notary-ca: CA_FILE
          registry-ca: CA_FILE
      - id: verify
        uses: ./
        with:
          command: verify
          tags: REPO:v1
          notary-server: NOTARY
          notary-ca: CA_FILE
          registry-ca: CA_FILE
      - id: resign
        uses: ./
        with:
          command: resign
          tags: REPO
          key: ${{ secrets.DCT_DELEGATION_KEY }}
          passphrase: ${{ secrets.DCT_DELEGATION_PASSPHRASE }}
          notary-server: NOTARY
          notary-ca: CA_FILE
      - name: keep outputs and artifacts
        if: always()
        env:
          SIGN: ${{ toJSON(steps.sign.outputs) }}
          VERIFY: ${{ toJSON(steps.verify.outputs) }}
          RESIGN: ${{ toJSON(steps.resign.outputs) }}
        run: |
          printf '%s' "$SIGN" > "$KEEP/sign.json"
          printf '%s' "$VERIFY" > "$KEEP/verify.json"
          printf '%s' "$RESIGN" > "$KEEP/resign.json"
          if [ -d sign-step ]; then cp -R sign-step "$KEEP/artifacts"; fi
`)
}

// releaseBinary builds sign-step once for this machine, as the release
// workflow does, and returns the bytes.
var releaseBinary = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "sign-step-release-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "sign-step")
	cmd := exec.Command("go", "build", "-mod=readonly", "-trimpath", "-ldflags", "-s -w -X main.version=v9.9.9", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the release binary: %w\n%s", err, out)
	}
	return os.ReadFile(bin)
})

// releaseServer makes the checkout a release commit of v9.9.9 (VERSION and
// SHA256SUMS pinning the binary releaseBinary built) and serves the release
// assets over TLS on loopback: the real binary, or, swapped, a script that
// would print the key it is given.
func releaseServer(t *testing.T, swapped bool) actExtra {
	t.Helper()
	bin, err := releaseBinary()
	if err != nil {
		t.Fatal(err)
	}
	asset := "sign-step-" + runtime.GOOS + "-" + runtime.GOARCH
	sum := sha256.Sum256(bin)
	var sums strings.Builder
	for i, a := range []string{"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64", "windows-amd64.exe", "windows-arm64.exe"} {
		h := strings.Repeat(string("0123456789abcdef"[i]), 64)
		if "sign-step-"+a == asset {
			h = hex.EncodeToString(sum[:])
		}
		fmt.Fprintf(&sums, "%s  sign-step-%s\n", h, a)
	}
	serve := bin
	if swapped {
		serve = []byte("#!/bin/sh\nprintf 'stolen: %s\\n' \"$INPUT_KEY\" \"$INPUT_PASSPHRASE\"\n")
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/download/v9.9.9/"+asset {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(serve)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "release-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return actExtra{
		files: map[string][]byte{"VERSION": []byte("v9.9.9\n"), "SHA256SUMS": []byte(sums.String())},
		env:   []string{"SIGN_STEP_RELEASE_URL=" + srv.URL + "/download/v9.9.9", "CURL_CA_BUNDLE=" + ca, "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1"},
	}
}

func TestActionUnderAct(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds sign-step under act")
	}
	reg := env.Auth
	cases := []struct {
		name       string
		passphrase string // "" is the right one
		release    string // "": a source commit; "real" or "swapped": a release commit and what its server sends
		wantOK     bool
		wantErr    string // in the failed job's log
	}{
		{name: "sign verify resign", wantOK: true},
		{name: "wrong passphrase", passphrase: "not-the-passphrase-0123", wantErr: "sign-step sign failed"},
		{name: "release commit", release: "real", wantOK: true},
		{name: "swapped release asset", release: "swapped", wantErr: "but the release commit pins "},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := reg.Repo("act" + string(rune('a'+i)))
			s := dockerSigner(t, "ci", repo)
			digest := pushOneToAuthRegistry(t, repo+":v1", repo+":v2")
			pem, err := os.ReadFile(s.keyFile)
			if err != nil {
				t.Fatal(err)
			}
			pass := repoPass
			if tc.passphrase != "" {
				pass = tc.passphrase
			}
			var extra actExtra
			if tc.release != "" {
				extra = releaseServer(t, tc.release == "swapped")
			}
			r := runAct(t, actWorkflow(reg.Host, repo, env.NotaryURL, env.CACertFile), map[string]string{
				"DCT_DELEGATION_KEY":        string(pem),
				"DCT_DELEGATION_PASSPHRASE": pass,
				"REGISTRY_USERNAME":         reg.Username,
				"REGISTRY_PASSWORD":         reg.Password,
			}, extra)
			if os.Getenv("SHOW") != "" {
				kept, _ := exec.Command("sh", "-c", "cd \"$0\" && head -c 2000 *.json", r.keep).CombinedOutput()
				t.Logf("act output:\n%s\nkept:\n%s", r.out, kept)
			}
			log := r.log()

			// Offline and in host mode: no clone, no docker, no stand-in ran.
			for _, bad := range []string{"git clone", "ACT-STANDIN-RAN", "docker pull", "Cannot connect to the Docker daemon", "failed to connect to the docker API"} {
				if strings.Contains(r.out, bad) {
					t.Errorf("act log has %q:\n%s", bad, r.out)
				}
			}
			if !strings.Contains(log, "Success - Main actions/checkout@") {
				t.Errorf("actions/checkout was not handled locally:\n%s", r.out)
			}
			// A release commit runs the downloaded binary, a source commit
			// builds once; the later steps of the job reuse either.
			downloads, builds := strings.Count(log, "sign-step action: downloading "), strings.Count(log, "sign-step action: building ./cmd/sign-step from ")
			if want := map[bool][2]int{true: {1, 0}, false: {0, 1}}[tc.release != ""]; downloads != want[0] || builds != want[1] {
				t.Errorf("%d downloads and %d builds, want %v", downloads, builds, want)
			}

			// Every secret is announced to the runner, and none is in the
			// log (act masking nothing), a summary, an output or an artifact.
			secrets := append(keySecrets(t, s.keyFile, repoPass), reg.Password)
			if tc.release != "swapped" { // the swapped binary never ran: nothing to announce
				masks := r.masks()
				for _, sec := range keySecrets(t, s.keyFile, pass) {
					if !masks[sec] {
						t.Errorf("secret %.6s… was not announced with ::add-mask::", sec)
					}
				}
			}
			for _, sec := range secrets {
				if strings.Contains(log, sec) {
					t.Errorf("secret %.6s… is in the job log", sec)
				}
			}
			_ = filepath.WalkDir(r.keep, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					b, _ := os.ReadFile(p)
					for _, sec := range secrets {
						if bytes.Contains(b, []byte(sec)) {
							t.Errorf("secret %.6s… in %s", sec, p)
						}
					}
				}
				return nil
			})

			if !tc.wantOK {
				if r.err == nil {
					t.Fatalf("act succeeded:\n%s", r.out)
				}
				if !strings.Contains(log, "::error title=") || !strings.Contains(log, tc.wantErr) {
					t.Errorf("no error annotation with %q:\n%s", tc.wantErr, r.out)
				}
				if strings.Contains(log, "stolen: ") {
					t.Error("the swapped binary ran")
				}
				if sig, _, err := s.inspect(t, repo+":v1"); err == nil && strings.Contains(sig, strings.TrimPrefix(digest, "sha256:")) {
					t.Errorf("a failed job published %s:\n%s", digest, sig)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("act: %v\n%s", r.err, r.out)
			}

			sign := r.outputs(t, "sign")
			want := map[string]string{
				"digest":        digest,
				"signed-tags":   repo + ":v1\n" + repo + ":v2",
				"changed":       "true",
				"dry-run":       "false",
				"report":        "sign-step/report.json",
				"trust-inspect": "sign-step/trust-inspect.json",
				"dotenv":        "sign-step/sign.env",
			}
			for k, v := range want {
				if sign[k] != v {
					t.Errorf("sign output %s = %q, want %q", k, sign[k], v)
				}
			}
			if !strings.Contains(sign["signed-refs"], repo+":v1@"+digest) {
				t.Errorf("sign output signed-refs = %q, want %s:v1@%s", sign["signed-refs"], repo, digest)
			}
			if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sign["key-id"]) {
				t.Errorf("sign output key-id = %q", sign["key-id"])
			}
			// verify prints the digest the tag resolved to; resign names the
			// roles it re-signed.
			if l := r.stepLog("verify"); !strings.Contains(l, repo+"@"+digest) && !strings.Contains(l, repo+":v1@"+digest) {
				t.Errorf("verify did not print %s@%s:\n%s", repo, digest, l)
			}
			if l := r.stepLog("resign"); !strings.Contains(l, repo+" resigned targets/ci,targets/releases") {
				t.Errorf("resign did not re-sign targets/ci and targets/releases:\n%s", l)
			}

			sums := strings.Join(r.summaries(), "\n")
			for _, w := range []string{"| tag | digest | roles | signer key ID | result |", "| `" + repo + ":v1` | `" + digest[:19] + "`"} {
				if !strings.Contains(sums, w) {
					t.Errorf("job summary lacks %q:\n%s", w, sums)
				}
			}
			for _, f := range []string{"report.json", "trust-inspect.json", "sign.env"} {
				if _, err := os.Stat(filepath.Join(r.keep, "artifacts", f)); err != nil {
					t.Errorf("artifact %s: %v", f, err)
				}
			}
			// The judge: docker sees both tags signed at the pushed digest.
			out, _, err := s.inspect(t, repo+":v1")
			if err != nil || !strings.Contains(out, strings.TrimPrefix(digest, "sha256:")) {
				t.Errorf("docker trust inspect %s:v1: %v\n%s", repo, err, out)
			}
		})
	}
}

// pushOneToAuthRegistry pushes one random image to every ref on the
// registry that requires a login and returns its digest.
func pushOneToAuthRegistry(t *testing.T, refs ...string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: env.Auth.Username, Password: env.Auth.Password})); err != nil {
			t.Fatal(err)
		}
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return digest.String()
}
