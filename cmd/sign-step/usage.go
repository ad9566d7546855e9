package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/core"
)

// usageArgs makes every argument error of root's commands a usage error
// (exit 2): cobra's Args validators and its unknown-command check return
// plain errors, which would exit 1, the code of a bug. A command that only
// groups others (root, signer, key) refuses an unknown subcommand instead of
// printing its help and exiting 0.
func usageArgs(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		check := c.Args
		if !c.Runnable() {
			check = unknownCommand
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		if check == nil {
			return
		}
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &argsError{cmd: cmd, err: err}
			}
			return nil
		}
	}
	walk(root)
}

// unknownCommand is the Args check of a command that only groups others.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	cmd.SuggestionsMinimumDistance = 2
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return errors.New(msg + "; commands: " + strings.Join(names, ", "))
}

// argsError is a usage error about a command's positional arguments, which
// the action takes from its tags input.
type argsError struct {
	cmd *cobra.Command
	err error
}

func (e *argsError) Error() string {
	if e.unknown() {
		return e.err.Error()
	}
	return fmt.Sprintf("%v: usage: %s", e.err, e.cmd.UseLine())
}

func (e *argsError) unknown() bool { return strings.HasPrefix(e.err.Error(), "unknown command") }

func (e *argsError) Unwrap() error { return &core.ClassError{Class: core.ClassUsage, Err: e.err} }

// needArgs is the Args check of a command that needs at least one
// reference: msg says what is missing.
func needArgs(msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return errors.New(msg)
		}
		return nil
	}
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (as --version does)",
		Args:  cobra.NoArgs,
		// The version needs no environment: a broken SIGN_STEP_* must not hide it.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sign-step version %s\n", cmd.Root().Version)
			return err
		},
	}
}

// inputError is err as the action's user should read it: each flag that is
// an action input is named as that input, and the positional arguments as
// the tags input. The class (exit code) is kept.
func inputError(err error) error {
	if err == nil {
		return nil
	}
	return &actionError{err: err}
}

type actionError struct{ err error }

func (e *actionError) Unwrap() error { return e.err }

func (e *actionError) Error() string {
	var ae *argsError
	if errors.As(e.err, &ae) && !ae.unknown() {
		return fmt.Sprintf("%v: give them in input tags (one per line) for command %q", ae.err, strings.TrimPrefix(ae.cmd.CommandPath(), "sign-step "))
	}
	return ci.InputNames(e.err.Error())
}
