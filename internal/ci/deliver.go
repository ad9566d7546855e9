package ci

// Deliver shows res on GitHub: its log groups, annotations, the run's
// warnings as ::warning:: annotations, step outputs and, when summary is
// set, the job summary. Failures to write outputs or the summary do not
// fail the run: they are returned as warnings to log.
func (g *GitHubBackend) Deliver(res Result, warnings []string, summary bool) (problems []string) {
	for _, gr := range res.Groups {
		g.Group(gr.Title, gr.Lines)
	}
	for _, an := range res.Annotations {
		g.Annotate(an)
	}
	for _, w := range warnings { // e.g. trust on first use without --pin-root/--pin-ca
		g.Annotate(Annotation{Level: "warning", Title: "sign-step " + res.Command, Message: w})
	}
	if err := g.SetOutputs(res.Outputs); err != nil {
		problems = append(problems, err.Error())
	}
	if summary && res.Summary != "" {
		if err := g.Summary(res.Summary); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

// Fail shows a failed run on GitHub: an ::error:: annotation and, when
// summary is set, a failure summary with the exit code. msg is the run's
// one error line, already redacted.
func (g *GitHubBackend) Fail(command, msg string, code int, summary bool) (problems []string) {
	g.Annotate(Annotation{Level: "error", Title: "sign-step " + command + " failed", Message: msg})
	if summary {
		if err := g.Summary(FailureSummary(command, msg, code)); err != nil {
			problems = append(problems, err.Error())
		}
	}
	return problems
}
