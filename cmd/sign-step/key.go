package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/sign"
)

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Generate and rotate delegation keys"}
	cmd.AddCommand(a.keyGenerateCommand(), a.keyRotateCommand())
	return cmd
}

type keyGenerateFlags struct{ passphrase, out, pubOut string }

func (a *app) keyGenerateCommand() *cobra.Command {
	var f keyGenerateFlags
	cmd := &cobra.Command{
		Use:   "generate NAME --out FILE",
		Short: "Make an ECDSA P-256 delegation key in docker's format; prints the public key",
		Long: `generate writes the private key encrypted with the passphrase, in the PEM format
docker trust key generate writes (so docker trust key load and --key accept it), and
prints the public key PEM (docker's NAME.pub) for signer add. As docker refuses an
existing NAME.pub, it refuses (exit code 2) when --out or --pub-out names anything
that exists, a symlink included, and then writes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(ctx context.Context, args []string) error { return a.runKeyGenerate(ctx, f, args[0]) }),
	}
	cmd.Flags().StringVar(&f.passphrase, "passphrase", "", "passphrase the key is encrypted with (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
	cmd.Flags().StringVar(&f.out, "out", "", "private key file to create (mode 0600); refused if it exists")
	cmd.Flags().StringVar(&f.pubOut, "pub-out", "", "also create this public key file (mode 0644); refused if it exists")
	return cmd
}

func (a *app) runKeyGenerate(ctx context.Context, f keyGenerateFlags, name string) error {
	if f.out == "" {
		return usageErrorf("--out FILE is required: the private key is never printed")
	}
	pass, err := a.keyLoader().Passphrase(ctx, f.passphrase)
	if err != nil {
		return err
	}
	k, err := a.admin(nil).GenerateKey(ctx, sign.GenerateKeyRequest{Name: name, Pass: pass, Out: f.out, PubOut: f.pubOut})
	if err != nil {
		return err
	}
	a.log.Info("generated key", "name", name, "id", k.ID, "file", f.out)
	_, err = a.stdout.Write(k.PublicPEM)
	return err
}

type keyRotateFlags struct {
	keyFlags
	newKey, newPassphrase string
}

func (a *app) keyRotateCommand() *cobra.Command {
	var f keyRotateFlags
	cmd := &cobra.Command{
		Use:   "rotate NAME REPOSITORY --new-key K",
		Short: "Replace a signer's key; tags stay signed throughout",
		Long: `rotate adds the new key to targets/NAME and targets/releases, re-signs both roles
with it, then removes the old keys. Needs the repository (targets) key in --key.`,
		Args: cobra.ExactArgs(2),
		RunE: a.runE(func(ctx context.Context, args []string) error { return a.runKeyRotate(ctx, f, args[0], args[1]) }),
	}
	f.keyFlags.add(cmd, "repository (targets) key")
	cmd.Flags().StringVar(&f.newKey, "new-key", "", "the signer's new private key")
	cmd.Flags().StringVar(&f.newPassphrase, "new-passphrase", "", "its passphrase (default: --passphrase)")
	return cmd
}

func (a *app) runKeyRotate(ctx context.Context, f keyRotateFlags, name, repo string) error {
	gun, err := repoName(repo)
	if err != nil {
		return err
	}
	if f.newPassphrase == "" {
		f.newPassphrase = f.passphrase
	}
	newKey, err := a.keyLoader().One(ctx, f.newKey, f.newPassphrase, "--new-key")
	if err != nil {
		return err
	}
	kr, err := a.loadKeys(ctx, f.keys, f.passphrase, "")
	if err != nil {
		return err
	}
	kr.Add(newKey)
	_, trust, err := a.clients(ctx, kr, repo)
	if err != nil {
		return err
	}
	old, err := a.admin(trust).RotateKey(ctx, gun, name, newKey)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rotated signer %s of %s to key %s (removed %v)\n", name, gun, newKey.ID(), old)
	return nil
}
