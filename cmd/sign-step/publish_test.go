package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestPublishAnswerLost: a proxy in front of the real notary forwards the
// publish POST, lets the server apply it, then cuts the connection or
// answers 502/504. The data is live, so sign must say so (exit 0,
// published:true) and must not publish it a second time: the server holds
// exactly one new version of each role, after exactly one POST. (A
// re-sent sign changes no target, but a re-sent resign re-signs again.)
func TestPublishAnswerLost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		command string // sign or resign
		rule    testenv.Rule
		retries string // SIGN_STEP_RETRIES; "" for the default
	}{
		{name: "reset", command: "sign", rule: testenv.Rule{Reset: true}},
		{name: "502", command: "sign", rule: testenv.Rule{Status: http.StatusBadGateway}},
		{name: "504", command: "sign", rule: testenv.Rule{Status: http.StatusGatewayTimeout}},
		{name: "reset without HTTP retries", command: "sign", rule: testenv.Rule{Reset: true}, retries: "0"},
		{name: "502 without HTTP retries", command: "sign", rule: testenv.Rule{Status: http.StatusBadGateway}, retries: "0"},
		{name: "resign reset", command: "resign", rule: testenv.Rule{Reset: true}},
		{name: "resign 502", command: "resign", rule: testenv.Rule{Status: http.StatusBadGateway}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := env.Repo("lost")
			s := dockerSigner(t, "ci", repo)
			digest, _ := pushRandom(t, repo+":v1")
			vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			args := []string{"sign", repo + ":v1"}
			if tc.command == "resign" {
				mustRun(t, vars, "sign", repo+":v1")
				args = []string{"resign", repo}
			}
			before := roleVersions(t, repo)
			proxy := notaryProxy(t)
			rule := tc.rule
			rule.Method, rule.Path = http.MethodPost, testenv.PublishPath(repo)
			proxy.On(rule)

			out := t.TempDir()
			vars = with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL(), "SIGN_STEP_OUTPUT_DIR", out, "SIGN_STEP_LOG_LEVEL", "info")
			if tc.retries != "" {
				vars["SIGN_STEP_RETRIES"] = tc.retries
			}
			r := signStep(t, vars, args...)
			if r.code != 0 {
				t.Errorf("%s: exit %d: %s", tc.command, r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "the server holds the update") {
				t.Errorf("%s does not say the lost answer was checked: %s", tc.command, r.stderr)
			}
			if tc.command == "sign" {
				if got := published(t, out); got != "true" {
					t.Errorf("report.json says published %s for data that is live", got)
				}
			}
			if n := proxy.Count(http.MethodPost, testenv.PublishPath(repo)); n != 1 {
				t.Errorf("%d publish POSTs, want 1", n)
			}
			after := roleVersions(t, repo)
			for role, v := range before {
				if after[role] != v+1 {
					t.Errorf("%s went from version %d to %d, want exactly one new version", role, v, after[role])
				}
			}
			if v := signStep(t, nil, "verify", repo+":v1"); v.code != 0 || !strings.Contains(v.stdout, digest) {
				t.Errorf("the tag is not signed at %s: exit %d %s %s", digest, v.code, v.stdout, v.stderr)
			}
		})
	}
}

// TestPublishNotAppliedIsSentAgain: a proxy answers the publish POST with
// 502 without forwarding it. The server does not hold the update, so it
// is sent again, once, and applied once.
func TestPublishNotAppliedIsSentAgain(t *testing.T) {
	t.Parallel()
	repo := env.Repo("dropped")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":v1")
	before := roleVersions(t, repo)
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(repo), Status: http.StatusBadGateway, Drop: true})
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_LOG_LEVEL": "info"}, "sign", repo+":v1")
	if r.code != 0 || !strings.Contains(r.stderr, "publish not applied by the server: publishing again") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(repo)); n != 2 {
		t.Errorf("%d publish POSTs, want 2", n)
	}
	after := roleVersions(t, repo)
	for role, v := range before {
		if after[role] != v+1 {
			t.Errorf("%s went from version %d to %d, want exactly one new version", role, v, after[role])
		}
	}
	if v := signStep(t, nil, "verify", repo+":v1"); v.code != 0 || !strings.Contains(v.stdout, digest) {
		t.Errorf("the tag is not signed at %s: exit %d %s %s", digest, v.code, v.stdout, v.stderr)
	}
}

// TestPublishReadBackFails: the publish is applied and answered, then
// every read fails. The run fails (it cannot read back what docker would
// see), but report.json says the repository was published, and the error
// says so.
func TestPublishReadBackFails(t *testing.T) {
	t.Parallel()
	repo := env.Repo("readback")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":v1")
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(repo), After: func() { proxy.Fail(http.StatusInternalServerError, 1000) }})
	out := t.TempDir()
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_OUTPUT_DIR": out}, "sign", repo+":v1")
	if r.code != 6 || !strings.Contains(r.stderr, "was published, but reading it back failed") {
		t.Errorf("exit %d (want 6), stderr %q", r.code, r.stderr)
	}
	if got := published(t, out); got != "true" {
		t.Errorf("report.json says published %s for a publish the server applied", got)
	}
	if v := signStep(t, nil, "verify", repo+":v1"); v.code != 0 || !strings.Contains(v.stdout, digest) {
		t.Errorf("the tag is not signed at %s: exit %d %s %s", digest, v.code, v.stdout, v.stderr)
	}
}

// TestPublishLosesRace: just before the proxy forwards the first publish
// POST, another sign-step publishes another tag of the same repository
// straight to the real notary. The server then really answers VERSION;
// the first job must rebase on the new data (a second POST) and keep the
// other job's tag.
func TestPublishLosesRace(t *testing.T) {
	t.Parallel()
	repo := env.Repo("race")
	s := dockerSigner(t, "ci", repo)
	da, _ := pushRandom(t, repo+":a")
	db, _ := pushRandom(t, repo+":b")
	before := roleVersions(t, repo)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(repo), Before: func() {
		if r := signStep(t, vars, "sign", repo+":b"); r.code != 0 {
			t.Errorf("the other publisher: exit %d: %s", r.code, r.stderr)
		}
	}})
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL(), "SIGN_STEP_LOG_LEVEL", "info"), "sign", repo+":a")
	if r.code != 0 {
		t.Fatalf("sign: exit %d: %s", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "lost a race to another publisher: rebasing"); n != 1 {
		t.Errorf("%d rebases logged, want 1:\n%s", n, r.stderr)
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(repo)); n != 2 {
		t.Errorf("%d publish POSTs through the proxy, want 2 (the lost one and the rebased one)", n)
	}
	after := roleVersions(t, repo)
	for role, v := range before {
		if after[role] != v+2 {
			t.Errorf("%s went from version %d to %d, want one version per job", role, v, after[role])
		}
	}
	for tag, d := range map[string]string{"a": da, "b": db} {
		if v := signStep(t, nil, "verify", repo+":"+tag); v.code != 0 || !strings.Contains(v.stdout, d) {
			t.Errorf("%s is not signed at %s: exit %d %s %s", tag, d, v.code, v.stdout, v.stderr)
		}
	}
}

// TestPublishVersionWithoutRace: signing into an expired delegation makes
// notary answer VERSION although nobody else published. That is not a lost
// race: sign must stop after one POST with a clear error, not rebase
// blindly until its retries run out.
func TestPublishVersionWithoutRace(t *testing.T) {
	t.Parallel()
	repo := env.Repo("notarace")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	pushRandom(t, repo+":v2")
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
	mustRun(t, vars, "sign", repo+":v1")
	expireSoon(t, repo, "targets/releases", s.keyFile, 2*time.Second)
	time.Sleep(3 * time.Second)
	proxy := notaryProxy(t)
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), "sign", repo+":v2")
	if r.code != 6 || !strings.Contains(r.stderr, "targets/releases") {
		t.Errorf("exit %d (want 6), stderr %q (want it to name targets/releases)", r.code, r.stderr)
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(repo)); n > 1 {
		t.Errorf("%d publish POSTs: a VERSION answer that is no race was rebased", n)
	}
}

// notaryProxy is a fault proxy in front of the real notary, closed with t.
func notaryProxy(t *testing.T) *testenv.FaultProxy {
	t.Helper()
	proxy, err := env.NewFaultProxy(env.NotaryURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return proxy
}

// roleVersions reads the version of each targets role of gun that the real
// notary serves (0 for one it does not have yet).
func roleVersions(t *testing.T, gun string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, role := range []string{"targets/releases", "targets/ci"} {
		resp, err := env.HTTPClient().Get(env.NotaryURL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusNotFound {
			resp.Body.Close()
			out[role] = 0
			continue
		}
		var m struct {
			Signed struct {
				Version int `json:"version"`
			} `json:"signed"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("GET %s of %s: %s %v", role, gun, resp.Status, err)
		}
		out[role] = m.Signed.Version
	}
	return out
}

// published is report.json's "published" of its only repository.
func published(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Repositories []struct {
			Published bool `json:"published"`
		} `json:"repositories"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || len(rep.Repositories) != 1 {
		t.Fatalf("report.json: %v\n%s", err, b)
	}
	if rep.Repositories[0].Published {
		return "true"
	}
	return "false"
}

// TestPublishAnswerLostServerGone: the publish is applied, its answer is
// cut, and then the server fails every request. sign cannot know whether
// the data is live: it must say exactly that, and must not send the
// publish again blindly.
func TestPublishAnswerLostServerGone(t *testing.T) {
	t.Parallel()
	repo := env.Repo("gone")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(repo), Reset: true,
		After: func() { proxy.Fail(http.StatusInternalServerError, 1000) }})
	r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL()}, "sign", repo+":v1")
	if r.code != 6 || !strings.Contains(r.stderr, "whether it holds the update is unknown") {
		t.Errorf("exit %d (want 6), stderr %q", r.code, r.stderr)
	}
	if n := proxy.Count(http.MethodPost, testenv.PublishPath(repo)); n != 1 {
		t.Errorf("%d publish POSTs, want 1", n)
	}
}
