package main

import (
	"context"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// ciState is what run knows about the CI system it runs in.
type ciState struct {
	system  ci.System
	gh      *ci.GitHubBackend // set on GitHub Actions
	action  bool              // run as the GitHub Action: no arguments, inputs as INPUT_*
	summary bool              // write the job summary
	// commandsToStderr moves workflow commands off stdout (--output json).
	commandsToStderr bool
}

// setupCI detects the CI system. On GitHub it registers the runner's log
// masking with the secret set before anything is printed, so every secret
// read from now on is announced with ::add-mask:: (on raw, the unredacted
// stdout, or rawStderr once --output json keeps stdout for its document: a
// mask command must carry the value) before it could appear.
func (a *app) setupCI(raw, rawStderr io.Writer, args []string) {
	a.ci.system = ci.Detect(a.getenv)
	a.ci.summary = true
	if v, ok := ci.ParseBool(a.getenv("SIGN_STEP_SUMMARY")); ok {
		a.ci.summary = v
	}
	if a.ci.system != ci.GitHub {
		return
	}
	a.ci.gh = ci.NewGitHub(ci.GitHubOptions{Getenv: a.getenv, Redact: a.secrets.String,
		Raw: ciStream{&a.ci.commandsToStderr, raw, rawStderr}, Out: ciStream{&a.ci.commandsToStderr, a.stdout, a.stderr}})
	a.secrets.OnMask(a.ci.gh.Mask)
	a.ci.action = len(args) == 0
	if a.ci.action {
		a.maskSecretInputs()
	}
}

// maskSecretInputs masks the secret inputs given as values, by the one
// masking rule (redact.Parts).
func (a *app) maskSecretInputs() {
	for _, v := range a.ci.gh.SecretInputs() {
		a.secrets.MaskSecret(v)
	}
}

// actionArgs is the command line the action's inputs make (ci.ActionArgs).
func (a *app) actionArgs(root *cobra.Command) ([]string, error) {
	call, err := a.ci.gh.ActionArgs(func(words []string) (ci.Command, bool) {
		cmd, rest, err := root.Find(words)
		if err != nil || cmd == root || len(rest) > 0 {
			return ci.Command{}, false
		}
		return ci.Command{Name: cmd.Name(), HasFlag: func(name string) bool { return lookupFlag(cmd, name) != nil }}, true
	}, envName("output-dir"))
	if err != nil {
		return nil, err
	}
	if call.Summary != nil {
		a.ci.summary = *call.Summary
	}
	return call.Args, nil
}

func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// finishCI runs after the command. On GitHub, a failed run gets an ::error::
// annotation and a failure summary; a command's own result was delivered
// by the command (deliverCI). It returns runErr.
func (a *app) finishCI(cmd *cobra.Command, runErr error) error {
	if runErr == nil || a.ci.gh == nil {
		return runErr
	}
	name := "sign"
	switch {
	case cmd != nil:
		name = cmd.Name()
	case a.ci.gh.Input("command") != "":
		name = a.ci.gh.Input("command")
	}
	code := int(core.ClassOf(runErr))
	if code == 0 {
		code = 1
	}
	for _, p := range a.ci.gh.Fail(name, oneLine(runErr.Error()), code, a.ci.summary) {
		a.log.Warn(p)
	}
	return runErr
}

// withCI is a command's RunE for a run that ends in a CI result: the result
// it returns (also with an error, when it says what was done) goes straight
// to deliverCI, and the run's error stays the command's.
func (a *app) withCI(run func(cmd *cobra.Command, args []string) (*ci.Result, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		res, err := run(cmd, args)
		if res == nil {
			return err
		}
		if derr := a.deliverCI(*res); derr != nil && err == nil {
			err = derr
		}
		return err
	}
}

// ciRunE is withCI for a run under --timeout.
func (a *app) ciRunE(run func(ctx context.Context, args []string) (*ci.Result, error)) func(*cobra.Command, []string) error {
	return a.withCI(func(cmd *cobra.Command, args []string) (*ci.Result, error) {
		ctx, cancel := a.withTimeout(cmd.Context())
		defer cancel()
		return run(ctx, args)
	})
}

// deliverCI writes res's dotenv file, <command>.env, next to the command's
// other artifacts (every system) and, on GitHub, its log groups,
// annotations, the run's warnings, step outputs and job summary.
func (a *app) deliverCI(res ci.Result) error {
	if res.Dir != "" {
		if err := a.artifacts(res.Dir).Write(ci.DotenvFileOf(res.Command), ci.Dotenv(res.Outputs)); err != nil {
			return err
		}
	}
	if a.ci.gh == nil {
		return nil
	}
	for _, p := range a.ci.gh.Deliver(res, a.warnings.All(), a.ci.summary) {
		a.log.Warn(p)
	}
	return nil
}

// ciFiles names a command's artifacts in dir as later steps should use
// them; trustInspect is empty for a command without one.
func (a *app) ciFiles(command, dir, report string, trustInspect bool) ci.Files {
	ws := ci.Workspace(a.getenv)
	f := ci.Files{
		Report: ci.DisplayPath(ws, filepath.Join(dir, report)),
		Dotenv: ci.DisplayPath(ws, filepath.Join(dir, ci.DotenvFileOf(command))),
	}
	if trustInspect {
		f.TrustInspect = ci.DisplayPath(ws, filepath.Join(dir, sign.InspectJSONFile))
	}
	return f
}
