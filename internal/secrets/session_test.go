package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

func TestAuthMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		o    SessionOptions
		want string
	}{
		{"given wins", SessionOptions{Method: VaultKubernetes, RoleID: "r"}, VaultKubernetes},
		{"role ID: approle", SessionOptions{RoleID: "r"}, VaultAppRole},
		{"secret ID alone: approle", SessionOptions{SecretID: "s"}, VaultAppRole},
		{"username: userpass", SessionOptions{Username: "u", Role: "x"}, VaultUserpass},
		{"jwt", SessionOptions{JWT: "j"}, VaultJWT},
		{"role alone: jwt", SessionOptions{Role: "ci"}, VaultJWT},
		{"nothing: token", SessionOptions{}, VaultToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.o.AuthMethod(); got != tc.want {
				t.Errorf("AuthMethod() = %q, want %q", got, tc.want)
			}
		})
	}
}

type maskList []string

func (m *maskList) Mask(v string) { *m = append(*m, v) }

func TestParseNotaryAuth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, v, wantUser, wantPass string
		wantErr                     bool
	}{
		{name: "user:password", v: "Y2k6czNjcjN0", wantUser: "ci", wantPass: "s3cr3t"},
		{name: "password with a colon", v: "Y2k6YTpi", wantUser: "ci", wantPass: "a:b"},
		{name: "not base64", v: "ci:s3cr3t", wantErr: true},
		{name: "no colon", v: "Y2lzM2NyM3Q=", wantErr: true},
		{name: "empty password", v: "Y2k6", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m maskList
			user, pass, err := ParseNotaryAuth(core.Secret(tc.v), &m)
			if tc.wantErr {
				if err == nil || core.ClassOf(err) != core.ClassSecrets || strings.Contains(err.Error(), tc.v) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if err != nil || user != tc.wantUser || string(pass) != tc.wantPass {
				t.Fatalf("got %q %q %v", user, pass, err)
			}
			if !strings.Contains(strings.Join(m, "\n"), tc.wantPass) {
				t.Errorf("password not masked: %q", m)
			}
		})
	}
}

// A reference to a missing file keeps its cause: callers can tell "not
// there" (errors.Is os.ErrNotExist) from other failures, class unchanged.
func TestResolveKeepsCause(t *testing.T) {
	t.Parallel()
	r := &Resolver{Getenv: func(string) string { return "" }}
	_, _, err := r.Resolve(context.Background(), "file://"+filepath.Join(t.TempDir(), "missing"), Literal)
	if !errors.Is(err, os.ErrNotExist) || core.ClassOf(err) != core.ClassSecrets {
		t.Fatalf("error %v (class %v): want os.ErrNotExist kept and ClassSecrets", err, core.ClassOf(err))
	}
}
