// Package testenv starts real servers for end-to-end tests: a distribution registry
// and a notary-server on loopback with TLS, built from the Go module proxy and cached
// between runs. Start it once per package from TestMain:
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env)) }
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Env is a running set of servers. Its fields are read-only.
type Env struct {
	Dir          string        // temp dir holding configs, certs and server logs
	RegistryHost string        // "127.0.0.1:PORT" of a registry without auth
	NotaryURL    string        // "https://127.0.0.1:PORT" of notary-server
	CACertPEM    []byte        // CA that signed both servers' certificates
	CACertFile   string        // CACertPEM on disk (Dir/ca.crt)
	NotaryCLI    string        // path to the notary CLI
	Auth         *AuthRegistry // second registry with basic auth; nil unless WithAuthRegistry

	// Token is a registry and a notary-server behind a token service; nil unless WithTokenRegistry.
	Token *TokenRegistry

	servers   []*server
	closers   []func() error // in-process servers (token service)
	prod      productionSlot // WithProductionNotary, ProductionNotary (production.go)
	mu        sync.Mutex
	installed []string // engine cert dirs to remove on Close; guarded by mu
}

// AuthRegistry is a registry that requires HTTP basic auth.
type AuthRegistry struct {
	Host     string // "127.0.0.1:PORT"
	Username string
	Password string
}

// Option configures Start.
type Option func(*options)

type options struct {
	authRegistry  bool
	tokenRegistry bool
	production    bool // WithProductionNotary (production.go)
}

// WithAuthRegistry also starts a registry with htpasswd auth and generated credentials (Env.Auth).
func WithAuthRegistry() Option { return func(o *options) { o.authRegistry = true } }

// Main starts an Env for a package's tests, stores it in *env, runs the tests and
// closes the Env. It returns the exit code for os.Exit. If the tools cannot be built
// or the servers do not start, the error is printed and the run fails.
func Main(m *testing.M, env **Env, opts ...Option) int {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // covers cold tool builds
	e, err := Start(ctx, opts...)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	*env = e
	code := m.Run()
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: close:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Start builds (or reuses cached) tools and starts a registry and a notary-server.
// The caller must Close the Env.
func Start(ctx context.Context, opts ...Option) (_ *Env, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tools, err := BuildTools(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sign-step-testenv-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, CACertFile: filepath.Join(dir, "ca.crt"), NotaryCLI: tools.Notary}
	defer func() {
		if err != nil {
			err = errors.Join(err, e.Close())
		}
	}()
	if e.CACertPEM, err = writeCerts(dir); err != nil {
		return nil, err
	}
	client := e.HTTPClient()

	if e.RegistryHost, err = e.start(ctx, client, registrySpec("registry", tools.Registry, dir, "")); err != nil {
		return nil, err
	}
	notaryAddr, err := e.start(ctx, client, notarySpec(tools.NotaryServer, dir))
	if err != nil {
		return nil, err
	}
	e.NotaryURL = "https://" + notaryAddr
	if o.authRegistry {
		if e.Auth, err = e.startAuthRegistry(ctx, client, tools.Registry); err != nil {
			return nil, err
		}
	}
	if o.tokenRegistry {
		if e.Token, err = e.startTokenRegistry(ctx, client, tools); err != nil {
			return nil, err
		}
	}
	if o.production {
		if err := e.startProductionOption(ctx); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) start(ctx context.Context, client *http.Client, spec serverSpec) (string, error) {
	s, addr, err := startServer(ctx, e.Dir, client, spec)
	if err != nil {
		return "", err
	}
	e.servers = append(e.servers, s)
	return addr, nil
}

func (e *Env) startAuthRegistry(ctx context.Context, client *http.Client, bin string) (*AuthRegistry, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	a := &AuthRegistry{Username: "signstep", Password: hex.EncodeToString(secret)}
	hash, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	htpasswd := filepath.Join(e.Dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(a.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	a.Host, err = e.start(ctx, client, registrySpec("registry-auth", bin, e.Dir, htpasswd))
	return a, err
}

// registrySpec runs a registry with filesystem storage and deletes enabled;
// htpasswd, if set, turns on basic auth.
func registrySpec(name, bin, dir, htpasswd string) serverSpec {
	return serverSpec{
		name:   name,
		bin:    bin,
		health: "/v2/",
		ok:     func(status int) bool { return status == http.StatusOK || status == http.StatusUnauthorized },
		config: func(addr string) ([]string, error) {
			cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  tls:
    certificate: %q
    key: %q
`, filepath.Join(dir, name+"-data"), addr, filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
			if htpasswd != "" {
				cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: sign-step\n    path: %q\n", htpasswd)
			}
			path := filepath.Join(dir, name+".yml")
			return []string{"serve", path}, os.WriteFile(path, []byte(cfg), 0o600)
		},
	}
}

// notarySpec runs notary-server with in-memory storage and a local signer
// (ed25519 timestamp and snapshot keys), so no notary-signer is needed.
func notarySpec(bin, dir string) serverSpec {
	return serverSpec{
		name:   "notary-server",
		bin:    bin,
		health: "/_notary_server/health",
		ok:     func(status int) bool { return status == http.StatusOK },
		config: func(addr string) ([]string, error) {
			cfg, err := json.MarshalIndent(map[string]any{
				"server": map[string]string{
					"http_addr":     addr,
					"tls_cert_file": filepath.Join(dir, "server.crt"),
					"tls_key_file":  filepath.Join(dir, "server.key"),
				},
				"trust_service": map[string]string{"type": "local"},
				"storage":       map[string]string{"backend": "memory"},
				"logging":       map[string]string{"level": "warn"},
			}, "", "  ")
			if err != nil {
				return nil, err
			}
			path := filepath.Join(dir, "notary-server.json")
			return []string{"-config", path, "-logf", "logfmt"}, os.WriteFile(path, cfg, 0o600)
		},
	}
}

// Close stops the servers, removes installed engine certificates and deletes Dir.
func (e *Env) Close() error {
	errs := []error{e.prod.close()}
	for _, s := range e.servers {
		// A server that died during the tests explains their failures.
		select {
		case <-s.done:
			errs = append(errs, fmt.Errorf("testenv: %s exited during the run (%v)\n--- tail ---\n%s", filepath.Base(s.log), s.cmd.ProcessState, s.logTail()))
		default:
		}
		s.stop()
	}
	e.servers = nil
	for _, c := range e.closers {
		errs = append(errs, c())
	}
	e.closers = nil
	e.mu.Lock()
	for _, d := range e.installed {
		errs = append(errs, os.RemoveAll(d))
	}
	e.installed = nil
	e.mu.Unlock()
	errs = append(errs, os.RemoveAll(e.Dir))
	return errors.Join(errs...)
}

// Transport returns a new HTTP transport that trusts the Env's CA.
func (e *Env) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CACertPEM)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool}
	return t
}

// HTTPClient returns a client that trusts the Env's CA.
func (e *Env) HTTPClient() *http.Client {
	return &http.Client{Transport: e.Transport(), Timeout: 30 * time.Second}
}

// repoSeq makes repository names unique within the test binary.
var repoSeq atomic.Int64

// Repo returns RegistryHost/name with a unique suffix, so parallel tests never share
// a repository (or its notary GUN).
func (e *Env) Repo(name string) string { return uniqueRepo(e.RegistryHost, name) }

// Repo returns Host/name with a unique suffix, like Env.Repo.
func (a *AuthRegistry) Repo(name string) string { return uniqueRepo(a.Host, name) }

func uniqueRepo(host, name string) string {
	return host + "/" + name + "-" + strconv.FormatInt(repoSeq.Add(1), 10)
}
