// Package vaultenv runs a real HashiCorp Vault server for tests.
//
// The server is built from the Go module proxy by tools/vault (see Binary),
// listens only on loopback with TLS from a CA made per run, and is configured
// through its HTTP API with the mounts, auth methods and policies that
// sign-step's secret readers use. Nothing here is a mock.
//
// Typical use, once per test package:
//
//	func TestMain(m *testing.M) {
//		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
//		v, err := vaultenv.Start(ctx)
//		cancel()
//		...
//		code := m.Run()
//		v.Close()
//		os.Exit(code)
//	}
package vaultenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sign-step/sign-step/internal/testenv"
)

// Mounts, auth paths and policies that Start configures.
const (
	MountKV2      = "secret"   // KV v2
	MountKV1      = "kv1"      // KV v1
	MountTransit  = "transit"  // Transit
	AuthAppRole   = "approle"  // auth/approle
	AuthJWT       = "jwt"      // auth/jwt
	AuthUserpass  = "userpass" // auth/userpass
	PolicyRead    = "sign-step-read"
	PolicyDeny    = "sign-step-deny"
	DeniedKV2Path = "ci/denied" // under secret/: PolicyDeny denies it even with PolicyRead
	DeniedKV1Path = "ci/denied" // under kv1/
)

// Policies, by name. PolicyRead is what a CI signer needs: read the CI
// secrets and sign with Transit (signing is a write, hence "update").
// PolicyDeny carves a denied subtree out of it, for permission-denied tests.
var policies = map[string]string{
	PolicyRead: `
path "secret/data/ci/*" { capabilities = ["read"] }
path "kv1/ci/*"         { capabilities = ["read"] }
path "transit/sign/*"   { capabilities = ["update"] }
path "transit/keys/*"   { capabilities = ["read"] }
`,
	PolicyDeny: `
path "secret/data/ci/denied/*" { capabilities = ["deny"] }
path "secret/data/ci/denied"   { capabilities = ["deny"] }
path "kv1/ci/denied/*"         { capabilities = ["deny"] }
path "kv1/ci/denied"           { capabilities = ["deny"] }
`,
}

// Vault is a running server. All fields are set by Start.
type Vault struct {
	Addr       string // https://127.0.0.1:PORT
	CACertPEM  []byte // the CA that signed the server certificate
	CACertFile string // CACertPEM on disk, for VAULT_CACERT-style consumers
	RootToken  string // test-only: full access

	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the server process has exited
	jwtKey *ecdsa.PrivateKey
}

// Start builds (or reuses) the Vault binary, starts a server and configures
// it. ctx bounds the build and startup only, not the server's lifetime; a cold
// build takes several minutes.
func Start(ctx context.Context) (*Vault, error) {
	bin, err := Binary(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sign-step-vault-")
	if err != nil {
		return nil, err
	}
	v := &Vault{dir: dir, CACertFile: filepath.Join(dir, "ca.pem")}
	if err := v.start(ctx, bin); err != nil {
		v.Close()
		return nil, err
	}
	if err := v.configure(); err != nil {
		err = fmt.Errorf("vaultenv: configure: %w\n%s", err, v.logTail())
		v.Close()
		return nil, err
	}
	return v, nil
}

// start launches the server with the real (non-dev) server config.
//
// Why not "vault server -dev": dev mode always opens its own listener, plain
// HTTP or (-dev-tls) with a CA that Vault generates itself; -config only adds
// listeners next to it. A normal server with in-memory storage has exactly
// the one TLS listener we configure, costs only an init+unseal call, and
// behaves like production (no dev shortcuts).
func (v *Vault) start(ctx context.Context, bin string) error {
	mat, err := testenv.NewTLSMaterial()
	if err != nil {
		return err
	}
	v.CACertPEM = mat.CAPEM
	cert, key := filepath.Join(v.dir, "server.pem"), filepath.Join(v.dir, "server-key.pem")
	for path, data := range map[string][]byte{v.CACertFile: mat.CAPEM, cert: mat.CertPEM, key: mat.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}

	// The free port is found by binding :0 and releasing it, so another
	// process may grab it before Vault does; retry a few times if so.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		v.Addr = fmt.Sprintf("https://127.0.0.1:%d", port)
		lastErr = v.launch(ctx, bin, port, cert, key)
		if lastErr == nil || !strings.Contains(v.logTail(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		return fmt.Errorf("vaultenv: start: %w\n%s", lastErr, v.logTail())
	}
	return v.initUnseal(ctx)
}

func (v *Vault) launch(ctx context.Context, bin string, port int, cert, key string) error {
	cfg := fmt.Sprintf(`
disable_mlock      = true
disable_clustering = true
ui                 = false
api_addr           = %q
log_level          = "info"
storage "inmem" {}
listener "tcp" {
  address         = "127.0.0.1:%d"
  tls_cert_file   = %q
  tls_key_file    = %q
  tls_min_version = "tls12"
}
`, v.Addr, port, cert, key)
	cfgFile := filepath.Join(v.dir, "config.hcl")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(v.dir, "vault.log"))
	if err != nil {
		return err
	}
	defer logFile.Close() // the child keeps its own descriptor

	// Not CommandContext: ctx bounds startup, the server lives until Close.
	cmd := exec.Command(bin, "server", "-config="+cfgFile)
	cmd.Dir = v.dir
	cmd.Env = serverEnv(v.dir)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies without Close, do not leave Vault running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	v.cmd, v.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(v.exited)

	// Any HTTP answer means the listener is up (501: not initialized yet).
	return v.waitHealth(ctx, func(int) bool { return true })
}

// serverEnv is the parent environment minus VAULT_* (a developer's
// VAULT_ADDR or VAULT_TOKEN must not change the server), with HOME in the
// temp dir so nothing is written to the real home.
func serverEnv(home string) []string {
	env := []string{"HOME=" + home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// initUnseal initialises the server with a single key share (test only) and
// unseals it, then waits for it to become active.
func (v *Vault) initUnseal(ctx context.Context) error {
	c, err := v.newClient("")
	if err != nil {
		return err
	}
	init, err := c.Sys().InitWithContext(ctx, &api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return fmt.Errorf("vaultenv: init: %w", err)
	}
	v.RootToken = init.RootToken
	if _, err := c.Sys().UnsealWithContext(ctx, init.Keys[0]); err != nil {
		return fmt.Errorf("vaultenv: unseal: %w", err)
	}
	if err := v.waitHealth(ctx, func(code int) bool { return code == http.StatusOK }); err != nil {
		return fmt.Errorf("vaultenv: waiting for active: %w\n%s", err, v.logTail())
	}
	return nil
}

// waitHealth polls /v1/sys/health, trusting only our CA, until ready(status)
// holds, the server exits, or a bounded timeout passes.
func (v *Vault) waitHealth(ctx context.Context, ready func(status int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	hc := v.httpClient()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.Addr+"/v1/sys/health", nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if ready(resp.StatusCode) {
				return nil
			}
			err = fmt.Errorf("health status %d", resp.StatusCode)
		}
		select {
		case <-v.exited:
			return fmt.Errorf("vault exited: %s", v.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("vault not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the server and removes its temp dir. Safe to call twice.
func (v *Vault) Close() error {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Kill()
		<-v.exited
		v.cmd = nil
	}
	if v.dir == "" {
		return nil
	}
	err := os.RemoveAll(v.dir)
	v.dir = ""
	return err
}

// logTail returns the end of the server log, for error messages.
func (v *Vault) logTail() string {
	data, err := os.ReadFile(filepath.Join(v.dir, "vault.log"))
	if err != nil {
		return "(no vault log: " + err.Error() + ")"
	}
	return "--- vault log (tail) ---\n" + tail(data, 3000)
}

// httpClient trusts only the test CA.
func (v *Vault) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CACertPEM)
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
	}
}

// Client returns a client with the root token.
func (v *Vault) Client() (*api.Client, error) { return v.newClient(v.RootToken) }

// NewClient returns a client with the given token ("" for none, e.g. to log in).
func (v *Vault) NewClient(token string) (*api.Client, error) { return v.newClient(token) }

// newClient builds the api.Config explicitly rather than from
// api.DefaultConfig, which reads VAULT_* from the process environment. (The
// api.NewClient constructor still reads VAULT_TOKEN, VAULT_NAMESPACE and
// VAULT_HEADERS, so those are reset afterwards.)
func (v *Vault) newClient(token string) (*api.Client, error) {
	c, err := api.NewClient(&api.Config{
		Address:    v.Addr,
		HttpClient: v.httpClient(),
		Timeout:    30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	c.ClearNamespace()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	if token == "" {
		c.ClearToken()
	} else {
		c.SetToken(token)
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// configure sets up mounts, auth methods, policies and the JWT key through
// the HTTP API, as an operator would.
func (v *Vault) configure() error {
	c, err := v.Client()
	if err != nil {
		return err
	}
	sys := c.Sys()
	mounts := map[string]*api.MountInput{
		MountKV2:     {Type: "kv", Options: map[string]string{"version": "2"}},
		MountKV1:     {Type: "kv", Options: map[string]string{"version": "1"}},
		MountTransit: {Type: "transit"},
	}
	for path, in := range mounts {
		if err := sys.Mount(path, in); err != nil {
			return fmt.Errorf("mount %s: %w", path, err)
		}
	}
	for _, auth := range []string{AuthAppRole, AuthJWT, AuthUserpass} {
		if err := sys.EnableAuthWithOptions(auth, &api.EnableAuthOptions{Type: auth}); err != nil {
			return fmt.Errorf("enable auth %s: %w", auth, err)
		}
	}
	for name, rules := range policies {
		if err := sys.PutPolicy(name, rules); err != nil {
			return fmt.Errorf("policy %s: %w", name, err)
		}
	}

	// JWT auth verifies tokens against a public key we hold the private half
	// of, so tests can mint tokens as a CI OIDC provider would.
	v.jwtKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pub, err := publicKeyPEM(&v.jwtKey.PublicKey)
	if err != nil {
		return err
	}
	_, err = c.Logical().Write("auth/"+AuthJWT+"/config", map[string]any{
		"jwt_validation_pubkeys": []string{pub},
		"bound_issuer":           JWTIssuer,
	})
	if err != nil {
		return fmt.Errorf("jwt config: %w", err)
	}
	// A KV v2 mount answers "upgrading" briefly after it is enabled.
	return v.waitKV2(c)
}

func (v *Vault) waitKV2(c *api.Client) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.Logical().Write(MountKV2+"/data/vaultenv-ready", map[string]any{"data": map[string]any{"ok": true}})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kv v2 not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
