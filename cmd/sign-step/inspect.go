package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/inspect"
	"github.com/sign-step/sign-step/internal/notary"
)

func (a *app) inspectCommand() *cobra.Command {
	var pretty bool
	cmd := &cobra.Command{
		Use:   "inspect [--pretty] IMAGE[:TAG]...",
		Short: "Print what `docker trust inspect` prints, byte for byte",
		Args:  cobra.MinimumNArgs(1),
		RunE:  a.runE(func(ctx context.Context, args []string) error { return a.runInspect(ctx, args, pretty) }),
	}
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

func (a *app) runInspect(ctx context.Context, refs []string, pretty bool) error {
	// docker prints nothing else: no warnings, stderr stays identical.
	_, trust, err := a.clientsFor(ctx, &notary.Keyring{}, loginRoute{destinations: refs, readOnly: true, quiet: true})
	if err != nil {
		return err
	}
	repos := make([]inspect.Repository, len(refs))
	for i, ref := range refs {
		repos[i] = trust.Inspect(ctx, ref)
	}
	format := inspect.JSON
	if pretty {
		format = inspect.Pretty
	}
	if err := format(a.stdout, repos); err != nil {
		// docker prints the per-ref errors to stderr and exits 1, whatever
		// the cause.
		a.stderr.Write([]byte(err.Error() + "\n"))
		return &silentError{err: err, code: 1}
	}
	return nil
}
