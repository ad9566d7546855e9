package main

import (
	"context"
	"net/http"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

func (a *app) userAgent() string { return "sign-step/" + version }

func (a *app) resolver() *secrets.Resolver {
	return &secrets.Resolver{Getenv: a.getenv, Masker: a.secrets, Vault: a.vaultReader()}
}

// dockerConfigDir is --docker-config, else ~/.docker as docker uses it.
func (a *app) dockerConfigDir() string {
	if a.common.dockerConfig != "" {
		return a.common.dockerConfig
	}
	if home := a.getenv("HOME"); home != "" {
		return filepath.Join(home, ".docker")
	}
	return ""
}

// transport builds one server kind's transport from its CA flags and
// docker's tls/<host>/ directory.
func (a *app) transport(ctx context.Context, caRefs []string) (http.RoundTripper, error) {
	return a.transportWith(ctx, caRefs, nil)
}

// transportWith is transport with inner wrapping the traced transport,
// inside the retries.
func (a *app) transportWith(ctx context.Context, caRefs []string, inner func(http.RoundTripper) http.RoundTripper) (http.RoundTripper, error) {
	cfg := httpx.TLSConfig{}
	if dir := a.dockerConfigDir(); dir != "" {
		cfg.CertsDir = filepath.Join(dir, "tls")
	}
	for _, ref := range caRefs {
		pem, _, err := a.resolver().ResolveFlag(ctx, "a CA certificate (--registry-ca or --notary-ca)", ref, secrets.KeyOrPath)
		if err != nil {
			return nil, err
		}
		cfg.CAPEM = append(cfg.CAPEM, pem)
	}
	rt, err := httpx.NewTransport(cfg)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	// Each try is traced; retries wrap the traced transport.
	traced := httpx.Debug(rt, a.log)
	if inner != nil {
		traced = inner(traced)
	}
	return httpx.Retry(traced, a.retryPolicy()), nil
}

func (a *app) retryPolicy() httpx.RetryPolicy {
	p := httpx.DefaultRetry
	p.Attempts = a.common.retries
	return p
}

// keychain is --registry-username/--registry-password, else docker's config.json.
func (a *app) keychain(ctx context.Context) (authn.Keychain, error) {
	if a.common.registryUsername != "" || a.common.registryPassword != "" {
		if a.common.registryUsername == "" || a.common.registryPassword == "" {
			return nil, usageErrorf("--registry-username and --registry-password go together")
		}
		pass, _, err := a.resolver().Resolve(ctx, a.common.registryPassword, secrets.Literal)
		if err != nil {
			return nil, err
		}
		return registry.StaticKeychain(a.common.registryUsername, pass), nil
	}
	if a.vault.f.notaryAuth != "" {
		return a.notaryAuthKeychain(ctx)
	}
	dir := a.dockerConfigDir()
	if dir == "" {
		return authn.NewMultiKeychain(), nil
	}
	return registry.DockerConfigKeychain(dir, registry.WithMask(a.secrets.Mask))
}

// clients builds the registry and notary adapters for one run.
func (a *app) clients(ctx context.Context, keys *notary.Keyring) (*registry.Registry, *notary.Client, error) {
	regRT, err := a.transport(ctx, a.common.registryCA)
	if err != nil {
		return nil, nil, err
	}
	// Notary metadata is small: read it whole inside the round trip so a
	// connection cut mid-body is retried like any other failure.
	notaryRT, err := a.transportWith(ctx, a.common.notaryCA, func(rt http.RoundTripper) http.RoundTripper {
		return httpx.BufferBodies(rt, 16<<20)
	})
	if err != nil {
		return nil, nil, err
	}
	kc, err := a.keychain(ctx)
	if err != nil {
		return nil, nil, err
	}
	reg := registry.New(registry.WithTransport(regRT), registry.WithKeychain(kc), registry.WithUserAgent(a.userAgent()))
	opts := []notary.Option{notary.WithTransport(notaryRT), notary.WithKeys(keys),
		notary.WithCredentials(registry.Credentials(kc)), notary.WithUserAgent(a.userAgent()),
		notary.WithWarnings(func(msg string) { a.warnings = append(a.warnings, msg) })}
	if len(a.common.pinRoot) > 0 {
		opts = append(opts, notary.WithRootPin(a.common.pinRoot))
	}
	if a.common.trustCache != "" {
		opts = append(opts, notary.WithTrustCache(a.common.trustCache))
	}
	if a.common.pinCA != "" {
		opts = append(opts, notary.WithCAPin(a.common.pinCA))
	}
	if a.common.notaryServer != "" {
		opts = append(opts, notary.WithServer(a.common.notaryServer))
	}
	nc, err := notary.New(opts...)
	if err != nil {
		return nil, nil, err
	}
	return reg, nc, nil
}

// signer wires the sign use case.
func (a *app) signer(reg sign.Registry, trust sign.Trust) *sign.Signer {
	return &sign.Signer{Registry: reg, Trust: trust, Log: a.log}
}
