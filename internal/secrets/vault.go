package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/sign-step/sign-step/internal/core"
)

// Vault auth methods.
const (
	VaultToken      = "token"
	VaultAppRole    = "approle"
	VaultJWT        = "jwt"
	VaultKubernetes = "kubernetes"
	VaultUserpass   = "userpass"
)

// VaultMethods lists the auth methods, in documentation order.
var VaultMethods = []string{VaultToken, VaultAppRole, VaultJWT, VaultKubernetes, VaultUserpass}

// DefaultKubernetesTokenPath is where Kubernetes mounts a pod's service-account token.
const DefaultKubernetesTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// VaultAuth says how to log in. Credentials are references (a value,
// env://VAR or file://PATH), resolved by VaultOptions.Creds only when a login
// is needed.
type VaultAuth struct {
	Method string // token (default), approle, jwt, kubernetes, userpass
	Mount  string // auth mount path; default: the method's name

	Token               string // token
	RoleID, SecretID    string // approle
	Role                string // jwt, kubernetes
	JWT                 string // jwt; empty: minted with IDToken
	JWTAudience         string // jwt: audience of the minted token
	KubernetesTokenPath string // kubernetes; default DefaultKubernetesTokenPath
	Username, Password  string // userpass
}

// IDTokenFunc mints the CI job's OIDC token for an audience (GitHub Actions:
// the ACTIONS_ID_TOKEN_REQUEST_URL endpoint).
type IDTokenFunc func(ctx context.Context, audience string) (string, error)

// VaultOptions configure a Vault source. Nothing is read from the process
// environment: the caller passes what the user configured.
type VaultOptions struct {
	Addr      string // https://vault.example.com:8200
	Namespace string
	// Transport carries every request (TLS roots, client certificate, traces).
	Transport http.RoundTripper
	Auth      VaultAuth
	// KeepToken leaves a token sign-step logged in for valid at Close
	// (--vault-revoke-token=false). A token given with method token is never revoked.
	KeepToken bool
	// Masker learns the login token and every field Read returns. Other
	// fields of a secret read (registry: or username: fields) are not
	// masked: they would turn references and artifacts into ***.
	Masker Masker
	// Creds resolves the credential references of Auth (it has no Vault).
	Creds *Resolver
	// IDToken mints an OIDC token when method jwt has no JWT; nil: none available.
	IDToken IDTokenFunc
	// Timeout bounds each request (default 30s); MaxRetries retries 5xx, 412
	// and connection errors (default 2) of every request but the login.
	Timeout    time.Duration
	MaxRetries int
	// AllowHTTP accepts an http:// address (--vault-allow-http, for a dev
	// server on loopback): logins, tokens and the keys read travel in clear.
	AllowHTTP bool
}

// Vault reads fields of Vault secrets for vault:// references. It logs in on
// first use, reads each path once, and revokes its own token at Close.
type Vault struct {
	opts VaultOptions

	mu       sync.Mutex
	client   *api.Client
	loginErr error
	ownToken bool                   // logged in by us: revoke at Close
	mounts   map[string]*mountInfo  // by path as given
	cache    map[string]*vaultEntry // by API path and version
	closed   bool
}

type mountInfo struct {
	path    string // "secret/"
	kv      int    // 1, 2, or 0 when not a KV mount (read as is)
	missing bool   // no mount matches the path
}

type vaultEntry struct {
	data map[string]any
	err  error
}

// NewVault checks the options; it does not contact Vault.
func NewVault(o VaultOptions) (*Vault, error) {
	if o.Addr == "" {
		return nil, core.Classedf(core.ClassUsage, "a vault:// reference needs a Vault address: pass --vault-addr or set VAULT_ADDR")
	}
	u, err := url.Parse(o.Addr)
	if strings.Contains(o.Addr, "@") || (err == nil && u.User != nil) {
		// Every message naming Vault would print a password.
		return nil, core.Classedf(core.ClassUsage, "a Vault address with credentials (user:password@) is refused and not shown: log in with a Vault auth method")
	}
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, core.Classedf(core.ClassUsage, "invalid Vault address %q: want https://HOST[:PORT]", o.Addr)
	}
	if u.Scheme == "http" && !o.AllowHTTP {
		return nil, core.Classedf(core.ClassUsage, "Vault address %s is plain http: the login, its token and every key read would travel in clear; use https, or pass --vault-allow-http for a development server", o.Addr)
	}
	if o.Auth.Method == "" {
		o.Auth.Method = VaultToken
	}
	if o.Auth.Mount == "" {
		o.Auth.Mount = o.Auth.Method
	}
	o.Auth.Mount = strings.Trim(o.Auth.Mount, "/")
	if err := o.Auth.check(); err != nil {
		return nil, err
	}
	if o.Auth.KubernetesTokenPath == "" {
		o.Auth.KubernetesTokenPath = DefaultKubernetesTokenPath
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 2
	}
	if o.Creds == nil {
		o.Creds = &Resolver{Masker: o.Masker}
	}
	return &Vault{opts: o, mounts: map[string]*mountInfo{}, cache: map[string]*vaultEntry{}}, nil
}

// check reports a missing credential for the method, naming its flag.
func (a VaultAuth) check() error {
	need := func(v, flag string) error {
		if v == "" {
			return core.Classedf(core.ClassUsage, "--vault-method %s needs %s", a.Method, flag)
		}
		return nil
	}
	switch a.Method {
	case VaultToken:
		return need(a.Token, "--vault-token (or VAULT_TOKEN)")
	case VaultAppRole:
		return errors.Join(need(a.RoleID, "--vault-role-id"), need(a.SecretID, "--vault-secret-id"))
	case VaultJWT, VaultKubernetes:
		return need(a.Role, "--vault-role")
	case VaultUserpass:
		return errors.Join(need(a.Username, "--vault-username"), need(a.Password, "--vault-password"))
	}
	return core.Classedf(core.ClassUsage, "unknown --vault-method %q: want one of %s", a.Method, strings.Join(VaultMethods, ", "))
}

// Read returns the field a vault:// reference names, masked (each line too)
// before Read returns.
func (v *Vault) Read(ctx context.Context, ref string) (core.Secret, error) {
	r, err := ParseVaultRef(ref)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, core.Classedf(core.ClassInternal, "resolving %s: the Vault session is closed", r)
	}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	apiPath, mount, err := v.apiPath(ctx, r)
	if err != nil {
		return nil, err
	}
	key := apiPath + "?" + strconv.Itoa(r.Version)
	e, ok := v.cache[key]
	if !ok {
		e = &vaultEntry{}
		e.data, e.err = v.read(ctx, r, apiPath, mount)
		v.cache[key] = e
	}
	if e.err != nil {
		return nil, e.err
	}
	return v.field(r, apiPath, e.data)
}

// field picks the field r names out of a secret read and masks it; only
// that field: the others stay in memory and are never printed.
func (v *Vault) field(r VaultRef, apiPath string, data map[string]any) (core.Secret, error) {
	val, ok := data[r.Field]
	if !ok {
		return nil, core.Classedf(core.ClassSecrets, "resolving %s: %s has no field %q (its fields: %s)", r, apiPath, r.Field, fieldNames(data))
	}
	s := valueString(val)
	if s == "" {
		return nil, core.Classedf(core.ClassSecrets, "resolving %s: field %q of %s is empty", r, r.Field, apiPath)
	}
	v.mask(s)
	return core.Secret(s), nil
}

// Close revokes the token sign-step logged in for, unless KeepToken. Safe to
// call when Vault was never used, and twice.
func (v *Vault) Close(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	if v.client == nil || !v.ownToken || v.opts.KeepToken {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := v.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		return core.Classedf(core.ClassSecrets, "revoking the Vault token (auth/%s): %s", v.opts.Auth.Mount, v.describe(err))
	}
	v.client.ClearToken()
	return nil
}

// newClient builds the api client from our options only. api.NewClient
// still reads VAULT_TOKEN, VAULT_NAMESPACE and VAULT_HEADERS from the process
// environment; each is reset right after.
func (v *Vault) newClient() (*api.Client, error) {
	hc := &http.Client{Transport: v.opts.Transport, Timeout: v.opts.Timeout}
	if hc.Transport == nil {
		hc.Transport = http.DefaultTransport
	}
	c, err := api.NewClient(&api.Config{
		Address:      v.opts.Addr,
		HttpClient:   hc,
		Timeout:      v.opts.Timeout,
		MaxRetries:   max(v.opts.MaxRetries, 0),
		MinRetryWait: 500 * time.Millisecond,
		MaxRetryWait: 1500 * time.Millisecond,
		CheckRetry:   api.DefaultRetryPolicy, // 5xx, 412 (token not yet on a standby), connection errors
	})
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "Vault client for %s: %w", v.opts.Addr, err)
	}
	c.ClearToken()
	c.ClearNamespace()
	c.SetHeaders(http.Header{api.RequestHeaderName: []string{"true"}})
	if v.opts.Namespace != "" {
		c.SetNamespace(v.opts.Namespace)
	}
	return c, nil
}

// login authenticates once; a failure is remembered.
func (v *Vault) login(ctx context.Context) error {
	if v.client != nil {
		return nil
	}
	if v.loginErr != nil {
		return v.loginErr
	}
	v.loginErr = v.doLogin(ctx)
	return v.loginErr
}

func (v *Vault) doLogin(ctx context.Context) error {
	c, err := v.newClient()
	if err != nil {
		return err
	}
	a := v.opts.Auth
	if a.Method == VaultToken {
		tok, err := v.cred(ctx, a.Token)
		if err != nil {
			return err
		}
		c.SetToken(strings.TrimSpace(string(tok)))
		v.client = c
		return nil
	}
	var path string
	body := map[string]any{}
	switch a.Method {
	case VaultAppRole:
		path = "auth/" + a.Mount + "/login"
		roleID, err := v.cred(ctx, a.RoleID)
		if err != nil {
			return err
		}
		secretID, err := v.cred(ctx, a.SecretID)
		if err != nil {
			return err
		}
		body["role_id"], body["secret_id"] = strings.TrimSpace(string(roleID)), strings.TrimSpace(string(secretID))
	case VaultJWT:
		path = "auth/" + a.Mount + "/login"
		jwt, err := v.jwt(ctx)
		if err != nil {
			return err
		}
		body["role"], body["jwt"] = a.Role, jwt
	case VaultKubernetes:
		path = "auth/" + a.Mount + "/login"
		jwt, err := v.cred(ctx, "file://"+a.KubernetesTokenPath)
		if err != nil {
			return err
		}
		body["role"], body["jwt"] = a.Role, strings.TrimSpace(string(jwt))
	case VaultUserpass:
		path = "auth/" + a.Mount + "/login/" + url.PathEscape(a.Username)
		pass, err := v.cred(ctx, a.Password)
		if err != nil {
			return err
		}
		body["password"] = string(pass)
	}
	// A login is never retried: if its answer is lost, a retry burns a
	// single-use AppRole secret ID and leaves the first token unrevoked.
	// Reads, which are idempotent, keep their retries.
	c.SetMaxRetries(0)
	s, err := c.Logical().WriteWithContext(ctx, path, body)
	c.SetMaxRetries(max(v.opts.MaxRetries, 0))
	if err != nil {
		return v.fail(err, fmt.Sprintf("Vault login (%s at %s)", a.Method, path))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return core.Classedf(core.ClassSecrets, "Vault login (%s at %s): the answer holds no token", a.Method, path)
	}
	v.mask(s.Auth.ClientToken)
	c.SetToken(s.Auth.ClientToken)
	v.client, v.ownToken = c, true
	return nil
}

// jwt is --vault-jwt, else a token minted by the CI system.
func (v *Vault) jwt(ctx context.Context) (string, error) {
	a := v.opts.Auth
	if a.JWT != "" {
		j, err := v.cred(ctx, a.JWT)
		return strings.TrimSpace(string(j)), err
	}
	if v.opts.IDToken == nil {
		return "", core.Classedf(core.ClassUsage, "--vault-method jwt needs --vault-jwt (a JWT, env://VAR or file://PATH; e.g. GitLab's id_tokens or GitHub's OIDC token)")
	}
	j, err := v.opts.IDToken(ctx, a.JWTAudience)
	if err != nil {
		return "", core.Classed(core.ClassSecrets, fmt.Errorf("minting the job's OIDC token for Vault (audience %q): %w", a.JWTAudience, err))
	}
	v.mask(j)
	return j, nil
}

func (v *Vault) cred(ctx context.Context, ref string) (core.Secret, error) {
	s, _, err := v.opts.Creds.Resolve(ctx, ref, Literal)
	return s, err
}

// apiPath finds the mount of r.Path (GET sys/internal/ui/mounts/<path>, as
// the vault CLI does) and returns the path to read: <mount>data/<rest> on
// KV v2 (secret/ci/dct and secret/data/ci/dct alike), the path itself
// elsewhere.
func (v *Vault) apiPath(ctx context.Context, r VaultRef) (string, *mountInfo, error) {
	m, ok := v.mounts[r.Path]
	if !ok {
		var err error
		if m, err = v.mount(ctx, r); err != nil {
			return "", nil, err
		}
		v.mounts[r.Path] = m
	}
	if m.kv != 2 {
		if r.Version > 0 {
			what := "KV v1"
			if m.kv == 0 {
				what = "not a KV v2 mount"
			}
			return "", nil, core.Classedf(core.ClassSecrets, "resolving %s: ?version= needs KV v2, and %s is %s", r, m.label(r.Path), what)
		}
		return r.Path, m, nil
	}
	rest := strings.TrimPrefix(r.Path+"/", m.path)
	rest = strings.TrimSuffix(rest, "/")
	rest = strings.TrimPrefix(rest, "data/")
	if rest == "" || rest == "data" {
		return "", nil, core.Classedf(core.ClassSecrets, "resolving %s: %s is a KV v2 mount, not a secret: write vault://%sPATH#FIELD", r, m.path, m.path)
	}
	return m.path + "data/" + rest, m, nil
}

func (m *mountInfo) label(p string) string {
	if m.path == "" {
		return p
	}
	return "mount " + m.path
}

func (v *Vault) mount(ctx context.Context, r VaultRef) (*mountInfo, error) {
	s, err := v.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+r.Path)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return &mountInfo{missing: true}, nil
		}
		if errors.As(err, &re) && re.StatusCode == http.StatusForbidden && strings.Contains(strings.Join(re.Errors, " "), "preflight") {
			return nil, core.Classedf(core.ClassSecrets, "resolving %s: permission denied on %s (no secrets engine is mounted there, or the token's policies allow nothing under it)", r, r.Path)
		}
		return nil, v.fail(err, "resolving "+r.String()+": looking up the mount of "+r.Path)
	}
	if s == nil || s.Data == nil {
		return &mountInfo{missing: true}, nil
	}
	m := &mountInfo{}
	m.path, _ = s.Data["path"].(string)
	typ, _ := s.Data["type"].(string)
	if typ == "kv" || typ == "generic" {
		m.kv = 1
		if opts, ok := s.Data["options"].(map[string]any); ok {
			if ver, _ := opts["version"].(string); ver == "2" {
				m.kv = 2
			}
		}
	}
	return m, nil
}

// read fetches one secret. Nothing is masked here: Read masks the field it returns.
func (v *Vault) read(ctx context.Context, r VaultRef, apiPath string, m *mountInfo) (map[string]any, error) {
	var q map[string][]string
	if r.Version > 0 {
		q = map[string][]string{"version": {strconv.Itoa(r.Version)}}
	}
	s, err := v.client.Logical().ReadWithDataWithContext(ctx, apiPath, q)
	if err != nil {
		return nil, v.fail(err, "resolving "+r.String()+": reading "+apiPath)
	}
	var data map[string]any
	if s != nil {
		data = s.Data
	}
	if m.kv == 2 && data != nil {
		inner, _ := data["data"].(map[string]any)
		if inner == nil {
			what := "is deleted or destroyed"
			if r.Version > 0 {
				what = "version " + strconv.Itoa(r.Version) + " is deleted or destroyed"
			}
			return nil, core.Classedf(core.ClassSecrets, "resolving %s: %s %s", r, apiPath, what)
		}
		data = inner
	}
	if data == nil {
		where := ""
		if m.missing {
			where = " (no secrets engine is mounted there)"
		} else if m.kv == 2 && r.Version > 0 {
			where = fmt.Sprintf(" (version %d, KV v2 mount %s)", r.Version, m.path)
		} else if m.kv > 0 {
			where = fmt.Sprintf(" (KV v%d mount %s)", m.kv, m.path)
		}
		return nil, core.Classedf(core.ClassSecrets, "resolving %s: no secret at %s%s", r, apiPath, where)
	}
	return data, nil
}

func (v *Vault) mask(s string) {
	if v.opts.Masker == nil || s == "" {
		return
	}
	(&Resolver{Masker: v.opts.Masker}).mask(s)
}

// fail turns an api error into a secrets error naming what was being done
// and what went wrong, without the response body's URL or any value.
func (v *Vault) fail(err error, doing string) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return core.Classedf(core.ClassSecrets, "%s: %s", doing, v.describe(err))
	}
	// Transport failures keep their cause (TLS and timeouts have their own exit codes).
	msg := fmt.Sprintf("Vault at %s is unreachable", v.opts.Addr)
	if core.IsCertificateError(err) {
		msg = fmt.Sprintf("TLS with Vault at %s failed: pass its CA with --vault-ca", v.opts.Addr)
	}
	return core.Classed(core.ClassSecrets, fmt.Errorf("%s: %s: %w", doing, msg, cause(err)))
}

func (v *Vault) describe(err error) string {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Sprintf("Vault at %s is unreachable: %v", v.opts.Addr, cause(err))
	}
	errs := strings.Join(re.Errors, "; ")
	if re.RawError {
		errs = "" // an unparsed body (a proxy's page); the status says enough
	}
	switch {
	case re.StatusCode == http.StatusForbidden && strings.Contains(errs, "permission denied"):
		return "permission denied (the token's policies do not allow it, or the token expired)"
	case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(errs, "sealed"):
		return fmt.Sprintf("Vault at %s is sealed", v.opts.Addr)
	case re.StatusCode == http.StatusNotFound:
		return "not found (HTTP 404)"
	}
	if errs == "" {
		errs = http.StatusText(re.StatusCode)
	}
	return fmt.Sprintf("Vault answered HTTP %d: %s", re.StatusCode, errs)
}

// cause drops url.Error's "Get URL:" prefix (the URL is named already).
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// valueString is a field's value as text: strings as they are, other JSON
// values encoded.
func valueString(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func fieldNames(data map[string]any) string {
	if len(data) == 0 {
		return "none"
	}
	names := make([]string, 0, len(data))
	for k := range data {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
