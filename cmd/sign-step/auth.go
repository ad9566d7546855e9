package main

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/registry"
)

// authState is how sign-step logs in beyond the credentials themselves.
type authState struct {
	allowRealms []string // --allow-token-realm
}

func (a *app) addAuthFlags(pf *pflag.FlagSet) {
	pf.StringSliceVar(&a.auth.allowRealms, "allow-token-realm", nil,
		"allow a registry or notary server to send its login to a token service on this private IP (HOST or HOST:PORT); repeatable. Without it only token realms on a public address, a DNS name or the server's own host (any port) are used")
}

// realmPolicy is the token-realm policy both the registry and the notary
// client apply.
func (a *app) realmPolicy() httpx.RealmPolicy {
	var allowed []string
	for _, h := range a.auth.allowRealms {
		if h = strings.TrimSpace(h); h != "" {
			allowed = append(allowed, h)
		}
	}
	return httpx.RealmPolicy{Allowed: allowed}
}

// notaryAccess is the scope a command's notary token asks for: pull only
// for a command that only reads (inspect, verify), as docker's do.
func notaryAccess(readOnly bool) notary.Access {
	if readOnly {
		return notary.Read
	}
	return notary.Write
}

// notaryCredentials hands the notary client the keychain's login for a
// registry host, identity tokens included.
func notaryCredentials(kc authn.Keychain) notary.Credentials {
	creds := registry.Credentials(kc)
	return func(host string) (notary.Credential, error) {
		c, err := creds(host)
		return notary.Credential{Username: c.Username, Password: c.Password, IdentityToken: c.IdentityToken}, err
	}
}
