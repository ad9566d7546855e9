package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/sign-step/sign-step/deploy"
)

// TokenRegistry is a real registry and a real notary-server that both
// require tokens from one TokenService, the shape of Docker Hub, ACR,
// Harbor and MSR. Username/Password is an admin account that may do
// anything, for test setup; tests add their own users to Tokens.
type TokenRegistry struct {
	Host      string        // "127.0.0.1:PORT" of the registry (auth: token)
	NotaryURL string        // "https://127.0.0.1:PORT" of notary-server (auth: token)
	Tokens    *TokenService // the token service both trust
	Username  string
	Password  string
}

// Token services: the aud claim each server accepts.
const (
	TokenRegistryService = "sign-step-testenv-registry"
	TokenNotaryService   = "sign-step-testenv-notary"
)

// Repo returns Host/name with a unique suffix, like Env.Repo.
func (t *TokenRegistry) Repo(name string) string { return uniqueRepo(t.Host, name) }

// WithTokenRegistry also starts a token service and a registry and a
// notary-server behind it (Env.Token).
func WithTokenRegistry() Option { return func(o *options) { o.tokenRegistry = true } }

func (e *Env) startTokenRegistry(ctx context.Context, client *http.Client, tools Tools) (*TokenRegistry, error) {
	ts, err := e.NewTokenService()
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, ts.Close)
	t := &TokenRegistry{Tokens: ts, Username: "admin", Password: randomHex(16)}
	ts.AddUser(t.Username, TokenUser{Password: t.Password, Access: map[string][]string{"*": {"*"}}})
	if t.Host, err = e.start(ctx, client, tokenRegistrySpec(tools.Registry, e.Dir, ts)); err != nil {
		return nil, err
	}
	addr, err := e.start(ctx, client, tokenNotarySpec(tools.NotaryServer, e.Dir, ts))
	if err != nil {
		return nil, err
	}
	t.NotaryURL = "https://" + addr
	return t, nil
}

// tokenRegistrySpec is registrySpec with `auth: token` trusting ts.
func tokenRegistrySpec(bin, dir string, ts *TokenService) serverSpec {
	return tokenRegistrySpecAt("registry-token", bin, dir, ts, ts.Realm)
}

// tokenRegistrySpecAt is tokenRegistrySpec named name, sending clients to realm.
func tokenRegistrySpecAt(name, bin, dir string, ts *TokenService, realm string) serverSpec {
	spec := registrySpec(name, bin, dir, "")
	write := spec.config
	spec.config = func(addr string) ([]string, error) {
		args, err := write(addr)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(args[len(args)-1], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		_, err = fmt.Fprintf(f, "auth:\n  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    rootcertbundle: %q\n",
			realm, TokenRegistryService, ts.Issuer, ts.RootCertFile)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return args, err
	}
	return spec
}

// tokenNotarySpec runs notary-server as notarySpec does, with notary
// 0.7.0's token auth (cmd/notary-server/config.go: auth.type and
// auth.options, handed to distribution's token access controller).
func tokenNotarySpec(bin, dir string, ts *TokenService) serverSpec {
	return tokenNotarySpecAt("notary-server-token", bin, dir, ts, ts.Realm)
}

// tokenNotarySpecAt is tokenNotarySpec named name, sending clients to realm.
func tokenNotarySpecAt(name, bin, dir string, ts *TokenService, realm string) serverSpec {
	return serverSpec{
		name:   name,
		bin:    bin,
		health: "/_notary_server/health",
		ok:     func(status int) bool { return status == http.StatusOK },
		config: func(addr string) ([]string, error) {
			// deploy/'s token auth block, so what a deployment copies is
			// what the token tests run.
			auth, err := deploy.RenderString(deploy.TokenAuth, deploy.Token{
				Realm: realm, Service: TokenNotaryService, Issuer: ts.Issuer, RootCertBundle: ts.RootCertFile})
			if err != nil {
				return nil, err
			}
			cfg, err := json.MarshalIndent(map[string]any{
				"server": map[string]string{
					"http_addr":     addr,
					"tls_cert_file": filepath.Join(dir, "server.crt"),
					"tls_key_file":  filepath.Join(dir, "server.key"),
				},
				"trust_service": map[string]string{"type": "local"},
				"storage":       map[string]string{"backend": "memory"},
				"logging":       map[string]string{"level": "info"},
				"auth":          json.RawMessage(auth),
			}, "", "  ")
			if err != nil {
				return nil, err
			}
			path := filepath.Join(dir, name+".json")
			return []string{"-config", path, "-logf", "logfmt"}, os.WriteFile(path, cfg, 0o600)
		},
	}
}
