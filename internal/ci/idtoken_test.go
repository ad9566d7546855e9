package ci

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGitHubIDToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		failures  int32 // 500s before the token
		wantToken bool
		wantErr   string
	}{
		{"first try", 0, true, ""},
		{"after two failures", 2, true, ""},
		{"gives up", 10, false, "after 5 attempts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer runtime-token" || r.URL.Query().Get("audience") != "https://vault.example" {
					http.Error(w, "bad request", 400)
					return
				}
				if calls.Add(1) <= tc.failures {
					http.Error(w, "busy", 500)
					return
				}
				w.Write([]byte(`{"value":"the.jwt.value"}`))
			}))
			t.Cleanup(srv.Close)
			env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": srv.URL + "/token?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runtime-token"}
			mint := githubIDToken(func(k string) string { return env[k] }, nil, time.Millisecond)
			token, err := mint(context.Background(), "https://vault.example")
			if tc.wantToken && (err != nil || token != "the.jwt.value") {
				t.Fatalf("token %q, err %v", token, err)
			}
			if !tc.wantToken && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestGitHubIDTokenWithoutPermission(t *testing.T) {
	t.Parallel()
	_, err := GitHubIDToken(func(string) string { return "" }, nil)(context.Background(), "aud")
	if err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("err = %v", err)
	}
}
