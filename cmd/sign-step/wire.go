package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
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

// registryTransport builds the registries' transport from --registry-ca and
// docker's tls/<host>/ directory; their upload-start POSTs may be retried
// like idempotent requests.
func (a *app) registryTransport(ctx context.Context) (http.RoundTripper, error) {
	p := a.retryPolicy()
	p.SafeToRepeat = httpx.UploadStart
	// A manifest is read whole inside the round trip, as notary metadata
	// is, so a connection cut mid-body is retried; blobs stream.
	manifests := func(rt http.RoundTripper) http.RoundTripper {
		return httpx.BufferBodiesOf(rt, 16<<20, func(req *http.Request) bool {
			return req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/manifests/")
		})
	}
	return a.transportPolicy(ctx, a.common.registryCA, manifests, p)
}

// transportWith is transport with inner wrapping the traced transport,
// inside the retries.
func (a *app) transportWith(ctx context.Context, caRefs []string, inner func(http.RoundTripper) http.RoundTripper) (http.RoundTripper, error) {
	return a.transportPolicy(ctx, caRefs, inner, a.retryPolicy())
}

func (a *app) transportPolicy(ctx context.Context, caRefs []string, inner func(http.RoundTripper) http.RoundTripper, policy httpx.RetryPolicy) (http.RoundTripper, error) {
	cfg := httpx.TLSConfig{}
	if dir := a.dockerConfigDir(); dir != "" {
		cfg.CertsDir = filepath.Join(dir, "tls")
	}
	for _, ref := range caRefs {
		pem, _, err := a.resolver().ResolvePEM(ctx, "a CA certificate (--registry-ca or --notary-ca)", ref, secrets.PublicPEM)
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
	return httpx.Retry(traced, policy), nil
}

func (a *app) retryPolicy() httpx.RetryPolicy {
	p := httpx.DefaultRetry
	p.Attempts = a.common.retries
	return p
}

// clients builds the registry and notary adapters for a run on refs
// (references or repositories): the login flags go to their registries only.
func (a *app) clients(ctx context.Context, keys *notary.Keyring, refs ...string) (*registry.Registry, *notary.Client, error) {
	return a.clientsFor(ctx, keys, loginRoute{destinations: refs})
}

// readClients are the clients of a command that only reads refs: its
// notary token asks for "pull" only, as docker's do.
func (a *app) readClients(ctx context.Context, refs ...string) (*registry.Registry, *notary.Client, error) {
	return a.clientsFor(ctx, &notary.Keyring{}, loginRoute{destinations: refs, readOnly: true})
}

// clientsFor is clients with the logins routed by route (and extra
// registry options, e.g. sign's push progress).
func (a *app) clientsFor(ctx context.Context, keys *notary.Keyring, route loginRoute, extra ...registry.Option) (*registry.Registry, *notary.Client, error) {
	insecure, err := registry.ParseInsecure(a.common.insecureRegistry)
	if err != nil {
		return nil, nil, err
	}
	regRT, err := a.registryTransport(ctx)
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
	kc, err := a.keychain(ctx, route)
	if err != nil {
		return nil, nil, err
	}
	warn := a.warnings.Add
	if route.quiet {
		warn = func(string) {}
	}
	reg := registry.New(append([]registry.Option{registry.WithTransport(regRT), registry.WithKeychain(kc), registry.WithUserAgent(a.userAgent()),
		registry.WithInsecure(insecure), registry.WithRealmPolicy(a.realmPolicy())}, extra...)...)
	opts := []notary.Option{notary.WithTransport(notaryRT), notary.WithKeys(keys),
		notary.WithCredentials(notaryCredentials(kc)), notary.WithUserAgent(a.userAgent()), notary.WithLogger(a.log),
		notary.WithWarnings(warn), notary.WithClock(a.now),
		notary.WithRealmPolicy(a.realmPolicy()), notary.WithAccess(notaryAccess(route.readOnly))}
	if pins := a.common.pinRoot; len(route.pinRoot) > 0 {
		opts = append(opts, notary.WithRootPin(route.pinRoot))
	} else if len(pins) > 0 {
		opts = append(opts, notary.WithRootPin(pins))
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
	if err := checkNotaryServers(nc, route.destinations); err != nil {
		return nil, nil, err // before the registry or any server is asked
	}
	return reg, nc, nil
}

// useCases wires the use cases over the registry and trust adapters.
func (a *app) useCases(reg sign.Registry, trust sign.Trust) *sign.UseCases {
	return &sign.UseCases{Registry: reg, Trust: trust, Log: a.log}
}

// checkNotaryServers refuses, in one line, refs whose notary would be
// docker.io's retired default, instead of a network error later. Refs that
// do not parse are left to the command, which reports them.
func checkNotaryServers(nc *notary.Client, refs []string) error {
	for _, ref := range refs {
		r, err := core.ParseRef(ref)
		if err != nil {
			continue
		}
		if err := nc.CheckServer(r.Name()); err != nil {
			return err
		}
	}
	return nil
}
