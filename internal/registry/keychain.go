package registry

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/sign-step/sign-step/internal/core"
)

// Login is a username and password given to sign-step for some registries
// (flags, NOTARY_AUTH), as opposed to docker's config.json.
type Login struct {
	Username string
	Password core.Secret
}

// BoundKeychain answers each registry host in logins with its login and
// every other registry with fallback (docker's config.json, or anonymous).
// A login thus reaches only the hosts it was given for and the token realms
// they name, never a registry a --source reference or a redirect points at.
// Hosts match as docker's config.json keys do: exactly, port included,
// case-insensitively, with docker.io, index.docker.io and
// registry-1.docker.io as one host.
func BoundKeychain(logins map[string]Login, fallback authn.Keychain) authn.Keychain {
	k := boundKeychain{logins: make(map[string]Login, len(logins)), fallback: fallback}
	for host, l := range logins {
		k.logins[CanonicalHost(host)] = l
	}
	return k
}

type boundKeychain struct {
	logins   map[string]Login
	fallback authn.Keychain
}

func (k boundKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if l, ok := k.logins[CanonicalHost(target.RegistryStr())]; ok {
		return &authn.Basic{Username: l.Username, Password: string(l.Password)}, nil
	}
	return k.fallback.Resolve(target)
}

// CanonicalHost is the key BoundKeychain matches registry hosts by.
func CanonicalHost(host string) string {
	host = strings.ToLower(host)
	switch host {
	case core.DockerHub, "index.docker.io", "registry-1.docker.io":
		return core.DockerHub
	}
	return host
}

// explainSource is explain for the --source registry, whose login is not
// the destination's.
func explainSource(src core.Ref, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return core.Classedf(core.ClassRegistry, "source registry %s refused %s (%d): check --source-username/--source-password or docker login", src.Registry, src.Name(), terr.StatusCode)
	}
	return explain(src, err)
}
