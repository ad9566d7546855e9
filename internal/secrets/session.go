package secrets

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
)

// SessionOptions are the --vault-* flags: where Vault is and how to log in.
type SessionOptions struct {
	Addr, Namespace       string
	CA                    []string // references (PEM, path, file://, env://)
	ClientCert, ClientKey string   // references, for mTLS
	Method, Mount         string   // Method "" is chosen from the credentials given (AuthMethod)
	Token                 string
	RoleID, SecretID      string
	Role                  string
	JWT, JWTAudience      string
	KubernetesTokenPath   string
	Username, Password    string
	Revoke                bool // revoke the token logged in for when the session closes
	Retries               int  // of reads; 0 none
	AllowHTTP             bool // --vault-allow-http: accept an http:// address

	Creds   *Resolver                // resolves Vault's own credentials and TLS material (no vault://)
	Label   func(flag string) string // names a flag in errors: "--vault-ca (or VAULT_CACERT)"
	Masker  Masker
	IDToken IDTokenFunc
	Log     *slog.Logger
}

// AuthMethod is the method given, else the one the credentials given
// imply: approle with a role or secret ID, userpass with a username, jwt
// with a JWT or role, else token.
func (o SessionOptions) AuthMethod() string {
	switch {
	case o.Method != "":
		return o.Method
	case o.RoleID != "" || o.SecretID != "":
		return VaultAppRole
	case o.Username != "":
		return VaultUserpass
	case o.JWT != "" || o.Role != "":
		return VaultJWT
	}
	return VaultToken
}

// Session is a run's Vault session: opened (logged in) on first use,
// closed once at the end of the run.
type Session struct {
	opts SessionOptions
	mu   sync.Mutex
	v    *Vault
	err  error
}

// NewSession is a session that logs in with o when first used.
func NewSession(o SessionOptions) *Session { return &Session{opts: o} }

// Vault is the logged-in client; the first call logs in, and a failed
// login is the error of every later call.
func (s *Session) Vault(ctx context.Context) (*Vault, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v == nil && s.err == nil {
		s.v, s.err = s.open(ctx)
	}
	return s.v, s.err
}

// Read reads a vault:// reference (VaultReader).
func (s *Session) Read(ctx context.Context, ref string) (core.Secret, error) {
	v, err := s.Vault(ctx)
	if err != nil {
		return nil, err
	}
	return v.Read(ctx, ref)
}

// Close ends the session if it was opened: the token logged in for is
// revoked unless the options keep it.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v == nil {
		return nil
	}
	return s.v.Close(ctx)
}

func (s *Session) label(flag string) string {
	if s.opts.Label == nil {
		return "--" + flag
	}
	return s.opts.Label(flag)
}

func (s *Session) open(ctx context.Context) (*Vault, error) {
	o := s.opts
	creds := o.Creds
	if creds == nil {
		creds = &Resolver{Masker: o.Masker}
	}
	cfg := httpx.TLSConfig{}
	for _, ref := range o.CA {
		pem, _, err := creds.ResolvePEM(ctx, s.label("vault-ca"), ref, PublicPEM)
		if err != nil {
			return nil, err
		}
		cfg.CAPEM = append(cfg.CAPEM, pem)
	}
	if o.ClientCert != "" || o.ClientKey != "" {
		if o.ClientCert == "" || o.ClientKey == "" {
			return nil, core.Classedf(core.ClassUsage, "--vault-client-cert and --vault-client-key go together")
		}
		certPEM, _, err := creds.ResolvePEM(ctx, s.label("vault-client-cert"), o.ClientCert, PublicPEM)
		if err != nil {
			return nil, err
		}
		keyPEM, _, err := creds.ResolvePEM(ctx, s.label("vault-client-key"), o.ClientKey, PrivatePEM)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, core.Classedf(core.ClassUsage, "--vault-client-cert/--vault-client-key: %w", err)
		}
		cfg.ClientCert = &pair
	}
	rt, err := httpx.NewTransport(cfg)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "--vault-ca: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	method := o.AuthMethod()
	log.Debug("vault", "addr", o.Addr, "method", method)
	// The Vault client retries by itself (5xx, 412, connection errors), so
	// the transport is traced but not wrapped in httpx.Retry; Retries
	// bounds those retries (of reads: a login is never retried).
	var traced http.RoundTripper = httpx.Debug(rt, log)
	return NewVault(VaultOptions{
		Addr:      o.Addr,
		Namespace: o.Namespace,
		Transport: traced,
		Auth: VaultAuth{
			Method: method, Mount: o.Mount,
			Token:  o.Token,
			RoleID: o.RoleID, SecretID: o.SecretID,
			Role: o.Role, JWT: o.JWT, JWTAudience: o.JWTAudience,
			KubernetesTokenPath: o.KubernetesTokenPath,
			Username:            o.Username, Password: o.Password,
		},
		KeepToken: !o.Revoke,
		Masker:    o.Masker,
		Creds:     creds,
		IDToken:   o.IDToken,

		MaxRetries: cmp.Or(o.Retries, -1), // 0 would mean Vault's default
		AllowHTTP:  o.AllowHTTP,
	})
}

// ParseNotaryAuth decodes the notary CLI's NOTARY_AUTH, base64 of
// user:password; the decoded value and the password are masked before
// anything could print them.
func ParseNotaryAuth(v core.Secret, m Masker) (user string, pass core.Secret, err error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(v)))
	if err != nil {
		return "", nil, core.Classedf(core.ClassSecrets, "--notary-auth: not base64 of user:password")
	}
	if m != nil {
		m.Mask(string(raw))
	}
	user, p, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || p == "" {
		return "", nil, core.Classedf(core.ClassSecrets, "--notary-auth: not base64 of user:password")
	}
	if m != nil {
		m.Mask(p)
	}
	return user, core.Secret(p), nil
}
