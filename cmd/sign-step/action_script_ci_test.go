package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestActionScriptPlan runs the action's first step (scripts/action.sh plan)
// as the runner does, against a release server that may lie: at a release
// commit the binary for the runner is downloaded and run only if its sha256
// is the one pinned in the commit; at any other commit the action builds
// from source, setting up Go only when none is on PATH.
func TestActionScriptPlan(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "action.sh"))
	if err != nil {
		t.Fatal(err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	release := []byte("#!/bin/sh\necho the real release binary\n")
	evil := []byte("#!/bin/sh\necho exfiltrate \"$INPUT_KEY\"\n")
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	var sums strings.Builder
	for _, a := range []string{"darwin-amd64", "darwin-arm64", "linux-amd64", "linux-arm64", "windows-amd64.exe", "windows-arm64.exe"} {
		fmt.Fprintf(&sums, "%s  sign-step-%s\n", sum(append([]byte(a+"\n"), release...)), a)
	}
	// What a server holds for each asset: the real binary, or another.
	real := func(asset string) []byte {
		return append([]byte(strings.TrimPrefix(asset, "sign-step-")+"\n"), release...)
	}

	cases := []struct {
		name         string
		files        map[string]string // beside action.yml
		runnerOS     string
		arch         string
		serve        func(asset string) []byte // nil: 404
		plainHTTP    bool
		predownload  bool // the binary is already in RUNNER_TEMP (a second use in the job)
		noGo         bool
		wantOK       bool
		wantOut      []string // GITHUB_OUTPUT lines
		wantAsset    string   // the binary run, by name
		wantRequests int32
		wantErr      string
	}{
		{name: "source commit, go on PATH", runnerOS: "Linux", arch: "X64", wantOK: true, wantOut: []string{"mode=source", "setup-go=false"}},
		{name: "source commit, no go", runnerOS: "Linux", arch: "X64", noGo: true, wantOK: true, wantOut: []string{"mode=source", "setup-go=true"}},
		{name: "release linux", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: real, wantOK: true, wantOut: []string{"mode=release"}, wantAsset: "sign-step-linux-amd64", wantRequests: 1},
		{name: "release macOS arm64", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "macOS", arch: "ARM64", serve: real, wantOK: true, wantOut: []string{"mode=release"}, wantAsset: "sign-step-darwin-arm64", wantRequests: 1},
		{name: "release windows", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Windows", arch: "X64", serve: real, wantOK: true, wantOut: []string{"mode=release"}, wantAsset: "sign-step-windows-amd64.exe", wantRequests: 1},
		{name: "release reused in the job", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: real, predownload: true, wantOK: true, wantOut: []string{"mode=release"}, wantAsset: "sign-step-linux-amd64", wantRequests: 0},
		{name: "swapped release asset", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: func(string) []byte { return evil }, wantRequests: 1, wantErr: "but the release commit pins " + sum(real("sign-step-linux-amd64")) + ": not run"},
		{name: "another platform's binary", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: func(string) []byte { return real("sign-step-linux-arm64") }, wantRequests: 1, wantErr: "not run"},
		{name: "no such asset", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", wantRequests: 1, wantErr: "downloading "},
		{name: "plain http mirror", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: real, plainHTTP: true, wantErr: "downloading "},
		{name: "no sum for the platform", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": strings.Split(sums.String(), "\n")[0] + "\n"}, runnerOS: "Linux", arch: "X64", serve: real, wantErr: "SHA256SUMS has no single sum for sign-step-linux-amd64"},
		{name: "VERSION without sums", files: map[string]string{"VERSION": "v1.2.3\n"}, runnerOS: "Linux", arch: "X64", serve: real, wantErr: "found only one"},
		{name: "sums without VERSION", files: map[string]string{"SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: real, wantErr: "found only one"},
		{name: "bad VERSION", files: map[string]string{"VERSION": "v1.2.3/../../x\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "X64", serve: real, wantErr: "VERSION is not"},
		{name: "unknown runner OS", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "FreeBSD", arch: "X64", serve: real, wantErr: "unsupported runner OS"},
		{name: "unknown arch", files: map[string]string{"VERSION": "v1.2.3\n", "SHA256SUMS": sums.String()}, runnerOS: "Linux", arch: "ARM", serve: real, wantErr: "unsupported runner architecture"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int32
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				asset := strings.TrimPrefix(r.URL.Path, "/download/v1.2.3/")
				if tc.serve == nil || asset == r.URL.Path {
					http.NotFound(w, r)
					return
				}
				_, _ = w.Write(tc.serve(asset))
			})
			var srv *httptest.Server
			if tc.plainHTTP {
				srv = httptest.NewServer(h)
			} else {
				srv = httptest.NewTLSServer(h)
			}
			defer srv.Close()

			tmp := t.TempDir()
			actionPath, runnerTemp := filepath.Join(tmp, "action"), filepath.Join(tmp, "runner-temp")
			for _, d := range []string{actionPath, runnerTemp} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(actionPath, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			caFile, output := filepath.Join(tmp, "ca.pem"), filepath.Join(tmp, "github_output")
			if !tc.plainHTTP {
				if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(output, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.predownload {
				dir := filepath.Join(runnerTemp, "sign-step-v1.2.3-linux-amd64")
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "sign-step"), real("sign-step-linux-amd64"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			path := os.Getenv("PATH")
			if tc.noGo {
				var keep []string
				for _, d := range filepath.SplitList(path) {
					if _, err := os.Stat(filepath.Join(d, "go")); err != nil && d != filepath.Dir(goBin) {
						keep = append(keep, d)
					}
				}
				path = strings.Join(keep, string(os.PathListSeparator))
			}
			cmd := exec.Command("bash", script, "plan")
			cmd.Env = []string{
				"PATH=" + path, "HOME=" + tmp,
				"ACTION_PATH=" + actionPath, "ACTION_REPOSITORY=sign-step/sign-step",
				"RUNNER_OS=" + tc.runnerOS, "RUNNER_ARCH=" + tc.arch, "RUNNER_TEMP=" + runnerTemp,
				"GITHUB_OUTPUT=" + output, "GITHUB_SERVER_URL=https://github.invalid",
				"SIGN_STEP_RELEASE_URL=" + srv.URL + "/download/v1.2.3",
				"CURL_CA_BUNDLE=" + caFile,
			}
			log, err := cmd.CombinedOutput()
			if (err == nil) != tc.wantOK {
				t.Fatalf("ok=%v, want %v:\n%s", err == nil, tc.wantOK, log)
			}
			if tc.wantErr != "" && (!strings.Contains(string(log), "::error title=sign-step action::") || !strings.Contains(string(log), tc.wantErr)) {
				t.Errorf("log lacks an error annotation with %q:\n%s", tc.wantErr, log)
			}
			if n := requests.Load(); n != tc.wantRequests {
				t.Errorf("%d requests to the release server, want %d", n, tc.wantRequests)
			}
			out, _ := os.ReadFile(output)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			for _, w := range tc.wantOut {
				if !strings.Contains("\n"+string(out), "\n"+w+"\n") {
					t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", w, out)
				}
			}
			var bin string
			for _, l := range lines {
				if b, ok := strings.CutPrefix(l, "bin="); ok {
					bin = b
				}
			}
			if tc.wantAsset == "" {
				if bin != "" {
					t.Errorf("bin=%s, want none", bin)
				}
			} else {
				b, err := os.ReadFile(bin)
				if err != nil || string(b) != string(real(tc.wantAsset)) {
					t.Errorf("bin %s holds %q (%v), want the release's %s", bin, b, err, tc.wantAsset)
				}
				if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("bin %s is not executable: %v", bin, err)
				}
				if strings.HasSuffix(tc.wantAsset, ".exe") != strings.HasSuffix(bin, ".exe") {
					t.Errorf("bin %s for asset %s", bin, tc.wantAsset)
				}
			}
			// A refused download leaves nothing runnable behind.
			if !tc.wantOK {
				_ = filepath.Walk(runnerTemp, func(p string, fi os.FileInfo, err error) error {
					if err == nil && !fi.IsDir() {
						t.Errorf("refused, but %s was left in RUNNER_TEMP", p)
					}
					return nil
				})
			}
		})
	}
}
