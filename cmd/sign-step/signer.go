package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

func (a *app) signerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "signer", Short: "Add or remove signers (targets/<name> and targets/releases), as docker trust signer does"}
	cmd.AddCommand(a.signerAddCommand(), a.signerRemoveCommand())
	return cmd
}

func (a *app) signerAddCommand() *cobra.Command {
	var k keyFlags
	var pubRef string
	cmd := &cobra.Command{
		Use:   "add NAME --public-key PEM REPOSITORY...",
		Short: "Add a signer's public key to repositories (needs each repository's targets key)",
		Args:  cobra.MinimumNArgs(2),
		RunE: a.runE(func(ctx context.Context, args []string) error {
			return a.runSignerAdd(ctx, k, pubRef, args[0], args[1:])
		}),
	}
	k.add(cmd, "repository (targets) key")
	cmd.Flags().StringVar(&pubRef, "public-key", "", "the signer's public key or certificate (PEM, env://, file:// or path)")
	return cmd
}

func (a *app) runSignerAdd(ctx context.Context, k keyFlags, pubRef, name string, repos []string) error {
	if pubRef == "" {
		return usageErrorf("--public-key is required")
	}
	pub, _, err := a.resolver().ResolvePEM(ctx, flagLabel("public-key"), pubRef, secrets.PublicPEM)
	if err != nil {
		return err
	}
	admin, guns, err := a.signerAdmin(ctx, k, repos)
	if err != nil {
		return err
	}
	done, err := admin.AddSigner(ctx, name, pub, guns)
	for _, c := range done {
		fmt.Fprintf(a.stdout, "added signer %s (key %s) to %s\n", name, c.KeyID, c.GUN)
	}
	return err
}

func (a *app) signerRemoveCommand() *cobra.Command {
	var k keyFlags
	cmd := &cobra.Command{
		Use:   "remove NAME REPOSITORY...",
		Short: "Remove a signer from repositories; tags only it signed become unsigned",
		Args:  cobra.MinimumNArgs(2),
		RunE:  a.runE(func(ctx context.Context, args []string) error { return a.runSignerRemove(ctx, k, args[0], args[1:]) }),
	}
	k.add(cmd, "repository (targets) key")
	return cmd
}

func (a *app) runSignerRemove(ctx context.Context, k keyFlags, name string, repos []string) error {
	admin, guns, err := a.signerAdmin(ctx, k, repos)
	if err != nil {
		return err
	}
	done, err := admin.RemoveSigner(ctx, name, guns)
	for _, c := range done {
		fmt.Fprintf(a.stdout, "removed signer %s from %s\n", name, c.GUN)
	}
	return err
}

// signerAdmin is the admin use cases with --key's keys, and the
// repositories checked before anything changes.
func (a *app) signerAdmin(ctx context.Context, k keyFlags, repos []string) (*sign.Admin, []string, error) {
	_, trust, err := a.keyedClients(ctx, k, repos...)
	if err != nil {
		return nil, nil, err
	}
	guns, err := repoNames(repos)
	if err != nil {
		return nil, nil, err
	}
	return a.admin(trust), guns, nil
}
