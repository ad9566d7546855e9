package registry_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/registry"
)

// configKeychain stands for docker's config.json: one login per host.
type configKeychain map[string]authn.Basic

func (k configKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if b, ok := k[r.RegistryStr()]; ok {
		return &b, nil
	}
	return authn.Anonymous, nil
}

func TestBoundKeychain(t *testing.T) {
	t.Parallel()
	dest := registry.Login{Username: "ci", Password: core.Secret("dest-pass")}
	src := registry.Login{Username: "reader", Password: core.Secret("src-pass")}
	kc := registry.BoundKeychain(map[string]registry.Login{
		"registry.example:5000": dest,
		"docker.io":             dest,
		"Mixed.Example":         dest,
		"source.example":        src,
	}, configKeychain{"config.example": {Username: "from-config", Password: "config-pass"}})

	tests := []struct {
		name     string
		resource string // a registry, or a repository (what ggcr resolves)
		user     string // "" for anonymous
		pass     string
	}{
		{"destination host", "registry.example:5000", "ci", "dest-pass"},
		{"destination repository", "registry.example:5000/team/app", "ci", "dest-pass"},
		{"same host, other port", "registry.example:5001", "", ""},
		{"same host, no port", "registry.example", "", ""},
		{"case of the host", "mixed.example", "ci", "dest-pass"},
		{"docker.io", "docker.io/library/nginx", "ci", "dest-pass"},
		{"index.docker.io alias", "index.docker.io/library/nginx", "ci", "dest-pass"},
		{"registry-1.docker.io alias", "registry-1.docker.io/library/nginx", "ci", "dest-pass"},
		{"source host", "source.example/img", "reader", "src-pass"},
		{"notary server host", "notary.example:4443", "", ""},
		{"other host, docker config", "config.example/x", "from-config", "config-pass"},
		{"other host, anonymous", "evil.example/x", "", ""},
		{"destination host in the path", "evil.example/registry.example/app", "", ""},
		{"destination name as a prefix", "registry.example.evil.example:5000/app", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var res authn.Resource
			var err error
			if reg, e := name.NewRegistry(tt.resource, name.StrictValidation); e == nil {
				res = reg
			} else if res, err = name.NewRepository(tt.resource, name.StrictValidation); err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(res)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tt.user || cfg.Password != tt.pass {
				t.Errorf("Resolve(%s) = %q/%q, want %q/%q", tt.resource, cfg.Username, cfg.Password, tt.user, tt.pass)
			}
		})
	}
}

// TestCredentialsForNotary checks the lookup the notary client makes: by
// the registry host of the GUN, as docker's GetNotaryRepository does.
func TestCredentialsForNotary(t *testing.T) {
	t.Parallel()
	kc := registry.BoundKeychain(map[string]registry.Login{"registry.example:5000": {Username: "ci", Password: core.Secret("p")}}, authn.NewMultiKeychain())
	creds := registry.Credentials(kc)
	tests := []struct{ host, user, pass string }{
		{"registry.example:5000", "ci", "p"},
		{"other.example", "", ""},
		{"not a host", "", ""},
	}
	for _, tt := range tests {
		if c, err := creds(tt.host); err != nil || c.Username != tt.user || c.Password != tt.pass {
			t.Errorf("Credentials(%q) = %q/%q, want %q/%q", tt.host, c.Username, c.Password, tt.user, tt.pass)
		}
	}
}
