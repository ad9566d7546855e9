package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/sign"
)

type initFlags struct {
	rootKey, rootPassphrase       string
	targetsKey, targetsPassphrase string
	targetsKeyOut                 string
}

func (a *app) initCommand() *cobra.Command {
	var f initFlags
	cmd := &cobra.Command{
		Use:   "init REPOSITORY --root-key K (--targets-key K | --targets-key-out FILE)",
		Short: "Initialize a repository in notary without a prompt (idempotent with the same root)",
		Long: `init creates the repository's trust data as docker does: the root key's x509
certificate (CN = repository, 10 years) in root.json, the repository (targets) key you
give or one generated for you, and snapshot and timestamp managed by the server.
Run again with the same root, it changes nothing and writes no file.
--targets-key-out must name a new file: the repository is read first, the key is
generated and written only when the repository is created, and an existing file or
symlink there is refused (exit code 2) before anything is published.`,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(ctx context.Context, args []string) error { return a.runInit(ctx, f, args[0]) }),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rootKey, "root-key", "", "root private key (PEM, env://, file:// or path)")
	fl.StringVar(&f.rootPassphrase, "root-passphrase", "", "root key passphrase (default $DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE)")
	fl.StringVar(&f.targetsKey, "targets-key", "", "repository (targets) private key to use")
	fl.StringVar(&f.targetsPassphrase, "targets-passphrase", "", "its passphrase, and the one a generated key is encrypted with (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
	fl.StringVar(&f.targetsKeyOut, "targets-key-out", "", "generate the repository key into this new file, encrypted (mode 0600), only when the repository is created; refused if the file exists")
	return cmd
}

func (a *app) runInit(ctx context.Context, f initFlags, repo string) error {
	ref, err := core.ParseRef(repo)
	if err != nil {
		return err
	}
	if ref.Tag != "" || ref.Digest != "" {
		return usageErrorf("init takes a repository, not a tag: %s", repo)
	}
	if f.targetsKey != "" && f.targetsKeyOut != "" {
		return usageErrorf("--targets-key and --targets-key-out exclude each other")
	}
	kl := a.keyLoader()
	req := sign.InitRequest{GUN: ref.Name(), TargetsOut: f.targetsKeyOut}
	root, err := kl.One(ctx, f.rootKey, f.rootPassphrase, "--root-key")
	if err != nil {
		return err
	}
	req.Root = root
	// Flags and keys are checked before the server.
	if f.targetsKey != "" {
		k, err := kl.One(ctx, f.targetsKey, f.targetsPassphrase, "--targets-key")
		if err != nil {
			return err
		}
		req.Targets = k
	} else if f.targetsKeyOut != "" {
		if req.TargetsPass, err = kl.Passphrase(ctx, f.targetsPassphrase); err != nil {
			return err
		}
	}
	_, trust, err := a.clients(ctx, &notary.Keyring{}, repo)
	if err != nil {
		return err
	}
	res, err := a.admin(trust).Init(ctx, req)
	switch {
	case err != nil:
		return err
	case res.Created:
		fmt.Fprintf(a.stdout, "initialized %s (root %s, repository key %s)\n", req.GUN, root.ID(), res.TargetsID)
	case req.TargetsOut != "":
		fmt.Fprintf(a.stdout, "%s is already initialized with this root key; changed nothing and did not write %s\n", req.GUN, req.TargetsOut)
	default:
		fmt.Fprintf(a.stdout, "%s is already initialized with this root key; changed nothing\n", req.GUN)
	}
	return nil
}
