package secrets

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/testenv/vaultenv"
)

// The real Vault is started on first use (not in -short runs) and stopped
// by TestMain.
var (
	vaultOnce sync.Once
	vaultSrv  *vaultenv.Vault
	vaultErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if vaultSrv != nil {
		vaultSrv.Close()
	}
	os.Exit(code)
}

func realVault(t *testing.T) *vaultenv.Vault {
	t.Helper()
	if testing.Short() {
		t.Skip("real Vault: not in -short runs")
	}
	vaultOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a cold build takes minutes
		defer cancel()
		vaultSrv, vaultErr = vaultenv.Start(ctx)
	})
	if vaultErr != nil {
		t.Fatal(vaultErr)
	}
	return vaultSrv
}

// recorder is a Masker that remembers what it was given.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Mask(v string) { r.mu.Lock(); r.got = append(r.got, v); r.mu.Unlock() }
func (r *recorder) has(v string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g == v {
			return true
		}
	}
	return false
}

// token returns the Vault token that was masked (the login token).
func (r *recorder) token() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if strings.HasPrefix(g, "hvs.") {
			return g
		}
	}
	return ""
}

// counter counts requests per method and path.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[req.Method+" "+req.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *counter) get(key string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.n[key] }

func transportFor(v *vaultenv.Vault) http.RoundTripper {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(v.CACertPEM)
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

// readToken makes a token with the CI read policy (and the deny carve-out).
func readToken(t *testing.T, v *vaultenv.Vault) string {
	t.Helper()
	tok, err := v.ReadToken()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newTestVault(t *testing.T, v *vaultenv.Vault, auth VaultAuth, m *recorder, rt http.RoundTripper) *Vault {
	t.Helper()
	if rt == nil {
		rt = transportFor(v)
	}
	vs, err := NewVault(VaultOptions{Addr: v.Addr, Transport: rt, Auth: auth, Masker: m, Creds: &Resolver{Masker: m, Getenv: func(string) string { return "" }}})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func name(t *testing.T) string {
	return strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + fmt.Sprint(time.Now().UnixNano()%100000)
}

func TestVaultKVv1v2VersionsAndCache(t *testing.T) {
	t.Parallel()
	v := realVault(t)
	n := name(t)
	key := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nline-one-" + n + "\nline-two-" + n + "\n-----END ENCRYPTED PRIVATE KEY-----\n"
	if err := v.PutKV2("ci/"+n, map[string]any{"key": "old-" + n, "passphrase": "pass-old-" + n}); err != nil {
		t.Fatal(err)
	}
	if err := v.PutKV2("ci/"+n, map[string]any{"key": key, "passphrase": "pass-" + n, "registry": "registry.example.com", "username": "ci-bot-" + n}); err != nil {
		t.Fatal(err)
	}
	if err := v.PutKV1("ci/"+n, map[string]any{"passphrase": "kv1-" + n}); err != nil {
		t.Fatal(err)
	}
	m := &recorder{}
	cnt := &counter{next: transportFor(v)}
	vs := newTestVault(t, v, VaultAuth{Method: VaultToken, Token: readToken(t, v)}, m, cnt)
	r := &Resolver{Vault: vs, Masker: m}
	ctx := context.Background()
	for ref, want := range map[string]string{
		"vault://secret/ci/" + n + "#key":                  key,
		"vault://secret/ci/" + n + "#passphrase":           "pass-" + n,
		"vault://secret/data/ci/" + n + "#passphrase":      "pass-" + n,
		"vault://secret/ci/" + n + "?version=1#passphrase": "pass-old-" + n,
		"vault://secret/ci/" + n + "#key?version=1":        "old-" + n,
		"vault://kv1/ci/" + n + "#passphrase":              "kv1-" + n,
	} {
		got, origin, err := r.Resolve(ctx, ref, KeyOrPath)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if string(got) != want || origin != ref {
			t.Errorf("%s = %q from %q, want %q", ref, got, origin, want)
		}
	}
	// Every field read is masked, each line of a PEM too; the fields not
	// read are not (a registry: field would hide every reference).
	for _, s := range []string{key, "line-one-" + n, "line-two-" + n, "pass-" + n, "pass-old-" + n, "kv1-" + n} {
		if !m.has(s) {
			t.Errorf("%q was not masked", s)
		}
	}
	for _, s := range []string{"registry.example.com", "ci-bot-" + n} {
		if m.has(s) {
			t.Errorf("%q was masked, but no reference reads it", s)
		}
	}
	// One read per path and version, one mount lookup per path as given.
	if got := cnt.get("GET /v1/secret/data/ci/" + n); got != 2 {
		t.Errorf("secret/data/ci/%s read %d times, want 2 (latest and version 1)", n, got)
	}
	if got := cnt.get("GET /v1/kv1/ci/" + n); got != 1 {
		t.Errorf("kv1/ci/%s read %d times, want 1", n, got)
	}
	if got := cnt.get("GET /v1/sys/internal/ui/mounts/secret/ci/" + n); got != 1 {
		t.Errorf("mount lookups for secret/ci/%s: %d, want 1", n, got)
	}
	if err := vs.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVaultErrorsNamePathNotValue(t *testing.T) {
	t.Parallel()
	v := realVault(t)
	n := name(t)
	if err := v.PutKV2("ci/"+n, map[string]any{"key": "value-" + n}); err != nil {
		t.Fatal(err)
	}
	if err := v.PutKV2(vaultenv.DeniedKV2Path+"/"+n, map[string]any{"key": "denied-" + n}); err != nil {
		t.Fatal(err)
	}
	if err := v.PutKV1(vaultenv.DeniedKV1Path+"/"+n, map[string]any{"key": "denied1-" + n}); err != nil {
		t.Fatal(err)
	}
	m := &recorder{}
	tok := readToken(t, v)
	vs := newTestVault(t, v, VaultAuth{Method: VaultToken, Token: tok}, m, nil)
	r := &Resolver{Vault: vs, Masker: m}
	cases := map[string][]string{
		"vault://secret/ci/denied/" + n + "#key":    {"secret/data/ci/denied/" + n, "permission denied"},
		"vault://kv1/ci/denied/" + n + "#key":       {"kv1/ci/denied/" + n, "permission denied"},
		"vault://secret/ci/" + n + "#nokey":         {"secret/data/ci/" + n, `no field "nokey"`, "its fields: key"},
		"vault://secret/ci/missing-" + n + "#key":   {"no secret at secret/data/ci/missing-" + n, "KV v2 mount secret/"},
		"vault://secret/ci/" + n + "?version=9#key": {"no secret at secret/data/ci/" + n, "version 9"},
		"vault://kv1/ci/" + n + "?version=2#key":    {"?version= needs KV v2", "KV v1"},
		"vault://nomount/ci/" + n + "#key":          {"nomount/ci/" + n},
		"vault://secret/ci/" + n:                    {"no field"},
		"vault://secret/#key":                       {"KV v2 mount, not a secret"},
		"vault://secret/data/vaultenv-ready#ok":     {"permission denied", "secret/data/vaultenv-ready"},
		"vault-transit://transit/signer":            {"never leaves Vault", "accepted by --key"},
	}
	for ref, wants := range cases {
		_, _, err := r.Resolve(context.Background(), ref, Literal)
		t.Logf("%s: %v", ref, err)
		if err == nil {
			t.Errorf("%s: no error", ref)
			continue
		}
		if c := core.ClassOf(err); c != core.ClassSecrets {
			t.Errorf("%s: class %d, want %d (secrets): %v", ref, c, core.ClassSecrets, err)
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", ref, err, w)
			}
		}
		for _, secret := range []string{"value-" + n, "denied-" + n, "denied1-" + n, tok} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error shows a secret: %v", ref, err)
			}
		}
	}
	// A given token is never revoked.
	if err := vs.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !v.TokenValid(tok) {
		t.Error("the user's token was revoked")
	}
}

// TestVaultLogins logs in with each method, reads, and checks the token is
// masked and revoked at Close (or kept with KeepToken).
func TestVaultLogins(t *testing.T) {
	t.Parallel()
	v := realVault(t)
	n := name(t)
	if err := v.PutKV2("ci/"+n, map[string]any{"passphrase": "p-" + n}); err != nil {
		t.Fatal(err)
	}
	policy := vaultenv.PolicyRead + "," + vaultenv.PolicyDeny
	roleID, secretID, err := v.AppRole(policy)
	if err != nil {
		t.Fatal(err)
	}
	user, pass, err := v.UserPass(policy)
	if err != nil {
		t.Fatal(err)
	}
	aud := "https://vault.example/" + n
	role, err := v.JWTRole(policy, aud, map[string]string{"repository": "sign-step/sign-step"})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := v.MintJWT(aud, map[string]any{"repository": "sign-step/sign-step"})
	if err != nil {
		t.Fatal(err)
	}
	k8sRole, k8sJWT := kubernetesLikeMount(t, v, policy)
	k8sFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(k8sFile, []byte(k8sJWT+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var minted atomic.Int32
	cases := map[string]struct {
		auth    VaultAuth
		idToken IDTokenFunc
		keep    bool
	}{
		"approle":  {auth: VaultAuth{Method: VaultAppRole, RoleID: roleID, SecretID: secretID}},
		"userpass": {auth: VaultAuth{Method: VaultUserpass, Username: user, Password: pass}},
		"jwt":      {auth: VaultAuth{Method: VaultJWT, Role: role, JWT: jwt}},
		"jwt-minted": {auth: VaultAuth{Method: VaultJWT, Role: role, JWTAudience: aud}, idToken: func(_ context.Context, a string) (string, error) {
			minted.Add(1)
			return v.MintJWT(a, map[string]any{"repository": "sign-step/sign-step"})
		}},
		"kubernetes":      {auth: VaultAuth{Method: VaultKubernetes, Role: k8sRole, KubernetesTokenPath: k8sFile}},
		"approle-kept":    {auth: VaultAuth{Method: VaultAppRole, RoleID: roleID, SecretID: secretID}, keep: true},
		"userpass-mount/": {auth: VaultAuth{Method: VaultUserpass, Mount: "/userpass/", Username: user, Password: pass}},
	}
	for label, c := range cases {
		t.Run(label, func(t *testing.T) {
			m := &recorder{}
			vs, err := NewVault(VaultOptions{Addr: v.Addr, Transport: transportFor(v), Auth: c.auth, Masker: m, KeepToken: c.keep, IDToken: c.idToken,
				Creds: &Resolver{Masker: m, Getenv: func(string) string { return "" }}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := vs.Read(context.Background(), "vault://secret/ci/"+n+"#passphrase")
			if err != nil || string(got) != "p-"+n {
				t.Fatalf("read: %q, %v", got, err)
			}
			tok := m.token()
			if tok == "" || !v.TokenValid(tok) {
				t.Fatalf("login token not masked or not valid (masked %d values)", len(m.got))
			}
			if err := vs.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if v.TokenValid(tok) == !c.keep {
				t.Errorf("token valid after Close = %v, want %v", !c.keep, c.keep)
			}
			if _, err := vs.Read(context.Background(), "vault://secret/ci/"+n+"#passphrase"); err == nil {
				t.Error("read after Close worked")
			}
		})
	}
	if minted.Load() != 1 {
		t.Errorf("IDToken called %d times, want 1", minted.Load())
	}
}

// kubernetesLikeMount enables a JWT auth method at auth/kubernetes that trusts
// vaultenv's JWT key: the kubernetes method posts {role, jwt} there exactly as
// to a real Kubernetes auth mount (which would need a token reviewer).
func kubernetesLikeMount(t *testing.T, v *vaultenv.Vault, policy string) (role, jwt string) {
	t.Helper()
	c, err := v.Client()
	if err != nil {
		t.Fatal(err)
	}
	k8sOnce.Do(func() {
		cfg, err := c.Logical().Read("auth/" + vaultenv.AuthJWT + "/config")
		if err != nil {
			k8sErr = err
			return
		}
		if err := c.Sys().EnableAuthWithOptions("kubernetes", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
			k8sErr = err
			return
		}
		_, k8sErr = c.Logical().Write("auth/kubernetes/config", map[string]any{
			"jwt_validation_pubkeys": cfg.Data["jwt_validation_pubkeys"],
			"bound_issuer":           vaultenv.JWTIssuer,
		})
	})
	if k8sErr != nil {
		t.Fatal(k8sErr)
	}
	role = "sa-" + name(t)
	if _, err := c.Logical().Write("auth/kubernetes/role/"+role, map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"https://kubernetes.default.svc"},
		"token_policies": policy, "token_ttl": "10m",
	}); err != nil {
		t.Fatal(err)
	}
	jwt, err = v.MintJWT("https://kubernetes.default.svc", map[string]any{"sub": "system:serviceaccount:ci:signer"})
	if err != nil {
		t.Fatal(err)
	}
	return role, jwt
}

var (
	k8sOnce sync.Once
	k8sErr  error
)

func TestVaultLoginErrors(t *testing.T) {
	t.Parallel()
	v := realVault(t)
	roleID, _, err := v.AppRole(vaultenv.PolicyRead)
	if err != nil {
		t.Fatal(err)
	}
	user, _, err := v.UserPass(vaultenv.PolicyRead)
	if err != nil {
		t.Fatal(err)
	}
	for label, c := range map[string]struct {
		auth  VaultAuth
		class core.Class
		wants []string
	}{
		"bad secret id":  {VaultAuth{Method: VaultAppRole, RoleID: roleID, SecretID: "not-the-secret-id-1234"}, core.ClassSecrets, []string{"Vault login (approle at auth/approle/login)", "invalid"}},
		"bad password":   {VaultAuth{Method: VaultUserpass, Username: user, Password: "not-the-password-1234"}, core.ClassSecrets, []string{"auth/userpass/login/" + user, "invalid"}},
		"bad token":      {VaultAuth{Method: VaultToken, Token: "hvs.not-a-token-1234"}, core.ClassSecrets, []string{"permission denied"}},
		"jwt no token":   {VaultAuth{Method: VaultJWT, Role: "r"}, core.ClassUsage, []string{"--vault-jwt"}},
		"k8s no file":    {VaultAuth{Method: VaultKubernetes, Role: "r", KubernetesTokenPath: "/nonexistent/token"}, core.ClassSecrets, []string{"/nonexistent/token"}},
		"token env gone": {VaultAuth{Method: VaultToken, Token: "env://NO_SUCH_VAR"}, core.ClassSecrets, []string{"NO_SUCH_VAR"}},
	} {
		m := &recorder{}
		vs := newTestVault(t, v, c.auth, m, nil)
		_, err := vs.Read(context.Background(), "vault://secret/ci/x#y")
		t.Logf("%s: %v", label, err)
		if err == nil {
			t.Errorf("%s: no error", label)
			continue
		}
		if got := core.ClassOf(err); got != c.class {
			t.Errorf("%s: class %d, want %d: %v", label, got, c.class, err)
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", label, err, w)
			}
		}
		for _, s := range []string{"not-the-secret-id-1234", "not-the-password-1234", "hvs.not-a-token-1234"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error shows a credential: %v", label, err)
			}
		}
	}
}

// TestVaultIgnoresProcessEnv: VAULT_TOKEN and VAULT_NAMESPACE in the process
// environment (which api.NewClient reads) do not reach our requests.
func TestVaultIgnoresProcessEnv(t *testing.T) {
	v := realVault(t)
	t.Setenv("VAULT_TOKEN", v.RootToken)
	t.Setenv("VAULT_ADDR", "https://127.0.0.1:1")
	n := name(t)
	if err := v.PutKV2(vaultenv.DeniedKV2Path+"/"+n, map[string]any{"k": "v-" + n}); err != nil {
		t.Fatal(err)
	}
	user, pass, err := v.UserPass(vaultenv.PolicyRead + "," + vaultenv.PolicyDeny)
	if err != nil {
		t.Fatal(err)
	}
	vs := newTestVault(t, v, VaultAuth{Method: VaultUserpass, Username: user, Password: pass}, &recorder{}, nil)
	defer vs.Close(context.Background())
	_, err = vs.Read(context.Background(), "vault://secret/ci/denied/"+n+"#k")
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("want permission denied (our token, not VAULT_TOKEN's root), got %v", err)
	}
}

// TestVaultUnavailable: sealed, unreachable and untrusted servers are
// explained (no real Vault needed).
func TestVaultUnavailable(t *testing.T) {
	t.Parallel()
	sealed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"errors":["Vault is sealed"]}`)
	}))
	defer sealed.Close()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	defer untrusted.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for label, c := range map[string]struct {
		addr  string
		class core.Class
		want  string
	}{
		"sealed":      {sealed.URL, core.ClassSecrets, "Vault at " + sealed.URL + " is sealed"},
		"unreachable": {closed, core.ClassSecrets, "Vault at " + closed + " is unreachable"},
		"untrusted":   {untrusted.URL, core.ClassTLS, "--vault-ca"},
	} {
		vs, err := NewVault(VaultOptions{Addr: c.addr, Transport: http.DefaultTransport.(*http.Transport).Clone(), MaxRetries: -1, AllowHTTP: true,
			Auth: VaultAuth{Method: VaultAppRole, RoleID: "r-1234", SecretID: "s-12345678"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = vs.Read(context.Background(), "vault://secret/ci/x#y")
		t.Logf("%s: %v", label, err)
		if err == nil {
			t.Errorf("%s: no error", label)
			continue
		}
		if got := core.ClassOf(err); got != c.class {
			t.Errorf("%s: class %d, want %d: %v", label, got, c.class, err)
		}
		if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s-12345678") {
			t.Errorf("%s: %q should say %q and not show the secret ID", label, err, c.want)
		}
	}
}

func TestNewVaultChecksConfig(t *testing.T) {
	for label, c := range map[string]struct {
		o    VaultOptions
		want string
	}{
		"no addr":      {VaultOptions{Auth: VaultAuth{Token: "t"}}, "--vault-addr"},
		"bad addr":     {VaultOptions{Addr: "vault:8200", Auth: VaultAuth{Token: "t"}}, "invalid Vault address"},
		"no token":     {VaultOptions{Addr: "https://v"}, "--vault-token"},
		"approle":      {VaultOptions{Addr: "https://v", Auth: VaultAuth{Method: "approle", RoleID: "x"}}, "--vault-secret-id"},
		"jwt no role":  {VaultOptions{Addr: "https://v", Auth: VaultAuth{Method: "jwt"}}, "--vault-role"},
		"userpass":     {VaultOptions{Addr: "https://v", Auth: VaultAuth{Method: "userpass", Password: "x"}}, "--vault-username"},
		"unknown":      {VaultOptions{Addr: "https://v", Auth: VaultAuth{Method: "github"}}, "unknown --vault-method"},
		"kubernetes":   {VaultOptions{Addr: "https://v", Auth: VaultAuth{Method: "kubernetes"}}, "--vault-role"},
		"vault scheme": {VaultOptions{Addr: "vault://x", Auth: VaultAuth{Token: "t"}}, "invalid Vault address"},
	} {
		_, err := NewVault(c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) || core.ClassOf(err) != core.ClassUsage {
			t.Errorf("%s: %v, want a usage error saying %q", label, err, c.want)
		}
	}
	var ve *core.ClassError
	_, _, err := (&Resolver{}).Resolve(context.Background(), "vault://secret/x#y", Literal)
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "--vault-addr") {
		t.Errorf("no Vault configured: %v", err)
	}
}
