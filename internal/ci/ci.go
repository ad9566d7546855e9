// Package ci is the only part of sign-step that talks to CI systems: it
// detects GitHub Actions, GitLab CI and Jenkins from the environment, turns
// a run's report into step outputs, a job summary, annotations and a dotenv
// file, and drives GitHub's workflow commands through go-githubactions.
//
// Everything reads the environment through an injected getenv and writes
// through injected writers, never os.Getenv or os.Stdout.
package ci

import (
	"path/filepath"
	"strings"
)

// System is the CI system a run is in.
type System string

// The systems sign-step knows.
const (
	None    System = ""
	GitHub  System = "github"
	GitLab  System = "gitlab"
	Jenkins System = "jenkins"
)

// Detect says which CI system the environment belongs to: GitHub Actions
// (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI set) or Jenkins (JENKINS_URL
// set), in that order.
func Detect(getenv func(string) string) System {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return GitHub
	case getenv("GITLAB_CI") != "":
		return GitLab
	case getenv("JENKINS_URL") != "":
		return Jenkins
	}
	return None
}

// Workspace is the directory the CI system checks the project out into and
// resolves relative artifact paths against: GITHUB_WORKSPACE,
// CI_PROJECT_DIR or WORKSPACE; empty outside CI.
func Workspace(getenv func(string) string) string {
	for _, env := range []string{"GITHUB_WORKSPACE", "CI_PROJECT_DIR", "WORKSPACE"} {
		if v := getenv(env); v != "" {
			return v
		}
	}
	return ""
}

// DisplayPath is path as later steps of the same job should use it: relative
// to workspace when it lies inside (a container action's /github/workspace
// is another path on the runner, but the same relative path), else as is.
func DisplayPath(workspace, path string) string {
	if workspace == "" || path == "" {
		return path
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(filepath.Clean(workspace), abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// SplitList splits a List/CSV input as docker's actions do: one item per
// line or comma, items trimmed, empty items dropped.
func SplitList(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, item := range strings.Split(line, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// SplitLines splits a newline list, items trimmed, empty lines dropped.
// Commas are kept: they may belong to a value.
func SplitLines(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// ParseBool reads a boolean input as GitHub's toolkit does (getBooleanInput):
// true, True, TRUE, false, False, FALSE. ok is false for anything else.
func ParseBool(s string) (value, ok bool) {
	switch strings.TrimSpace(s) {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return false, false
}
