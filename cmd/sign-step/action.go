package main

import (
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
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

// inputKind says how an action input becomes arguments.
type inputKind int

const (
	flagInput  inputKind = iota // --<name>=<value>
	pemOrLines                  // inline PEM (one value) or a newline list of references (repeated flag)
	special                     // handled by actionArgs itself
)

// actionInput is one input of action.yml. A test keeps this table, action.yml
// and the README in step.
type actionInput struct {
	name   string
	def    string // action.yml default
	kind   inputKind
	secret bool // masked before anything is printed
}

var actionInputs = []actionInput{
	{name: "command", def: "sign", kind: special},
	{name: "tags", kind: special},
	{name: "source"},
	{name: "expect-digest"},
	{name: "key", kind: pemOrLines, secret: true},
	{name: "passphrase", secret: true},
	{name: "notary-server"},
	{name: "notary-ca", kind: pemOrLines},
	{name: "registry-ca", kind: pemOrLines},
	{name: "registry-username"},
	{name: "registry-password", secret: true},
	{name: "source-username"},
	{name: "source-password", secret: true},
	{name: "insecure-registry", kind: pemOrLines},
	{name: "docker-config"},
	{name: "also-sign", kind: pemOrLines},
	{name: "cosign-key", kind: pemOrLines},
	{name: "notation-cert"},
	{name: "require", kind: pemOrLines},
	{name: "policy"},
	{name: "allow-token-realm", kind: pemOrLines},
	{name: "pin-root", kind: pemOrLines},
	{name: "pin-ca"},
	{name: "output-dir"},
	{name: "dry-run", def: "false"},
	{name: "summary", def: "true", kind: special},
	{name: "log-level"},
	{name: "timeout"},
	{name: "args", kind: special},
	// Vault: wherever a secret is taken, vault://path#field reads it.
	{name: "vault-addr"},
	{name: "vault-namespace"},
	{name: "vault-ca", kind: pemOrLines},
	{name: "vault-client-cert"},
	{name: "vault-client-key", secret: true},
	{name: "vault-method"},
	{name: "vault-mount"},
	{name: "vault-token", secret: true},
	{name: "vault-role-id"},
	{name: "vault-secret-id", secret: true},
	{name: "vault-role"},
	{name: "vault-jwt", secret: true},
	{name: "vault-jwt-audience"},
	{name: "vault-kubernetes-token-path"},
	{name: "vault-username"},
	{name: "vault-password", secret: true},
	{name: "vault-revoke-token", def: "true"},
	{name: "vault-secrets"},
	{name: "notary-auth", secret: true},
	{name: "trust-cache"},
	{name: "retries"},
	{name: "signer", kind: pemOrLines}, // a newline list of signers
	{name: "force", def: "false"},
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

// maskSecretInputs masks the secret inputs given as values (references are
// masked when they are read).
func (a *app) maskSecretInputs() {
	for _, in := range actionInputs {
		if !in.secret {
			continue
		}
		v := a.ci.gh.RawInput(in.name)
		if t := strings.TrimSpace(v); t == "" || strings.HasPrefix(t, "env://") || strings.HasPrefix(t, "file://") {
			continue
		}
		a.secrets.Mask(strings.TrimSpace(v))
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
				a.secrets.Mask(line)
			}
		}
	}
}

// actionArgs turns the action's inputs into the command line the CLI would
// get: command, one flag per input that is set, args, then the tags. An input
// the command has no flag for is an error unless it holds its default.
func (a *app) actionArgs(root *cobra.Command) ([]string, error) {
	gh := a.ci.gh
	command := strings.Fields(gh.Input("command"))
	if len(command) == 0 {
		command = []string{"sign"}
	}
	cmd, rest, err := root.Find(command)
	if err != nil || cmd == root || len(rest) > 0 {
		return nil, usageErrorf("input command %q is not a sign-step command", strings.Join(command, " "))
	}
	if v := gh.Input("summary"); v != "" {
		b, ok := ci.ParseBool(v)
		if !ok {
			return nil, usageErrorf("input summary is %q: want true or false", v)
		}
		a.ci.summary = b
	}
	args := append([]string{}, command...)
	for _, in := range actionInputs {
		if in.kind == special {
			continue
		}
		v := strings.TrimSpace(gh.RawInput(in.name))
		if v == "" {
			continue
		}
		if lookupFlag(cmd, in.name) == nil {
			if v == in.def {
				continue
			}
			return nil, usageErrorf("input %s is not used by `sign-step %s`", in.name, cmd.Name())
		}
		values := []string{v}
		if in.kind == pemOrLines && !strings.Contains(v, "-----BEGIN") {
			values = ci.SplitLines(v)
		}
		for _, val := range values {
			args = append(args, "--"+in.name+"="+val)
		}
	}
	// Keep the artifacts in the workspace, where later steps (and
	// upload-artifact) find them under the same relative path.
	if ws := a.getenv("GITHUB_WORKSPACE"); ws != "" && gh.Input("output-dir") == "" && a.getenv(envName("output-dir")) == "" && lookupFlag(cmd, "output-dir") != nil {
		args = append(args, "--output-dir="+filepath.Join(ws, "sign-step"))
	}
	args = append(args, strings.Fields(gh.Input("args"))...)
	if tags := ci.SplitList(gh.Input("tags")); len(tags) > 0 {
		args = append(append(args, "--"), tags...)
	}
	return args, nil
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
	code := int(sign.ClassOf(runErr))
	if code == 0 {
		code = 1
	}
	msg := oneLine(runErr.Error())
	a.ci.gh.Annotate(ci.Annotation{Level: "error", Title: "sign-step " + name + " failed", Message: msg})
	if a.ci.summary {
		if err := a.ci.gh.Summary(ci.FailureSummary(name, msg, code)); err != nil {
			a.log.Warn(err.Error())
		}
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

// deliverCI writes res's dotenv file, <command>.env, next to the command's
// other artifacts (every system) and, on GitHub, its log groups,
// annotations, the run's warnings, step outputs and job summary.
func (a *app) deliverCI(res ci.Result) error {
	if res.Dir != "" {
		if err := a.artifacts(res.Dir).Write(ci.DotenvFileOf(res.Command), ci.Dotenv(res.Outputs)); err != nil {
			return err
		}
	}
	gh := a.ci.gh
	if gh == nil {
		return nil
	}
	for _, g := range res.Groups {
		gh.Group(g.Title, g.Lines)
	}
	for _, an := range res.Annotations {
		gh.Annotate(an)
	}
	for _, w := range a.warnings { // e.g. trust on first use without --pin-root/--pin-ca
		gh.Annotate(ci.Annotation{Level: "warning", Title: "sign-step " + res.Command, Message: w})
	}
	if err := gh.SetOutputs(res.Outputs); err != nil {
		a.log.Warn(err.Error())
	}
	if a.ci.summary && res.Summary != "" {
		if err := gh.Summary(res.Summary); err != nil {
			a.log.Warn(err.Error())
		}
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
