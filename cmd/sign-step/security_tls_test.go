package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/testenv"
)

// signedTags is what docker (the judge) reads from the real notary server
// for repo: tag → digest. No trust data at all is an empty map.
func signedTags(t *testing.T, s signer, repo string) map[string]string {
	t.Helper()
	stdout, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var got inspected
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("docker trust inspect output: %v\n%s", err, stdout)
	}
	tags := map[string]string{}
	for _, g := range got {
		for _, st := range g.SignedTags {
			tags[st.SignedTag] = st.Digest
		}
	}
	return tags
}

// frontRepo is a repository named on a front's address (as host:port, on
// 127.0.0.1 or on localhost), so that its GUN is the front's; the image is
// pushed to the real registry under the same path.
func frontRepo(front *testenv.Front, host, name string) (repo, real string) {
	_, port, _ := net.SplitHostPort(front.Addr)
	path := strings.TrimPrefix(env.Repo(name), env.RegistryHost+"/")
	return net.JoinHostPort(host, port) + "/" + path, env.RegistryHost + "/" + path
}

func assertOneLine(t *testing.T, stderr string) {
	t.Helper()
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
		t.Errorf("stderr has %d lines, want one:\n%s", n+1, stderr)
	}
}

// TestTLSFrontWithWrongNameIsRefused: a man in the middle in front of the
// real registry or notary server, holding a certificate from the CA
// sign-step trusts but issued for attacker.example only, is refused with
// the TLS exit code, whether the server is addressed by IP or by DNS name.
// No HTTP request reaches it (so no credential and no push), and nothing is
// published. An honest front (the servers' own certificate) shows the same
// setup signs.
func TestTLSFrontWithWrongNameIsRefused(t *testing.T) {
	t.Parallel()
	ca, err := env.CA()
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := ca.Issue([]string{"attacker.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	honest, err := env.ServerCert()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		server   string // "registry" or "notary" is behind the front
		host     string // the front is dialed as 127.0.0.1 or localhost
		honest   bool
		insecure bool // --insecure-registry for the front: plain HTTP allowed, certificates still checked
		wantCode int
	}{
		{name: "registry by IP", server: "registry", host: "127.0.0.1", wantCode: 7},
		{name: "registry by DNS name", server: "registry", host: "localhost", wantCode: 7},
		{name: "registry by IP, insecure registry", server: "registry", host: "127.0.0.1", insecure: true, wantCode: 7},
		{name: "notary by IP", server: "notary", host: "127.0.0.1", wantCode: 7},
		{name: "notary by DNS name", server: "notary", host: "localhost", wantCode: 7},
		{name: "honest registry front", server: "registry", host: "127.0.0.1", honest: true},
		{name: "honest notary front", server: "notary", host: "localhost", honest: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cert, target := attacker, env.NotaryURL
			if tc.honest {
				cert = honest
			}
			if tc.server == "registry" {
				target = "https://" + env.RegistryHost
			}
			front, err := env.NewTLSFront(target, cert)
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			_, port, _ := net.SplitHostPort(front.Addr)
			repo, real := env.Repo("tlsfront"), ""
			vars := map[string]string{}
			if tc.server == "registry" {
				repo, real = frontRepo(front, tc.host, "tlsfront")
			} else {
				real = repo
				vars["SIGN_STEP_NOTARY_SERVER"] = "https://" + net.JoinHostPort(tc.host, port)
			}
			if tc.insecure {
				vars["SIGN_STEP_INSECURE_REGISTRY"] = net.JoinHostPort(tc.host, port)
			}
			s := dockerSigner(t, "ci", repo)
			digest, _ := pushRandom(t, real+":v1")
			vars["SIGN_STEP_KEY"], vars["SIGN_STEP_PASSPHRASE"] = s.keyFile, repoPass
			r := signStep(t, vars, "sign", repo+":v1")
			tags := signedTags(t, s, repo)
			if tc.honest {
				if r.code != 0 || tags["v1"] != strings.TrimPrefix(digest, "sha256:") || len(front.Requests()) == 0 {
					t.Fatalf("through an honest front: exit %d, docker sees %v, front saw %d requests\n%s", r.code, tags, len(front.Requests()), r.stderr)
				}
				return
			}
			if r.code != tc.wantCode || !strings.Contains(r.stderr, "certificate") {
				t.Errorf("exit %d (want %d, TLS), stderr %q", r.code, tc.wantCode, r.stderr)
			}
			t.Logf("exit %d: %s", r.code, r.stderr)
			assertOneLine(t, r.stderr)
			if got := front.Requests(); len(got) != 0 {
				t.Errorf("the man in the middle received HTTP requests: %v", got)
			}
			if front.Conns() == 0 {
				t.Error("sign-step never reached the front: the test proves nothing")
			}
			if len(tags) != 0 {
				t.Errorf("published through the man in the middle: docker sees %v", tags)
			}
		})
	}
}

// TestPlainHTTPRegistryNeedsOptIn: a plain-HTTP listener on 127.0.0.1 (a
// "local" address, for which go-containerregistry would try http) in front
// of the real registry. Without --insecure-registry the sign is refused
// with the TLS exit code and one line naming the flag, the listener
// receives no HTTP request and nothing is published. With the flag (or its
// variable) plain HTTP works and docker sees the tag signed.
func TestPlainHTTPRegistryNeedsOptIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		insecure string // "flag", "env" or ""
		other    bool   // another registry is named insecure, not this one
		wantCode int
	}{
		{name: "no opt-in", wantCode: 7},
		{name: "another registry is insecure", other: true, wantCode: 7},
		{name: "--insecure-registry", insecure: "flag"},
		{name: "SIGN_STEP_INSECURE_REGISTRY", insecure: "env"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front, err := env.NewPlainFront("https://" + env.RegistryHost)
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			repo, real := frontRepo(front, "127.0.0.1", "plain")
			s := dockerSigner(t, "ci", repo)
			digest, _ := pushRandom(t, real+":v1")
			vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			args := []string{"sign"}
			switch {
			case tc.other:
				args = append(args, "--insecure-registry", env.RegistryHost)
			case tc.insecure == "flag":
				args = append(args, "--insecure-registry", "registry.example.com:5000", "--insecure-registry", front.Addr)
			case tc.insecure == "env":
				vars["SIGN_STEP_INSECURE_REGISTRY"] = "registry.example.com," + front.Addr
			}
			r := signStep(t, vars, append(args, repo+":v1")...)
			tags := signedTags(t, s, repo)
			if tc.wantCode == 0 {
				if r.code != 0 || tags["v1"] != strings.TrimPrefix(digest, "sha256:") {
					t.Fatalf("insecure registry: exit %d, docker sees %v, want v1 at %s\n%s", r.code, tags, digest, r.stderr)
				}
				if len(front.Requests()) == 0 {
					t.Error("signed without talking to the plain-HTTP registry")
				}
				return
			}
			want := "--insecure-registry " + front.Addr
			if r.code != tc.wantCode || !strings.Contains(r.stderr, want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tc.wantCode, r.stderr, want)
			}
			t.Logf("exit %d: %s", r.code, r.stderr)
			assertOneLine(t, r.stderr)
			if got := front.Requests(); len(got) != 0 {
				t.Errorf("plain-HTTP requests were sent: %v", got)
			}
			if front.Conns() == 0 {
				t.Error("sign-step never reached the listener: the test proves nothing")
			}
			if len(tags) != 0 {
				t.Errorf("published a digest the plain-HTTP listener chose: docker sees %v", tags)
			}
		})
	}
}

// TestInsecureRegistryFlagValues: a value that is not HOST[:PORT] is a
// usage error before any server is contacted.
func TestInsecureRegistryFlagValues(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"http://10.0.0.5:5000", "10.0.0.5:5000/team", "ci:pw@10.0.0.5", "bad host"} {
		r := signStep(t, nil, "inspect", "--insecure-registry", v, env.Repo("flag")+":v1")
		if r.code != 2 || !strings.Contains(r.stderr, "--insecure-registry") || !strings.Contains(r.stderr, "want HOST or HOST:PORT") {
			t.Errorf("--insecure-registry %q: exit %d, stderr %q; want 2 naming the flag", v, r.code, r.stderr)
		}
	}
}

// TestRetriesIsTheOneKnob: with a front answering every manifest request
// with 500 or 503, each request is sent exactly --retries+1 times for 503
// and once for 500: go-containerregistry adds no retries of its own.
func TestRetriesIsTheOneKnob(t *testing.T) {
	t.Parallel()
	honest, err := env.ServerCert()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		status, retries, want int
	}{
		{500, 0, 1},
		{500, 2, 1},
		{503, 0, 1},
		{503, 2, 3},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d retries %d", tc.status, tc.retries), func(t *testing.T) {
			t.Parallel()
			front, err := env.NewTLSFront("https://"+env.RegistryHost, honest)
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			front.Fail(func(r *http.Request) int {
				if strings.Contains(r.URL.Path, "/manifests/") {
					return tc.status
				}
				return 0
			})
			repo, real := frontRepo(front, "127.0.0.1", "retries")
			s := dockerSigner(t, "ci", repo)
			pushRandom(t, real+":v1")
			r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass},
				"sign", "--retries", fmt.Sprint(tc.retries), repo+":v1")
			t.Logf("exit %d: %s", r.code, r.stderr)
			if r.code != 5 {
				t.Errorf("exit %d, want 5 (registry)\n%s", r.code, r.stderr)
			}
			sent := map[string]int{}
			for _, req := range front.Requests() {
				if strings.Contains(req, "/manifests/") {
					sent[req]++
				}
			}
			if len(sent) == 0 {
				t.Fatalf("no manifest request reached the front: %v", front.Requests())
			}
			for req, n := range sent {
				if n != tc.want {
					t.Errorf("%s sent %d times, want %d (--retries %d, status %d)", req, n, tc.want, tc.retries, tc.status)
				}
			}
			if tags := signedTags(t, s, repo); len(tags) != 0 {
				t.Errorf("published although the registry failed: %v", tags)
			}
		})
	}
}

// TestVaultWrongNameIsRefused: Vault goes through the same verifier. A man
// in the middle on 127.0.0.1 with a certificate from the CA given in
// --vault-ca, issued for attacker.example, gets no request: neither the
// AppRole secret ID nor the token reaches it. (No real Vault is needed: the
// handshake must fail before Vault would be asked anything.)
func TestVaultWrongNameIsRefused(t *testing.T) {
	t.Parallel()
	ca, err := env.CA()
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := ca.Issue([]string{"attacker.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		auth map[string]string
	}{
		{"token", map[string]string{"SIGN_STEP_VAULT_TOKEN": "hvs.not-for-the-attacker"}},
		{"approle", map[string]string{"SIGN_STEP_VAULT_ROLE_ID": "role-id", "SIGN_STEP_VAULT_SECRET_ID": "secret-id-not-for-the-attacker"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front, err := env.NewTLSFront(env.NotaryURL, attacker) // whatever is behind it, nothing may reach it
			if err != nil {
				t.Fatal(err)
			}
			defer front.Close()
			vars := map[string]string{"SIGN_STEP_VAULT_ADDR": "https://" + front.Addr, "SIGN_STEP_VAULT_CA": env.CACertFile,
				"SIGN_STEP_KEY": "vault://secret/ci/dct#key", "SIGN_STEP_PASSPHRASE": repoPass}
			for k, v := range tc.auth {
				vars[k] = v
			}
			r := signStep(t, vars, "sign", env.Repo("vaultmitm")+":v1")
			t.Logf("exit %d: %s", r.code, r.stderr)
			if r.code != 7 || !strings.Contains(r.stderr, "certificate") {
				t.Errorf("exit %d (want 7, TLS), stderr %q", r.code, r.stderr)
			}
			assertOneLine(t, r.stderr)
			if got := front.Requests(); len(got) != 0 {
				t.Errorf("the man in the middle received Vault requests: %v", got)
			}
			if front.Conns() == 0 {
				t.Error("sign-step never reached the front: the test proves nothing")
			}
		})
	}
}
