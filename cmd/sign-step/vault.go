package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

// vaultFlags are the --vault-* flags every command has.
type vaultFlags struct {
	addr, namespace       string
	ca                    []string
	clientCert, clientKey string
	method, mount         string
	token                 string
	roleID, secretID      string
	role                  string
	jwt, jwtAudience      string
	k8sTokenPath          string
	username, password    string
	revoke                bool
	secrets               string // vault-action syntax; expanded by applyEnv (vaultSecretFills)
	notaryAuth            string // --notary-auth: base64 user:password, as the notary CLI's NOTARY_AUTH
}

// vaultState is the run's Vault session, made on the first vault:// reference.
type vaultState struct {
	f   vaultFlags
	src *secrets.Vault
	err error
}

func (a *app) addVaultFlags(pf *pflag.FlagSet) {
	f := &a.vault.f
	pf.StringVar(&f.addr, "vault-addr", "", "Vault address for vault:// references (default $VAULT_ADDR)")
	pf.StringVar(&f.namespace, "vault-namespace", "", "Vault namespace (default $VAULT_NAMESPACE)")
	pf.StringArrayVar(&f.ca, "vault-ca", nil, "CA certificate (PEM, path, file:// or env://) trusted for Vault, on top of the system roots (default $VAULT_CACERT); repeatable")
	pf.StringVar(&f.clientCert, "vault-client-cert", "", "client certificate for Vault mTLS (PEM, path, file:// or env://)")
	pf.StringVar(&f.clientKey, "vault-client-key", "", "its private key (PEM, path, file:// or env://)")
	pf.StringVar(&f.method, "vault-method", "", "Vault auth method: token, approle, jwt, kubernetes, userpass (default: approle with --vault-role-id, userpass with --vault-username, jwt with --vault-jwt or --vault-role, else token)")
	pf.StringVar(&f.mount, "vault-mount", "", "auth mount path (default: the method's name)")
	pf.StringVar(&f.token, "vault-token", "", "Vault token for method token: value, env:// or file:// (default $VAULT_TOKEN)")
	pf.StringVar(&f.roleID, "vault-role-id", "", "AppRole role ID (value, env:// or file://)")
	pf.StringVar(&f.secretID, "vault-secret-id", "", "AppRole secret ID (value, env:// or file://)")
	pf.StringVar(&f.role, "vault-role", "", "Vault role for methods jwt and kubernetes")
	pf.StringVar(&f.jwt, "vault-jwt", "", "JWT for method jwt: value, env:// or file:// (e.g. a GitLab id_token)")
	pf.StringVar(&f.jwtAudience, "vault-jwt-audience", "", "audience of the OIDC token minted when --vault-jwt is not given")
	pf.StringVar(&f.k8sTokenPath, "vault-kubernetes-token-path", secrets.DefaultKubernetesTokenPath, "service-account token for method kubernetes")
	pf.StringVar(&f.username, "vault-username", "", "username for method userpass")
	pf.StringVar(&f.password, "vault-password", "", "password for method userpass (value, env:// or file://)")
	pf.BoolVar(&f.revoke, "vault-revoke-token", true, "revoke the token sign-step logged in for when the run ends (a --vault-token is never revoked)")
	pf.StringVar(&f.secrets, "vault-secrets", "", `Vault fields for inputs not otherwise given, vault-action syntax: "secret/ci/dct key | KEY ; secret/ci/dct passphrase | PASSPHRASE" (names: KEY, PASSPHRASE, ROOT_KEY, ROOT_PASSPHRASE, REGISTRY_PASSWORD, SOURCE_PASSWORD, NOTARY_AUTH)`)
	pf.StringVar(&f.notaryAuth, "notary-auth", "", "registry and notary credentials as the notary CLI's NOTARY_AUTH: base64 of user:password (value, env://, file:// or vault://), sent only to the registries of the references given and their notary server; used when --registry-username/--registry-password are not given")
}

// vaultSecretFlags maps each --vault-secrets name to the flags it fills.
var vaultSecretFlags = map[string][]string{
	"KEY":               {"key"},
	"PASSPHRASE":        {"passphrase", "targets-passphrase"},
	"ROOT_KEY":          {"root-key"},
	"ROOT_PASSPHRASE":   {"root-passphrase"},
	"REGISTRY_PASSWORD": {"registry-password"},
	"SOURCE_PASSWORD":   {"source-password"},
	"NOTARY_AUTH":       {"notary-auth"},
}

// vaultSecretFills turns --vault-secrets (or SIGN_STEP_VAULT_SECRETS) into a
// vault:// reference per flag. applyEnv uses them for flags given neither on
// the command line nor by SIGN_STEP_<FLAG>, before docker's variables.
func vaultSecretFills(cmd *cobra.Command, getenv func(string) string) (map[string]string, error) {
	f := cmd.Flags().Lookup("vault-secrets")
	if f == nil {
		return nil, nil
	}
	spec := f.Value.String()
	if !f.Changed {
		spec = getenv(envName(f.Name))
	}
	entries, err := secrets.ParseVaultSecrets(spec)
	if err != nil {
		return nil, err
	}
	fills := map[string]string{}
	for _, e := range entries {
		for _, flag := range vaultSecretFlags[e.Name] {
			fills[flag] = e.Ref.String()
		}
	}
	return fills, nil
}

// vaultReader reads vault:// references, opening the session on first use.
func (a *app) vaultReader() secrets.VaultReader { return vaultReader{a} }

type vaultReader struct{ a *app }

func (r vaultReader) Read(ctx context.Context, ref string) (sign.Secret, error) {
	v, err := r.a.vaultSession(ctx)
	if err != nil {
		return nil, err
	}
	return v.Read(ctx, ref)
}

// vaultSession is the run's Vault session, opened on first use.
func (a *app) vaultSession(ctx context.Context) (*secrets.Vault, error) {
	v := &a.vault
	if v.src == nil && v.err == nil {
		v.src, v.err = a.openVault(ctx)
	}
	return v.src, v.err
}

// credsResolver resolves Vault's own credentials and TLS material: every
// scheme but vault://.
func (a *app) credsResolver() *secrets.Resolver {
	return &secrets.Resolver{Getenv: a.getenv, Masker: a.secrets}
}

func (a *app) openVault(ctx context.Context) (*secrets.Vault, error) {
	f := a.vault.f
	cfg := httpx.TLSConfig{}
	creds := a.credsResolver()
	for _, ref := range f.ca {
		pem, _, err := creds.ResolvePEM(ctx, flagLabel("vault-ca"), ref, secrets.PublicPEM)
		if err != nil {
			return nil, err
		}
		cfg.CAPEM = append(cfg.CAPEM, pem)
	}
	if f.clientCert != "" || f.clientKey != "" {
		if f.clientCert == "" || f.clientKey == "" {
			return nil, usageErrorf("--vault-client-cert and --vault-client-key go together")
		}
		certPEM, _, err := creds.ResolvePEM(ctx, flagLabel("vault-client-cert"), f.clientCert, secrets.PublicPEM)
		if err != nil {
			return nil, err
		}
		keyPEM, _, err := creds.ResolvePEM(ctx, flagLabel("vault-client-key"), f.clientKey, secrets.PrivatePEM)
		if err != nil {
			return nil, err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, usageErrorf("--vault-client-cert/--vault-client-key: %v", err)
		}
		cfg.ClientCert = &pair
	}
	rt, err := httpx.NewTransport(cfg)
	if err != nil {
		return nil, usageErrorf("--vault-ca: %v", err)
	}
	method := f.method
	if method == "" {
		switch {
		case f.roleID != "" || f.secretID != "":
			method = secrets.VaultAppRole
		case f.username != "":
			method = secrets.VaultUserpass
		case f.jwt != "" || f.role != "":
			method = secrets.VaultJWT
		default:
			method = secrets.VaultToken
		}
	}
	a.log.Debug("vault", "addr", f.addr, "method", method)
	// The Vault client retries by itself (5xx, 412, connection errors), so
	// the transport is traced but not wrapped in httpx.Retry; --retries
	// bounds those retries (of reads: a login is never retried).
	return secrets.NewVault(secrets.VaultOptions{
		Addr:      f.addr,
		Namespace: f.namespace,
		Transport: httpx.Debug(rt, a.log),
		Auth: secrets.VaultAuth{
			Method: method, Mount: f.mount,
			Token:  f.token,
			RoleID: f.roleID, SecretID: f.secretID,
			Role: f.role, JWT: f.jwt, JWTAudience: f.jwtAudience,
			KubernetesTokenPath: f.k8sTokenPath,
			Username:            f.username, Password: f.password,
		},
		KeepToken: !f.revoke,
		Masker:    a.secrets,
		Creds:     creds,
		IDToken:   a.ciIDToken(),

		MaxRetries: cmp.Or(a.common.retries, -1), // 0 would mean Vault's default
	})
}

// ciIDToken mints the CI job's OIDC token for method jwt without
// --vault-jwt: on GitHub Actions, the job's token for --vault-jwt-audience.
// Elsewhere (GitLab id_tokens, Jenkins) the token comes in --vault-jwt.
func (a *app) ciIDToken() secrets.IDTokenFunc {
	if ci.Detect(a.getenv) != ci.GitHub {
		return nil
	}
	mint := ci.GitHubIDToken(a.getenv, nil)
	return func(ctx context.Context, audience string) (string, error) {
		token, err := mint(ctx, audience)
		if err == nil {
			a.secrets.Mask(token) // before anything could print it
		}
		return token, err
	}
}

// closeVault ends the Vault session when the run ends, success or failure:
// the token sign-step logged in for is revoked. A failed revocation is a
// warning; it does not change the run's result.
func (a *app) closeVault(ctx context.Context, runErr error) error {
	if a.vault.src == nil {
		return runErr
	}
	if err := a.vault.src.Close(ctx); err != nil {
		a.log.Warn(err.Error())
	}
	return runErr
}

// notaryAuthLogin is --notary-auth (base64 user:password): sign-step
// gives the notary server the registry's credentials, so these serve both.
func (a *app) notaryAuthLogin(ctx context.Context) (*registry.Login, error) {
	v, _, err := a.resolver().Resolve(ctx, a.vault.f.notaryAuth, secrets.Literal)
	if err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(v)))
	if err != nil {
		return nil, sign.Classedf(sign.ClassSecrets, "--notary-auth: not base64 of user:password")
	}
	a.secrets.Mask(string(raw))
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || pass == "" {
		return nil, sign.Classedf(sign.ClassSecrets, "--notary-auth: not base64 of user:password")
	}
	a.secrets.Mask(pass)
	return &registry.Login{Username: user, Password: sign.Secret(pass)}, nil
}
