package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/sign"
)

type revokeFlags struct {
	keyFlags
	yes       bool
	outputDir string
	output    string
}

func (a *app) revokeCommand() *cobra.Command {
	var f revokeFlags
	cmd := &cobra.Command{
		Use:   "revoke [--yes] IMAGE:TAG... | IMAGE...",
		Short: "Remove tags from every role our key signs (docker trust revoke); one publish per repository",
		Args:  needArgs("no image reference given"),
		RunE:  a.ciRunE(func(ctx context.Context, args []string) (*ci.Result, error) { return a.runRevoke(ctx, f, args) }),
	}
	f.keyFlags.add(cmd, "private key")
	cmd.Flags().BoolVar(&f.yes, "yes", false, "allow a repository reference to revoke all of its tags (command line only: SIGN_STEP_YES is never read)")
	commandLineOnly(cmd, "yes")
	cmd.Flags().StringVar(&f.outputDir, "output-dir", "", "where to write report.json and revoke.env (default as for sign)")
	addOutputFlag(cmd, &f.output)
	return cmd
}

func (a *app) runRevoke(ctx context.Context, f revokeFlags, args []string) (*ci.Result, error) {
	if err := a.useOutput(f.output); err != nil {
		return nil, err
	}
	reg, trust, err := a.keyedClients(ctx, f.keyFlags, args...)
	if err != nil {
		return nil, err
	}
	arts := a.artifacts(f.outputDir)
	if err := arts.Prepare(); err != nil {
		return nil, err // before anything is published
	}
	// A revoke that failed in one repository still reports the
	// repositories it did revoke: those revocations are live.
	revoked, err := a.useCases(reg, trust).Revoke(ctx, sign.RevokeRequest{Refs: args, All: f.yes})
	if err != nil && len(revoked) == 0 {
		return nil, err
	}
	rep := sign.NewRevokeReport(revoked)
	if f.output == outputJSON {
		if perr := a.printJSON(rep); perr != nil {
			return nil, errors.Join(err, perr)
		}
	} else {
		for _, r := range revoked {
			fmt.Fprintln(a.stdout, "revoked", r)
		}
	}
	if werr := arts.WriteJSON(sign.ReportFile, rep); werr != nil {
		return nil, errors.Join(err, werr)
	}
	res := ci.RevokeResult(rep, arts.Path(), a.ciFiles("revoke", arts.Path(), sign.ReportFile, false))
	return &res, err
}
