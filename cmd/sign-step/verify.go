package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/sign"
)

func (a *app) verifyCommand() *cobra.Command {
	var signers []string
	var outputDir, output string
	var allowUnsignedDigests bool
	var systems verifySystemFlags
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
		RunE: a.withCI(func(cmd *cobra.Command, args []string) (*ci.Result, error) {
			if err := a.useOutput(output); err != nil {
				return nil, err
			}
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			if systems.active() {
				return a.verifySystems(ctx, args, systems, sign.VerifyRequest{Signers: signers, AllowUnsignedDigests: allowUnsignedDigests}, outputDir)
			}
			reg, trust, err := a.readClients(ctx, args...)
			if err != nil {
				return nil, err
			}
			arts := a.artifacts(outputDir)
			if err := arts.Prepare(); err != nil {
				return nil, err
			}
			verified, err := a.useCases(reg, trust).Verify(ctx, sign.VerifyRequest{Refs: args, Signers: signers, AllowUnsignedDigests: allowUnsignedDigests})
			if verified == nil {
				return nil, err // nothing was checked
			}
			rep := sign.VerifyReport{Command: "verify", Refs: verified}
			if output == outputJSON {
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
		}),
	}
	cmd.Flags().StringArrayVar(&signers, "signer", nil, "require that this signer (delegation name) signed the digest; repeatable")
	cmd.Flags().StringVar(&outputDir, "output-dir", "", "where to write verify.json and verify.env (default as for sign)")
	cmd.Flags().BoolVar(&allowUnsignedDigests, "allow-unsigned-digests", false, "docker's rule for @sha256: references: pass when the registry has the manifest, reading no trust data (so a digest nobody signed passes, and a tag next to the digest is ignored); not with --signer")
	addOutputFlag(cmd, &output)
	systems.add(cmd.Flags())
	return cmd
}
