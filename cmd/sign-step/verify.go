package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/sign"
)

type verifyFlags struct {
	signers              []string
	outputDir, output    string
	allowUnsignedDigests bool
	systems              verifySystemFlags
}

func (a *app) verifyCommand() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify [--signer NAME]... IMAGE[:TAG][@DIGEST]...",
		Short: "Enforce content trust for deploy gates: resolve each tag through trust data as docker did",
		Long: `verify resolves each tag exactly as DOCKER_CONTENT_TRUST=1 docker pull did
(targets/releases, then targets) and prints REF@sha256:... per ref. An unsigned tag
fails with docker's "No valid trust data for TAG". A digest is held to the same rule:
IMAGE:TAG@sha256:X passes only when TAG resolves to X, IMAGE@sha256:X only when some
tag resolves to X. --signer requires that the named signer signed that digest (for
IMAGE@sha256:X, under a tag that resolves to X).`,
		Args: cobra.ArbitraryArgs,
		RunE: a.ciRunE(func(ctx context.Context, args []string) (*ci.Result, error) { return a.runVerify(ctx, f, args) }),
	}
	cmd.Flags().StringArrayVar(&f.signers, "signer", nil, "require that this signer (delegation name) signed the digest; repeatable")
	cmd.Flags().StringVar(&f.outputDir, "output-dir", "", "where to write verify.json and verify.env (default as for sign)")
	cmd.Flags().BoolVar(&f.allowUnsignedDigests, "allow-unsigned-digests", false, "docker's rule for @sha256: references: pass when the registry has the manifest, reading no trust data (so a digest nobody signed passes, and a tag next to the digest is ignored); not with --signer")
	addOutputFlag(cmd, &f.output)
	f.systems.add(cmd.Flags())
	return cmd
}

func (a *app) runVerify(ctx context.Context, f verifyFlags, args []string) (*ci.Result, error) {
	if err := a.useOutput(f.output); err != nil {
		return nil, err
	}
	if f.systems.active() {
		return a.verifySystems(ctx, args, f.systems, sign.VerifyRequest{Signers: f.signers, AllowUnsignedDigests: f.allowUnsignedDigests}, f.outputDir, f.output)
	}
	reg, trust, err := a.readClients(ctx, args...)
	if err != nil {
		return nil, err
	}
	arts := a.artifacts(f.outputDir)
	if err := arts.Prepare(); err != nil {
		return nil, err
	}
	verified, err := a.useCases(reg, trust).Verify(ctx, sign.VerifyRequest{Refs: args, Signers: f.signers, AllowUnsignedDigests: f.allowUnsignedDigests})
	if verified == nil {
		return nil, err // nothing was checked
	}
	rep := sign.VerifyReport{Command: "verify", Refs: verified}
	if f.output == outputJSON {
		if perr := a.printJSON(rep); perr != nil && err == nil {
			err = perr
		}
	} else {
		for _, v := range verified {
			if v.Pinned != "" {
				fmt.Fprintln(a.stdout, v.Pinned)
			}
		}
	}
	if werr := arts.WriteJSON(sign.VerifyFile, rep); werr != nil {
		return nil, errors.Join(err, werr)
	}
	res := ci.VerifyResult(rep, arts.Path(), a.ciFiles("verify", arts.Path(), sign.VerifyFile, false))
	return &res, err
}
