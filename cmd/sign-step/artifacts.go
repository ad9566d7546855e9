package main

import "github.com/sign-step/sign-step/internal/artifact"

// artifacts is the run's output directory (flag, else the CI default), every
// file redacted and never written through a planted symlink.
func (a *app) artifacts(flag string) artifact.Dir {
	return artifact.New(a.outputDir(flag), a.secrets.Writer)
}
