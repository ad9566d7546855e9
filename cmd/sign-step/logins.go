package main

import (
	"context"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
)

// loginRoute says which registries the run's logins go to.
type loginRoute struct {
	// destinations are the references the run signs or reads: the
	// --registry-username/--registry-password (or --notary-auth) login goes
	// to their registry hosts, and through them to their notary server,
	// which docker also answers with the registry's login.
	destinations []string
	source       string      // sign --source
	sourceLogin  sourceLogin // its own login
	pinRoot      []string    // the root pins of these references, when not --pin-root (a policy statement's)
	readOnly     bool        // the command only reads: notary tokens ask for pull only
	quiet        bool        // drop the notary client's warnings (inspect prints as docker does)
}

// sourceLogin is sign's --source-username/--source-password.
type sourceLogin struct {
	username, password string
}

func (s *sourceLogin) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&s.username, "source-username", "", "username for the --source registry, when it is not a destination (default: docker config.json and credential helpers, else anonymous)")
	fl.StringVar(&s.password, "source-password", "", "password or token for the --source registry (value, env://, file:// or vault://)")
}

// keychain binds each login to its registries: the destination login to
// the destination hosts, the source login to the source host. Every other
// registry gets docker's config.json and credential helpers, or anonymous.
func (a *app) keychain(ctx context.Context, route loginRoute) (authn.Keychain, error) {
	fallback, err := a.dockerKeychain()
	if err != nil {
		return nil, err
	}
	dest, err := a.destinationLogin(ctx)
	if err != nil {
		return nil, err
	}
	logins := map[string]registry.Login{}
	destHosts := map[string]bool{}
	for _, ref := range route.destinations {
		// A reference that does not parse fails the command on its own.
		if r, err := core.ParseRef(ref); err == nil {
			destHosts[registry.CanonicalHost(r.Registry)] = true
			if dest != nil {
				logins[r.Registry] = *dest
			}
		}
	}
	src := route.sourceLogin
	if src.username != "" || src.password != "" {
		if src.username == "" || src.password == "" {
			return nil, usageErrorf("--source-username and --source-password go together")
		}
		host, ok := sourceRegistry(route.source)
		if !ok {
			return nil, usageErrorf("--source-username: --source is not a registry reference")
		}
		if destHosts[registry.CanonicalHost(host)] {
			// One registry, one login: a second one would also serve the
			// pushes, or be silently ignored.
			return nil, usageErrorf("--source-username: the source registry %s is also a destination; its login is --registry-username/--registry-password or docker login", host)
		}
		pass, _, err := a.resolver().Resolve(ctx, src.password, secrets.Literal)
		if err != nil {
			return nil, err
		}
		logins[host] = registry.Login{Username: src.username, Password: pass}
	}
	if len(logins) == 0 {
		return fallback, nil
	}
	return registry.BoundKeychain(logins, fallback), nil
}

// destinationLogin is --registry-username/--registry-password, else
// --notary-auth; nil when neither is given.
func (a *app) destinationLogin(ctx context.Context) (*registry.Login, error) {
	if a.common.registryUsername != "" || a.common.registryPassword != "" {
		if a.common.registryUsername == "" || a.common.registryPassword == "" {
			return nil, usageErrorf("--registry-username and --registry-password go together")
		}
		pass, _, err := a.resolver().Resolve(ctx, a.common.registryPassword, secrets.Literal)
		if err != nil {
			return nil, err
		}
		return &registry.Login{Username: a.common.registryUsername, Password: pass}, nil
	}
	if a.vault.f.notaryAuth != "" {
		return a.notaryAuthLogin(ctx)
	}
	return nil, nil
}

// dockerKeychain is docker's config.json and credential helpers.
func (a *app) dockerKeychain() (authn.Keychain, error) {
	dir := a.dockerConfigDir()
	if dir == "" {
		return authn.NewMultiKeychain(), nil
	}
	return registry.DockerConfigKeychain(dir, a.getenv("PATH"), registry.WithMask(a.secrets.Mask))
}

// sourceRegistry is the registry host of a --source that is a registry
// reference, as registry.Push reads it: an existing file or directory is
// a local image.
func sourceRegistry(source string) (string, bool) {
	if source == "" {
		return "", false
	}
	if _, err := os.Stat(strings.TrimPrefix(source, "oci:")); err == nil {
		return "", false
	}
	r, err := core.ParseRef(source)
	if err != nil {
		return "", false
	}
	return r.Registry, true
}
