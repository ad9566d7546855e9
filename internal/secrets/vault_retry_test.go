package secrets

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestVaultLoginIsNeverRetried: a login whose answer is lost or fails is
// sent once (a retry would burn a single-use AppRole secret ID and orphan
// the first token), while a read that fails the same way is retried.
// Vault's client is plain HTTP, so an httptest TLS server that counts
// requests stands in for the server here.
func TestVaultLoginIsNeverRetried(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		auth     VaultAuth
		fail     string // path prefix that fails
		lost     bool   // the connection is cut instead of a 503
		wantPath string // counted path
		want     int
	}{
		{name: "approle login 503", auth: VaultAuth{Method: VaultAppRole, RoleID: "role", SecretID: "secret-id"},
			fail: "/v1/auth/", wantPath: "/v1/auth/approle/login", want: 1},
		{name: "approle login answer lost", auth: VaultAuth{Method: VaultAppRole, RoleID: "role", SecretID: "secret-id"},
			fail: "/v1/auth/", lost: true, wantPath: "/v1/auth/approle/login", want: 1},
		{name: "userpass login 503", auth: VaultAuth{Method: VaultUserpass, Username: "ci", Password: "pw"},
			fail: "/v1/auth/", wantPath: "/v1/auth/userpass/login/ci", want: 1},
		{name: "jwt login answer lost", auth: VaultAuth{Method: VaultJWT, Role: "ci", JWT: "a.b.c"},
			fail: "/v1/auth/", lost: true, wantPath: "/v1/auth/jwt/login", want: 1},
		// Reads are idempotent and keep the client's retries (MaxRetries 2).
		{name: "read 503 is retried", auth: VaultAuth{Method: VaultAppRole, RoleID: "role", SecretID: "secret-id"},
			fail: "/v1/sys/", wantPath: "/v1/sys/internal/ui/mounts/secret/ci", want: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			count := map[string]int{}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				count[r.URL.Path]++
				mu.Unlock()
				_, _ = io.Copy(io.Discard, r.Body)
				if strings.HasPrefix(r.URL.Path, tc.fail) {
					if tc.lost {
						// The server got the login (and may have applied it); the answer never arrives.
						conn, _, err := w.(http.Hijacker).Hijack()
						if err == nil {
							conn.Close()
						}
						return
					}
					http.Error(w, `{"errors":["unavailable"]}`, http.StatusServiceUnavailable)
					return
				}
				if strings.HasPrefix(r.URL.Path, "/v1/auth/") {
					_, _ = io.WriteString(w, `{"auth":{"client_token":"hvs.test-token-0123456789","renewable":true,"lease_duration":600}}`)
					return
				}
				http.NotFound(w, r)
			}))
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			m := &recorder{}
			v, err := NewVault(VaultOptions{Addr: srv.URL, Transport: srv.Client().Transport, Auth: tc.auth, Masker: m,
				Creds: &Resolver{Masker: m, Getenv: func(string) string { return "" }}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Read(context.Background(), "vault://secret/ci#key"); err == nil {
				t.Fatal("read succeeded against a failing server")
			}
			mu.Lock()
			got := count[tc.wantPath]
			mu.Unlock()
			if got != tc.want {
				t.Errorf("%s sent %d times, want %d (all requests: %v)", tc.wantPath, got, tc.want, count)
			}
		})
	}
}
