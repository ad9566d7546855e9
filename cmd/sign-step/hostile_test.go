package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// TestHostileNotary serves tampered trust data through a proxy: sign and
// verify must refuse with a clear error, and nothing may be published.
func TestHostileNotary(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		rewrite func(path string, body []byte) []byte
		wantMsg string
	}{
		{"bad signature on a delegation", func(path string, b []byte) []byte {
			if metaFile("targets/releases").MatchString(path) {
				return bytes.Replace(b, []byte(`"length":`), []byte(`"length": `), 1)
			}
			return b
		}, "possible attack"},
		{"signature bytes flipped, same length", func(path string, b []byte) []byte {
			if metaFile("targets/releases").MatchString(path) {
				i := bytes.Index(b, []byte(`"sig":"`)) + len(`"sig":"`) + 10
				out := append([]byte(nil), b...)
				if out[i] == 'A' {
					out[i] = 'B'
				} else {
					out[i] = 'A'
				}
				return out
			}
			return b
		}, "targets/releases"},
		{"targets does not match the snapshot", func(path string, b []byte) []byte {
			if metaFile("targets").MatchString(path) {
				return append(b, ' ')
			}
			return b
		}, "possible attack"},
		{"huge timestamp", func(path string, b []byte) []byte {
			if metaFile("timestamp").MatchString(path) {
				return bytes.Repeat([]byte(" "), 20<<20)
			}
			return b
		}, "possible attack"},
		{"root swapped for garbage", func(path string, b []byte) []byte {
			if metaFile("root").MatchString(path) {
				return bytes.Replace(b, []byte(`"root"`), []byte(`"rooT"`), 1)
			}
			return b
		}, "root"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			proxy, err := env.NewFaultProxy(env.NotaryURL)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			repo := env.Repo("hostile")
			s := dockerSigner(t, "ci", repo)
			first, _ := pushRandom(t, repo+":v1")
			vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}
			mustRun(t, vars, "sign", repo+":v1")
			pushRandom(t, repo+":v1") // the tag now points elsewhere
			before := trustSnapshot(t, s, repo)

			proxy.Rewrite(tc.rewrite)
			hostile := with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL())
			for _, args := range [][]string{{"sign", repo + ":v1"}, {"verify", repo + ":v1"}} {
				r := signStep(t, hostile, args...)
				if r.code == 0 {
					t.Fatalf("%s accepted tampered trust data: %s", args[0], r.stdout)
				}
				if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines != 0 || !strings.Contains(r.stderr, tc.wantMsg) {
					t.Errorf("%s: stderr %q, want one line naming %q", args[0], r.stderr, tc.wantMsg)
				}
			}
			if after := trustSnapshot(t, s, repo); after != before {
				t.Errorf("trust data changed through a hostile server:\nbefore %s\nafter  %s", before, after)
			}
			// The honest server still says v1 is the first digest.
			if r := signStep(t, nil, "verify", repo+":v1"); !strings.Contains(r.stdout, first) {
				t.Errorf("verify via the real server: %s %s", r.stdout, r.stderr)
			}
		})
	}
}

// metaFile matches a request for role's metadata, by name or by checksum
// (the client asks for "targets.<sha256>.json" once the snapshot names it).
func metaFile(role string) *regexp.Regexp {
	return regexp.MustCompile(`/_trust/tuf/` + regexp.QuoteMeta(role) + `(\.[0-9a-f]{64})?\.json$`)
}

// TestTrustCacheCatchesRollback: with --trust-cache, a server that replays
// an older timestamp (validly signed, not expired) is refused; without a
// cache nothing can tell (the documented limit).
func TestTrustCacheCatchesRollback(t *testing.T) {
	t.Parallel()
	proxy, err := env.NewFaultProxy(env.NotaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	repo := env.Repo("rollback")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	cache := t.TempDir()
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
		"SIGN_STEP_NOTARY_SERVER": proxy.URL(), "SIGN_STEP_TRUST_CACHE": cache}

	var old []byte
	proxy.Rewrite(func(path string, b []byte) []byte {
		if metaFile("timestamp").MatchString(path) {
			old = append([]byte(nil), b...)
		}
		return b
	})
	mustRun(t, vars, "sign", repo+":v1") // its last read of timestamp is after the publish
	proxy.Rewrite(nil)
	pushRandom(t, repo+":v2")
	mustRun(t, vars, "sign", repo+":v2")

	proxy.Rewrite(func(path string, b []byte) []byte {
		if metaFile("timestamp").MatchString(path) {
			return old
		}
		return b
	})
	r := signStep(t, vars, "verify", repo+":v1")
	if r.code != 8 || !strings.Contains(r.stderr, "version is lower than expected") {
		t.Errorf("replayed timestamp with a trust cache: exit %d, %q", r.code, r.stderr)
	}
	delete(vars, "SIGN_STEP_TRUST_CACHE")
	if r := signStep(t, vars, "verify", repo+":v1"); r.code != 0 {
		t.Errorf("without a cache the replay is not detectable, but verify failed: %d %s", r.code, r.stderr)
	}
}
