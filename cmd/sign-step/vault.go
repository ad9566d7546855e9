package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
)

// vaultFlags are the --vault-* flags every command has.
type vaultFlags struct {
	addr, namespace       string
	allowHTTP             bool
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

// vaultState is the --vault-* flags and the run's Vault session, made on
// the first vault:// reference.
type vaultState struct {
	f       vaultFlags
	session *secrets.Session
}

func (a *app) addVaultFlags(pf *pflag.FlagSet) {
	f := &a.vault.f
	pf.StringVar(&f.addr, "vault-addr", "", "Vault address for vault:// references (default $VAULT_ADDR)")
	pf.BoolVar(&f.allowHTTP, "vault-allow-http", false, "accept a plain http:// Vault address (a development server): the login, its token and every key read travel in clear")
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

func (r vaultReader) Read(ctx context.Context, ref string) (core.Secret, error) {
	v, err := r.a.vaultSession(ctx)
	if err != nil {
		return nil, err
	}
	return v.Read(ctx, ref)
}

// vaultSession is the run's Vault session, logged in on first use.
func (a *app) vaultSession(ctx context.Context) (*secrets.Vault, error) {
	if a.vault.session == nil {
		f := a.vault.f
		a.vault.session = secrets.NewSession(secrets.SessionOptions{
			Addr: f.addr, Namespace: f.namespace, CA: f.ca, ClientCert: f.clientCert, ClientKey: f.clientKey,
			Method: f.method, Mount: f.mount, Token: f.token, RoleID: f.roleID, SecretID: f.secretID,
			Role: f.role, JWT: f.jwt, JWTAudience: f.jwtAudience, KubernetesTokenPath: f.k8sTokenPath,
			Username: f.username, Password: f.password, Revoke: f.revoke, Retries: a.common.retries, AllowHTTP: f.allowHTTP,
			// Vault's own credentials and TLS material: every scheme but vault://.
			Creds: &secrets.Resolver{Getenv: a.getenv, Masker: a.secrets},
			Label: flagLabel, Masker: a.secrets, IDToken: a.ciIDToken(), Log: a.log,
		})
	}
	return a.vault.session.Vault(ctx)
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
	if a.vault.session == nil {
		return runErr
	}
	if err := a.vault.session.Close(ctx); err != nil {
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
	user, pass, err := secrets.ParseNotaryAuth(v, a.secrets)
	if err != nil {
		return nil, err
	}
	return &registry.Login{Username: user, Password: pass}, nil
}
