package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestEachRoleCrossesTheWireOnce: a 1-tag sign and a resign into an
// existing repository read root, targets and each delegation once, the
// timestamp twice (the run's load, and the server's new one after the
// publish, with the snapshot it names) and post once: no second root and
// timestamp round before the POST, no delegation downloaded again after it.
func TestEachRoleCrossesTheWireOnce(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "wireonce")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	pushRandom(t, a.repo+":v1")
	mustRun(t, signVars, "sign", a.repo+":v1")
	pushRandom(t, a.repo+":v2")

	tuf := "/v2/" + a.repo + "/_trust/tuf/"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"sign one tag", []string{"sign", a.repo + ":v2"}},
		{"resign", []string{"resign", a.repo}},
	} {
		proxy := notaryProxy(t)
		mustRun(t, with(signVars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), tc.args...)
		got := map[string]int{}
		for req, n := range proxy.Seen() {
			method, p, _ := strings.Cut(req, " ")
			p, isTUF := strings.CutPrefix(p, tuf)
			switch {
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
		want := map[string]int{"POST": 1, "root": 1, "timestamp": 2, "snapshot": 2, "targets": 1, "targets/releases": 1, "targets/ci": 1, "snapshot.key": 1}
		for role, n := range want {
			if got[role] != n {
				t.Errorf("%s: %d requests for %s, want %d (all: %v)", tc.name, got[role], role, n, proxy.Seen())
			}
		}
		// And the ping (/v2/): 11 in all.
		if n := proxy.Requests(); n > 11 {
			t.Errorf("%s: %d notary requests, want at most 11: %v", tc.name, n, proxy.Seen())
		}
	}
}
