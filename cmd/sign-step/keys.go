package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/keys"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/sign"
)

// keyFlags are --key/--passphrase as every writing command takes them.
type keyFlags struct {
	keys       []string
	passphrase string
}

func (k *keyFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringArrayVar(&k.keys, "key", nil, what+": inline PEM, env://VAR, file://PATH or a path; repeatable; add the snapshot key where the repository keeps it on the client, as notary init does (default $SIGN_STEP_KEY)")
	cmd.Flags().StringVar(&k.passphrase, "passphrase", "", "passphrase of the keys: env://VAR, file://PATH or the value (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
}

// keyLoader resolves key references, Vault Transit keys included.
func (a *app) keyLoader() *keys.Loader {
	return &keys.Loader{Resolver: a.resolver(), Vault: a.vaultSession, Label: flagLabel}
}

// admin wires the admin use cases over the notary client trust.
func (a *app) admin(trust *notary.Client) *sign.Admin {
	return &sign.Admin{Trust: notary.AdminPort{Client: trust}, Keys: notary.KeyMaker{}, Files: keys.Files{}}
}

// keyedClients are the clients of a command that writes with --key's keys.
func (a *app) keyedClients(ctx context.Context, k keyFlags, refs ...string) (*registry.Registry, *notary.Client, error) {
	kr, err := a.loadKeys(ctx, k.keys, k.passphrase, "")
	if err != nil {
		return nil, nil, err
	}
	return a.clients(ctx, kr, refs...)
}

// repoNames checks every repository reference before anything changes.
func repoNames(refs []string) ([]string, error) {
	guns := make([]string, len(refs))
	for i, r := range refs {
		gun, err := repoName(r)
		if err != nil {
			return nil, err
		}
		guns[i] = gun
	}
	return guns, nil
}

func repoName(s string) (string, error) {
	r, err := core.ParseRef(s)
	if err != nil {
		return "", err
	}
	if r.Tag != "" || r.Digest != "" {
		return "", usageErrorf("give a repository, not a tag: %s", s)
	}
	return r.Name(), nil
}
