package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestFaults puts a fault-injecting proxy in front of the real notary
// server or registry and checks that passing faults are retried and the
// tag ends up signed, and that a deadline ends a hopeless run naming the
// server and the last failure.
func TestFaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		server   string // "notary" or "registry"
		arm      func(p *testenv.FaultProxy)
		timeout  string
		wantCode int
		wantMsg  string
	}{
		{name: "notary 503 twice", server: "notary", arm: func(p *testenv.FaultProxy) { p.Fail(503, 2) }},
		{name: "notary 429", server: "notary", arm: func(p *testenv.FaultProxy) { p.Fail(429, 2) }},
		{name: "notary 502 and 504", server: "notary", arm: func(p *testenv.FaultProxy) { p.Fail(502, 1) }},
		{name: "notary resets mid-body", server: "notary", arm: func(p *testenv.FaultProxy) { p.Reset(2) }},
		{name: "notary refuses for a second", server: "notary", arm: func(p *testenv.FaultProxy) { p.Refuse(time.Second) }},
		{name: "notary slow", server: "notary", arm: func(p *testenv.FaultProxy) { p.Delay(200 * time.Millisecond) }},
		{name: "registry 503 twice", server: "registry", arm: func(p *testenv.FaultProxy) { p.Fail(503, 2) }},
		{name: "registry resets mid-body", server: "registry", arm: func(p *testenv.FaultProxy) { p.Reset(1) }},
		{name: "notary down past the deadline", server: "notary", arm: func(p *testenv.FaultProxy) { p.Refuse(time.Hour) },
			timeout: "3s", wantCode: 10, wantMsg: "last failure: "},
		{name: "notary down past the retries", server: "notary", arm: func(p *testenv.FaultProxy) { p.Refuse(time.Hour) },
			wantCode: 6, wantMsg: "cannot reach notary server"},
		{name: "notary 500 is not retried", server: "notary", arm: func(p *testenv.FaultProxy) { p.Fail(500, 100) },
			wantCode: 6, wantMsg: "notary server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := env.NotaryURL
			if tc.server == "registry" {
				target = "https://" + env.RegistryHost
			}
			proxy, err := env.NewFaultProxy(target)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			// Through a registry proxy the GUN names the proxy's host, so
			// the repository is set up there.
			host := env.RegistryHost
			if tc.server == "registry" {
				host = proxy.Addr
			}
			repo := host + "/" + strings.TrimPrefix(env.Repo("faults"), env.RegistryHost+"/")
			s := dockerSigner(t, "ci", repo)
			digest, _ := pushRandom(t, strings.Replace(repo, host, env.RegistryHost, 1)+":v1")
			vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			if tc.server == "notary" {
				vars["SIGN_STEP_NOTARY_SERVER"] = proxy.URL()
			}
			if tc.timeout != "" {
				vars["SIGN_STEP_TIMEOUT"] = tc.timeout
				vars["SIGN_STEP_RETRIES"] = "1000" // so the deadline, not the retry budget, ends it
			}
			tc.arm(proxy)
			start := time.Now()
			r := signStep(t, vars, "sign", repo+":v1")
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantMsg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tc.wantCode, r.stderr, tc.wantMsg)
			}
			if tc.wantCode == 10 {
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("deadline of %s ended the run after %s", tc.timeout, d)
				}
				if !strings.Contains(r.stderr, proxy.Addr) {
					t.Errorf("timeout does not name the server: %s", r.stderr)
				}
				return
			}
			if tc.wantCode != 0 {
				return
			}
			proxy.Fail(0, 0)
			proxy.Refuse(0)
			v := signStep(t, map[string]string{"SIGN_STEP_NOTARY_SERVER": env.NotaryURL}, "verify", repo+":v1")
			if v.code != 0 || !strings.Contains(v.stdout, digest) {
				t.Errorf("after the faults the tag is not signed at %s: %d %s %s", digest, v.code, v.stdout, v.stderr)
			}
		})
	}
}
