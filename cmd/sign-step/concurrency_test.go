package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/testenv"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds sign-step once per test run, for tests that need real
// processes (concurrency, signals).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sign-step-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sign-step")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// process runs the sign-step binary with exactly vars (plus the test env's
// server settings) as its environment.
func process(t *testing.T, ctx context.Context, vars map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"),
		"SIGN_STEP_NOTARY_SERVER=" + env.NotaryURL, "SIGN_STEP_NOTARY_CA=" + env.CACertFile,
		"SIGN_STEP_REGISTRY_CA=" + env.CACertFile, "SIGN_STEP_OUTPUT_DIR=" + t.TempDir(), "SIGN_STEP_LOG_LEVEL=warn"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), code}
}

// TestConcurrentSigners: six jobs sign six tags of one repository at the
// same moment. notary accepts one publish per version; the others must
// rebase and retry until every tag is signed. A proxy holds the first
// publish POSTs until all six have arrived, so all six race on one version
// and five really lose.
func TestConcurrentSigners(t *testing.T) {
	t.Parallel()
	repo := env.Repo("concurrent")
	s := dockerSigner(t, "ci", repo)
	const n = 6
	digests := map[string]string{}
	for i := 0; i < n; i++ {
		tag := fmt.Sprintf("t%d", i)
		d, _ := pushRandom(t, repo+":"+tag)
		digests[tag] = strings.TrimPrefix(d, "sha256:")
	}
	proxy := holdPublishes(t, repo, n)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_LOG_LEVEL": "info"}
	binary(t) // build before the race starts
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = process(t, ctx, vars, "sign", fmt.Sprintf("%s:t%d", repo, i))
		}()
	}
	wg.Wait()
	rebases := 0
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("job %d: exit %d: %s", i, r.code, r.stderr)
		}
		rebases += strings.Count(r.stderr, "lost a race to another publisher: rebasing")
	}
	posts := proxy.Count(http.MethodPost, testenv.PublishPath(repo))
	t.Logf("%d publish POSTs, %d of them rebased after losing a race", posts, rebases)
	if rebases < n-1 || posts != n+rebases {
		t.Errorf("%d rebases in %d publish POSTs; want at least %d rebases, and one POST per job plus one per rebase", rebases, posts, n-1)
	}
	out, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	signed := map[string]string{}
	for _, st := range got[0].SignedTags {
		signed[st.SignedTag] = st.Digest
	}
	for tag, d := range digests {
		if signed[tag] != d {
			t.Errorf("%s: docker sees %q, want %s", tag, signed[tag], d)
		}
	}
}

// holdPublishes is a proxy in front of the real notary that holds the
// first n publish POSTs to repo until all n have arrived, so that n jobs
// publish on one version and all but one really lose the race.
func holdPublishes(t *testing.T, repo string, n int32) *testenv.FaultProxy {
	t.Helper()
	proxy := notaryProxy(t)
	var arrived atomic.Int32
	all := make(chan struct{})
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(repo), Times: int(n), Before: func() {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(time.Minute): // a job failed before publishing: its error says why
		}
	}})
	return proxy
}

// TestConcurrentMovesOfOneTag: two jobs move one tag to different digests
// on one version. One wins; the other rebases on it and publishes after
// it, so both succeed and the tag ends at the rebased job's digest.
func TestConcurrentMovesOfOneTag(t *testing.T) {
	t.Parallel()
	repo := env.Repo("moves")
	s := dockerSigner(t, "ci", repo)
	a, _ := pushRandom(t, repo+":a")
	b, _ := pushRandom(t, repo+":b")
	proxy := holdPublishes(t, repo, 2)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_LOG_LEVEL": "info"}
	// Each job pushes its image to :moving from a registry source, then signs it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	binary(t)
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i, src := range []string{repo + ":a", repo + ":b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = process(t, ctx, vars, "sign", "--source", src, repo+":moving")
		}()
	}
	wg.Wait()
	last := ""
	for i, r := range results {
		if r.code != 0 {
			t.Fatalf("job %d: exit %d: %s", i, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, "lost a race to another publisher: rebasing") {
			if last != "" {
				t.Fatal("both jobs rebased: neither won the race")
			}
			last = []string{a, b}[i]
		}
	}
	if last == "" {
		t.Fatal("no job rebased, so the race was not run")
	}
	r := signStep(t, nil, "verify", repo+":moving")
	if r.code != 0 {
		t.Fatalf("verify: %s", r.stderr)
	}
	if got := strings.TrimSpace(r.stdout); got != repo+"@"+last {
		t.Errorf("tag ended at %s, want %s, which the rebased job published last", got, last)
	}
}
