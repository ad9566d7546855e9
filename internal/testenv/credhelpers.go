package testenv

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// HelperLogin is one login a test credential helper returns. Username
// "<token>" makes Secret an identity token, as docker stores those.
type HelperLogin struct {
	Username, Secret string
}

var credHelper struct {
	once sync.Once
	bin  string
	err  error
}

// CredentialHelper builds the test credential helper (./credhelper) into
// the Env's directory, once per test binary, and returns its path.
func (e *Env) CredentialHelper(ctx context.Context) (string, error) {
	credHelper.once.Do(func() {
		bin := filepath.Join(e.Dir, "docker-credential-helper-bin")
		if _, err := goCmd(ctx, "", nil, "build", "-o", bin, "github.com/sign-step/sign-step/internal/testenv/credhelper"); err != nil {
			credHelper.err = err
			return
		}
		credHelper.bin = bin
	})
	return credHelper.bin, credHelper.err
}

// InstallCredentialHelper makes dir/docker-credential-NAME, a helper
// holding logins (server URL -> login). Put dir on PATH. CalledFor lists the
// server URLs it was asked for.
func (e *Env) InstallCredentialHelper(ctx context.Context, dir, name string, logins map[string]HelperLogin) error {
	bin, err := e.CredentialHelper(ctx)
	if err != nil {
		return err
	}
	store := map[string]map[string]string{}
	for url, l := range logins {
		store[url] = map[string]string{"ServerURL": url, "Username": l.Username, "Secret": l.Secret}
	}
	b, err := json.Marshal(store)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "store.json"), b, 0o600); err != nil {
		return err
	}
	return os.Symlink(bin, filepath.Join(dir, "docker-credential-"+name))
}

// CredentialHelperCalls returns the "ACTION ARG" lines the helper in dir logged.
func CredentialHelperCalls(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "calls.log"))
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
