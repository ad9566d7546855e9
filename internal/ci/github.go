package ci

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sethvargo/go-githubactions"

	"github.com/sign-step/sign-step/internal/redact"
)

// fileCommandDelimiter is the fixed heredoc delimiter go-githubactions
// writes around every output and summary value: a value holding it would
// end the value early and inject other outputs.
const fileCommandDelimiter = "_GitHubActionsFileCommandDelimeter_"

// GitHubOptions configure a GitHub backend.
type GitHubOptions struct {
	Getenv func(string) string
	// Raw receives ::add-mask:: commands. It must not redact: a mask
	// command whose value is already hidden masks nothing. The runner
	// consumes these lines and never shows them.
	Raw io.Writer
	// Out receives every other command (groups, annotations); it may redact.
	Out io.Writer
	// Redact filters values written to GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
	Redact func(string) string
}

// GitHubBackend drives GitHub Actions through go-githubactions.
type GitHubBackend struct {
	mask   *githubactions.Action
	out    *githubactions.Action
	getenv func(string) string
	redact func(string) string

	mu     sync.Mutex
	masked map[string]bool
}

// NewGitHub returns the GitHub backend.
func NewGitHub(o GitHubOptions) *GitHubBackend {
	getenv := githubactions.GetenvFunc(o.Getenv)
	redact := o.Redact
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &GitHubBackend{
		mask:   githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(o.Raw)),
		out:    githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(o.Out)),
		getenv: o.Getenv,
		redact: redact,
		masked: map[string]bool{},
	}
}

// Mask asks the runner to hide v in the log: each of its lines separately,
// because the runner matches masks within a line (a multi-line key masked
// whole would still leak line by line; CVE-2021-32074). PEM armor lines
// (-----BEGIN ...-----) are not secret and lines shorter than 4 bytes would
// garble the log, so both are skipped. Each line is masked once.
func (g *GitHubBackend) Mask(v string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, line := range redact.Parts(v) {
		if g.masked[line] {
			continue
		}
		g.masked[line] = true
		g.mask.AddMask(line)
	}
}

// Input is the action input name (INPUT_<NAME>, hyphens kept), trimmed.
func (g *GitHubBackend) Input(name string) string { return g.out.GetInput(name) }

// RawInput is the input untrimmed except for surrounding blank lines
// (PEM values keep their inner layout).
func (g *GitHubBackend) RawInput(name string) string {
	return strings.Trim(g.getenv("INPUT_"+strings.ToUpper(strings.ReplaceAll(name, " ", "_"))), "\r\n")
}

// SetOutputs writes step outputs to GITHUB_OUTPUT. Without GITHUB_OUTPUT (an
// old runner, or a local run) it does nothing and says so.
func (g *GitHubBackend) SetOutputs(outputs []Output) (err error) {
	if g.getenv("GITHUB_OUTPUT") == "" {
		return fmt.Errorf("GITHUB_OUTPUT is not set: step outputs not written")
	}
	for _, o := range outputs {
		v := g.redact(o.Value)
		if strings.Contains(v, fileCommandDelimiter) || strings.Contains(o.Name, fileCommandDelimiter) {
			return fmt.Errorf("output %s holds GitHub's file command delimiter; not written", o.Name)
		}
		if err := guard(func() { g.out.SetOutput(o.Name, v) }); err != nil {
			return fmt.Errorf("writing step output %s: %w", o.Name, err)
		}
	}
	return nil
}

// Summary appends markdown to the job summary (GITHUB_STEP_SUMMARY). Without
// GITHUB_STEP_SUMMARY it does nothing and says so.
func (g *GitHubBackend) Summary(markdown string) error {
	if g.getenv("GITHUB_STEP_SUMMARY") == "" {
		return fmt.Errorf("GITHUB_STEP_SUMMARY is not set: job summary not written")
	}
	md := g.redact(markdown)
	if strings.Contains(md, fileCommandDelimiter) {
		return fmt.Errorf("job summary holds GitHub's file command delimiter; not written")
	}
	if err := guard(func() { g.out.AddStepSummary(md) }); err != nil {
		return fmt.Errorf("writing job summary: %w", err)
	}
	return nil
}

// Annotate emits ::warning::, ::error:: or ::notice:: with a title.
func (g *GitHubBackend) Annotate(a Annotation) {
	act := g.out
	if a.Title != "" {
		act = act.WithFieldsMap(map[string]string{"title": a.Title})
	}
	switch a.Level {
	case "error":
		act.Errorf("%s", a.Message)
	case "notice":
		act.Noticef("%s", a.Message)
	default:
		act.Warningf("%s", a.Message)
	}
}

// Group prints lines inside a collapsible ::group::.
func (g *GitHubBackend) Group(title string, lines []string) {
	g.out.Group(title)
	for _, l := range lines {
		g.out.Infof("%s", l)
	}
	g.out.EndGroup()
}

// guard turns go-githubactions' panics (an env file it cannot open) into errors.
func guard(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}
