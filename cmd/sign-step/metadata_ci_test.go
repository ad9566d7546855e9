package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
)

// actionMeta is what action.yml declares: inputs with their defaults, and outputs.
type actionMeta struct {
	inputs  map[string]string
	outputs []string
}

// parseActionYML reads the inputs: and outputs: maps of action.yml (two-space
// keys, four-space properties; actionlint checks the YAML itself).
func parseActionYML(t *testing.T) actionMeta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m := actionMeta{inputs: map[string]string{}}
	section, current := "", ""
	key := regexp.MustCompile(`^  ([a-z0-9-]+):\s*$`)
	def := regexp.MustCompile(`^    default:\s*"?([^"]*)"?\s*$`)
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) > 0 && line[0] != ' ' && line[0] != '#' {
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		if k := key.FindStringSubmatch(line); k != nil {
			current = k[1]
			switch section {
			case "inputs":
				m.inputs[current] = ""
			case "outputs":
				m.outputs = append(m.outputs, current)
			}
			continue
		}
		if d := def.FindStringSubmatch(line); d != nil && section == "inputs" {
			m.inputs[current] = d[1]
		}
	}
	return m
}

// readmeTable returns the first column (`name`) of the table under heading.
func readmeTable(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	var names []string
	cell := regexp.MustCompile("^\\| `([a-z0-9-]+)` \\|")
	for _, line := range strings.Split(rest, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if c := cell.FindStringSubmatch(line); c != nil {
			names = append(names, c[1])
		}
	}
	return names
}

func sorted(s []string) string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return strings.Join(s, " ")
}

// TestActionMetadataInSync keeps action.yml, the input table of action mode,
// the outputs internal/ci sets and the README's tables from drifting apart.
func TestActionMetadataInSync(t *testing.T) {
	t.Parallel()
	meta := parseActionYML(t)
	var code []string
	for _, in := range ci.ActionInputs {
		code = append(code, in.Name)
		if d, ok := meta.inputs[in.Name]; ok && d != in.Def {
			t.Errorf("input %s: action.yml default %q, action mode assumes %q", in.Name, d, in.Def)
		}
	}
	var yml []string
	for name := range meta.inputs {
		yml = append(yml, name)
	}
	cases := []struct{ what, got, want string }{
		{"action.yml inputs vs action mode", sorted(yml), sorted(code)},
		{"README inputs vs action.yml", sorted(readmeTable(t, "### Inputs")), sorted(yml)},
		{"action.yml outputs vs internal/ci", strings.Join(meta.outputs, " "), strings.Join(ci.OutputNames, " ")},
		{"README outputs vs action.yml", strings.Join(readmeTable(t, "### Outputs"), " "), strings.Join(meta.outputs, " ")},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s differ:\n got: %s\nwant: %s", tc.what, tc.got, tc.want)
		}
	}
}

// TestActionInputsAreFlags checks that every input that is not handled by
// action mode itself is a flag of some command (vault-* wait for Vault).
func TestActionInputsAreFlags(t *testing.T) {
	t.Parallel()
	a := &app{getenv: func(string) string { return "" }}
	flags := map[string]bool{}
	walk(a.rootCommand(), func(f *pflag.Flag) { flags[f.Name] = true })
	for _, in := range ci.ActionInputs {
		if in.Kind != ci.SpecialInput && !flags[in.Name] && !strings.HasPrefix(in.Name, "vault-") {
			t.Errorf("input %s is no flag of any command", in.Name)
		}
	}
}

// TestDotenvNamesAreNotInputs: a later job that receives sign.env must not
// have its flags set by it (SIGN_STEP_<FLAG> is every flag's variable).
func TestDotenvNamesAreNotInputs(t *testing.T) {
	t.Parallel()
	a := &app{getenv: func(string) string { return "" }}
	walk(a.rootCommand(), func(f *pflag.Flag) {
		for _, o := range ci.OutputNames {
			if ci.DotenvName(o) == envName(f.Name) {
				t.Errorf("dotenv variable %s is also flag --%s's variable", ci.DotenvName(o), f.Name)
			}
		}
	})
}

func walk(cmd *cobra.Command, fn func(*pflag.Flag)) {
	cmd.Flags().VisitAll(fn)
	cmd.PersistentFlags().VisitAll(fn)
	for _, c := range cmd.Commands() {
		walk(c, fn)
	}
}

// TestActionModeErrors: bad inputs fail as usage errors (exit 2), with a
// GitHub ::error:: annotation and a failure summary, before any server is
// contacted.
func TestActionModeErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		inputs map[string]string
		want   string
	}{
		{"no tags", map[string]string{"command": "sign", "key": "file:///nonexistent"}, "no image reference given"},
		{"unknown command", map[string]string{"command": "frobnicate", "tags": "r.example.com/a:1"}, `input command "frobnicate" is not a sign-step command`},
		{"input the command lacks", map[string]string{"command": "inspect", "tags": "r.example.com/a:1", "source": "image.tar"}, "input source is not used by `sign-step inspect`"},
		{"vault reference without an address", map[string]string{"command": "sign", "tags": "r.example.com/a:1", "key": "vault://secret/ci/dct#key"}, "a vault:// reference needs a Vault address: pass input vault-addr"}, // the action speaks of inputs
		{"bad summary", map[string]string{"command": "sign", "tags": "r.example.com/a:1", "summary": "yes"}, `input summary is "yes"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runAsGitHubAction(t, tc.inputs, nil)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (usage)\n%s", r.code, r.log)
			}
			if !strings.Contains(r.log, "::error title=sign-step ") || !strings.Contains(r.log, tc.want) {
				t.Errorf("log lacks an ::error:: annotation with %q:\n%s", tc.want, r.log)
			}
			if sum, _ := os.ReadFile(r.summary); tc.name != "bad summary" && !strings.Contains(string(sum), "failed") {
				t.Errorf("no failure summary:\n%s", sum)
			}
		})
	}
	// Outside GitHub, no arguments is the CLI's usual help, not action mode.
	var out syncBuffer
	if code := run(context.Background(), nil, func(string) string { return "" }, &out, &out); code != 0 || strings.Contains(out.String(), "::") {
		t.Errorf("no arguments outside GitHub: exit %d\n%s", code, out.String())
	}
}
