package ci

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// The GitHub Action's front: action.yml's inputs become the command line
// the CLI would get.

// InputKind says how an action input becomes arguments.
type InputKind int

const (
	FlagInput    InputKind = iota // --<name>=<value>
	PEMOrLines                    // inline PEM (one value) or a newline list of references (repeated flag)
	SpecialInput                  // handled by ActionArgs itself
)

// ActionInput is one input of action.yml. A test keeps this table, action.yml
// and the README in step.
type ActionInput struct {
	Name   string
	Def    string // action.yml default
	Kind   InputKind
	Secret bool // masked before anything is printed
}

// ActionInputs are the inputs of action.yml.
var ActionInputs = []ActionInput{
	{Name: "command", Def: "sign", Kind: SpecialInput},
	{Name: "tags", Kind: SpecialInput},
	{Name: "source"},
	{Name: "expect-digest"},
	{Name: "key", Kind: PEMOrLines, Secret: true},
	{Name: "passphrase", Secret: true},
	{Name: "notary-server"},
	{Name: "notary-ca", Kind: PEMOrLines},
	{Name: "registry-ca", Kind: PEMOrLines},
	{Name: "registry-username"},
	{Name: "registry-password", Secret: true},
	{Name: "source-username"},
	{Name: "source-password", Secret: true},
	{Name: "insecure-registry", Kind: PEMOrLines},
	{Name: "docker-config"},
	{Name: "also-sign", Kind: PEMOrLines},
	{Name: "cosign-key", Kind: PEMOrLines},
	{Name: "notation-cert"},
	{Name: "require", Kind: PEMOrLines},
	{Name: "policy"},
	{Name: "allow-token-realm", Kind: PEMOrLines},
	{Name: "pin-root", Kind: PEMOrLines},
	{Name: "pin-ca"},
	{Name: "output-dir"},
	{Name: "dry-run", Def: "false"},
	{Name: "summary", Def: "true", Kind: SpecialInput},
	{Name: "log-level"},
	{Name: "timeout"},
	{Name: "args", Kind: SpecialInput},
	// Vault: wherever a secret is taken, vault://path#field reads it.
	{Name: "vault-addr"},
	{Name: "vault-namespace"},
	{Name: "vault-ca", Kind: PEMOrLines},
	{Name: "vault-client-cert"},
	{Name: "vault-client-key", Secret: true},
	{Name: "vault-method"},
	{Name: "vault-mount"},
	{Name: "vault-token", Secret: true},
	{Name: "vault-role-id"},
	{Name: "vault-secret-id", Secret: true},
	{Name: "vault-role"},
	{Name: "vault-jwt", Secret: true},
	{Name: "vault-jwt-audience"},
	{Name: "vault-kubernetes-token-path"},
	{Name: "vault-username"},
	{Name: "vault-password", Secret: true},
	{Name: "vault-revoke-token", Def: "true"},
	{Name: "vault-secrets"},
	{Name: "notary-auth", Secret: true},
	{Name: "trust-cache"},
	{Name: "retries"},
	{Name: "signer", Kind: PEMOrLines}, // a newline list of signers
	{Name: "force", Def: "false"},
}

// SecretInputs are the secret inputs given as values, to be masked
// before anything is printed (references are masked when they are read).
func (g *GitHubBackend) SecretInputs() []string {
	var out []string
	for _, in := range ActionInputs {
		if !in.Secret {
			continue
		}
		v := g.RawInput(in.Name)
		if t := strings.TrimSpace(v); t == "" || strings.HasPrefix(t, "env://") || strings.HasPrefix(t, "file://") {
			continue
		}
		out = append(out, v)
	}
	return out
}

// Command is what ActionArgs needs of a CLI command: its name, and
// whether it has a flag.
type Command struct {
	Name    string
	HasFlag func(name string) bool
}

// ActionCall is the command line the action's inputs make.
type ActionCall struct {
	Args    []string
	Summary *bool // the summary input, when given
}

// ActionArgs turns the action's inputs into the command line the CLI would
// get: command, one flag per input that is set, args, then the tags. An input
// the command has no flag for is an error unless it holds its default.
// find resolves the command input's words to a command; outputDirVar is
// the variable that sets --output-dir.
func (g *GitHubBackend) ActionArgs(find func(words []string) (Command, bool), outputDirVar string) (ActionCall, error) {
	command := strings.Fields(g.Input("command"))
	if len(command) == 0 {
		command = []string{"sign"}
	}
	cmd, ok := find(command)
	if !ok {
		return ActionCall{}, core.Classedf(core.ClassUsage, "input command %q is not a sign-step command", strings.Join(command, " "))
	}
	var call ActionCall
	if v := g.Input("summary"); v != "" {
		b, ok := ParseBool(v)
		if !ok {
			return ActionCall{}, core.Classedf(core.ClassUsage, "input summary is %q: want true or false", v)
		}
		call.Summary = &b
	}
	args := append([]string{}, command...)
	for _, in := range ActionInputs {
		if in.Kind == SpecialInput {
			continue
		}
		v := strings.TrimSpace(g.RawInput(in.Name))
		if v == "" {
			continue
		}
		if !cmd.HasFlag(in.Name) {
			if v == in.Def {
				continue
			}
			return ActionCall{}, core.Classedf(core.ClassUsage, "input %s is not used by `sign-step %s`", in.Name, cmd.Name)
		}
		values := []string{v}
		if in.Kind == PEMOrLines && !strings.Contains(v, "-----BEGIN") {
			values = SplitLines(v)
		}
		for _, val := range values {
			args = append(args, "--"+in.Name+"="+val)
		}
	}
	// Keep the artifacts in the workspace, where later steps (and
	// upload-artifact) find them under the same relative path.
	if ws := g.getenv("GITHUB_WORKSPACE"); ws != "" && g.Input("output-dir") == "" && g.getenv(outputDirVar) == "" && cmd.HasFlag("output-dir") {
		args = append(args, "--output-dir="+filepath.Join(ws, "sign-step"))
	}
	args = append(args, strings.Fields(g.Input("args"))...)
	if tags := SplitList(g.Input("tags")); len(tags) > 0 {
		args = append(append(args, "--"), tags...)
	}
	call.Args = args
	return call, nil
}

// flagName matches a flag named in a message (--key, --log-level), not a
// double hyphen inside a word (xn--host).
var flagName = regexp.MustCompile(`(^|[^A-Za-z0-9-])--([a-z][a-z0-9-]*)`)

// InputNames replaces every --flag that is an action input with "input flag".
func InputNames(msg string) string {
	inputs := map[string]bool{}
	for _, in := range ActionInputs {
		if in.Kind != SpecialInput {
			inputs[in.Name] = true
		}
	}
	return flagName.ReplaceAllStringFunc(msg, func(m string) string {
		sub := flagName.FindStringSubmatch(m)
		if inputs[sub[2]] {
			return sub[1] + "input " + sub[2]
		}
		return m
	})
}
