package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestEachRoleCrossesTheWireOnce: a 1-tag sign and a resign into an
// existing repository read root, targets and each delegation once, the
// timestamp twice (the run's load, and the server's new one after the
// publish, with the snapshot it names) and post once: no second root and
// timestamp round before the POST, no delegation downloaded again after it.
// After a lost race only what the other job changed is read again. Nothing
// else crosses: no ping of /v2/ (the challenge, if any, comes from the
// first 401) and no snapshot-key check before a lone publish.
func TestEachRoleCrossesTheWireOnce(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "wireonce")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	pushRandom(t, a.repo+":v1")
	mustRun(t, signVars, "sign", a.repo+":v1")
	pushRandom(t, a.repo+":v2")
	pushRandom(t, a.repo+":v3")
	pushRandom(t, a.repo+":v4")

	tuf := "/v2/" + a.repo + "/_trust/tuf/"
	once := map[string]int{"POST": 1, "root": 1, "timestamp": 2, "snapshot": 2, "targets": 1, "targets/releases": 1, "targets/ci": 1, "snapshot.key": 0, "ping": 0}
	for _, tc := range []struct {
		name string
		args []string
		race bool // another job publishes just before our POST
		want map[string]int
	}{
		{"sign one tag", []string{"sign", a.repo + ":v2"}, false, once},
		{"resign", []string{"resign", a.repo}, false, once},
		// The rebase re-reads the timestamp, the snapshot and the two roles
		// the other job changed; root and targets come from this run's copy.
		{"sign losing a race", []string{"sign", a.repo + ":v3"}, true,
			map[string]int{"POST": 2, "root": 1, "timestamp": 3, "snapshot": 3, "targets": 1, "targets/releases": 2, "targets/ci": 2, "snapshot.key": 0, "ping": 0}},
	} {
		proxy := notaryProxy(t)
		if tc.race {
			proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(a.repo), Before: func() {
				mustRun(t, signVars, "sign", a.repo+":v4")
			}})
		}
		mustRun(t, with(signVars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), tc.args...)
		got := map[string]int{}
		for req, n := range proxy.Seen() {
			method, p, _ := strings.Cut(req, " ")
			p, isTUF := strings.CutPrefix(p, tuf)
			switch {
			case method == http.MethodGet && p == "/v2/":
				got["ping"] += n
			case method == http.MethodPost && isTUF && p == "":
				got["POST"] += n
			case method == http.MethodGet && isTUF:
				role, _, _ := strings.Cut(p, ".") // snapshot.<sha256>.json is the snapshot
				if strings.HasSuffix(p, ".key") {
					role = p
				}
				got[role] += n
			}
		}
		for role, n := range tc.want {
			if got[role] != n {
				t.Errorf("%s: %d requests for %s, want %d (all: %v)", tc.name, got[role], role, n, proxy.Seen())
			}
		}
		// And nothing else.
		want := 0
		for _, n := range tc.want {
			want += n
		}
		if n := proxy.Requests(); n != want {
			t.Errorf("%s: %d notary requests, want %d: %v", tc.name, n, want, proxy.Seen())
		}
	}
}

// TestResolveCrossesTheWireOnce: resolving the tag of a 1-tag sign is one
// manifest GET at a registry without auth: no ping of /v2/ first
// (go-containerregistry's), the challenge being learned from a 401 when
// there is one (TestTokenLogins, TestTokenRealms).
func TestResolveCrossesTheWireOnce(t *testing.T) {
	t.Parallel()
	proxy, err := env.NewFaultProxy("https://" + env.RegistryHost)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// Through the proxy the GUN names the proxy's host (as in TestFaults).
	path := strings.TrimPrefix(env.Repo("wireresolve"), env.RegistryHost+"/")
	repo := proxy.Addr + "/" + path
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, env.RegistryHost+"/"+path+":v1")
	mustRun(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", repo+":v1")
	seen := proxy.Seen()
	if n := seen["GET /v2/"]; n != 0 {
		t.Errorf("%d pings of the registry, want 0: %v", n, seen)
	}
	if n := seen["GET /v2/"+path+"/manifests/v1"]; n != 1 || proxy.Requests() != 1 {
		t.Errorf("%d manifest GETs and %d requests in all, want 1 and 1: %v", n, proxy.Requests(), seen)
	}
}
