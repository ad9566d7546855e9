package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// Output formats of --output.
const (
	outputText = "text"
	outputJSON = "json"
)

// addOutputFlag adds --output to a command whose stdout is its result.
func addOutputFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "output", outputText, "stdout format: text (one line per reference or repository) or json (one JSON document per run, the command's report)")
}

// useOutput checks --output and, for json, moves GitHub's workflow commands
// to stderr (the runner reads both) so that stdout is the document alone.
func (a *app) useOutput(format string) error {
	switch format {
	case outputText:
		return nil
	case outputJSON:
		a.ci.commandsToStderr = true
		return nil
	}
	return usageErrorf("invalid --output %q: want text or json", format)
}

// lineOut is where a command's text lines go: stdout, or stderr when
// stdout is one JSON document (--output json).
func (a *app) lineOut() io.Writer {
	if a.ci.commandsToStderr {
		return a.stderr
	}
	return a.stdout
}

// printJSON writes doc as the run's one JSON document on stdout.
func (a *app) printJSON(doc any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// ciStream is where GitHub workflow commands go: stdout, or stderr once
// --output json keeps stdout for its document.
type ciStream struct {
	toStderr       *bool
	stdout, stderr io.Writer
}

func (s ciStream) Write(p []byte) (int, error) {
	if *s.toStderr {
		return s.stderr.Write(p)
	}
	return s.stdout.Write(p)
}
