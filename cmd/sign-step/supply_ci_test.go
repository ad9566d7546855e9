package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The supply chain of the action itself: what the runner executes with the
// consumer's key must be fixed by content (a digest, a commit), never by a
// name someone can move (a tag).

var (
	digestRef = regexp.MustCompile(`^[^@\s]+@sha256:[0-9a-f]{64}$`)
	// owner/repo[/path]@<commit> # vX.Y.Z
	shaPinned = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$`)
)

// actionRuns is action.yml's top-level runs: map, line by line.
func actionRuns(t *testing.T, yml string) []string {
	t.Helper()
	var section string
	var runs []string
	for _, line := range strings.Split(yml, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '#' {
			section = strings.TrimSpace(line)
			continue
		}
		if section == "runs:" {
			runs = append(runs, line)
		}
	}
	if len(runs) == 0 {
		t.Fatal("action.yml has no runs: map")
	}
	return runs
}

// actionRunsProblems is what is wrong with a runs: map: it must be a
// composite action, every remote action pinned by commit, and no run:
// script may hold an expression (a ${{ }} is pasted into the script before
// the shell sees it: script injection); values go through env:.
func actionRunsProblems(runs []string) []string {
	var problems []string
	uses := regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(.*?)\s*$`)
	run := regexp.MustCompile(`^(\s*)(?:-\s+)?run:(.*)$`)
	composite := false
	inRun := -1 // indentation of the run: key whose block we are in
	for _, line := range runs {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if inRun >= 0 && (strings.TrimSpace(line) == "" || indent > inRun) {
			if strings.Contains(line, "${{") {
				problems = append(problems, "expression in a run: script: "+strings.TrimSpace(line))
			}
			continue
		}
		inRun = -1
		switch {
		case strings.TrimSpace(line) == "using: composite":
			composite = true
		case strings.HasPrefix(strings.TrimSpace(line), "image:"):
			problems = append(problems, "runs.image: the action runs on the runner, not in a container")
		}
		if m := uses.FindStringSubmatch(line); m != nil && !shaPinned.MatchString(m[1]) {
			problems = append(problems, "uses: "+m[1]+": want owner/repo@<40-hex commit> # vX.Y.Z")
		}
		if m := run.FindStringSubmatch(line); m != nil {
			if strings.Contains(m[2], "${{") {
				problems = append(problems, "expression in a run: script: "+strings.TrimSpace(line))
			}
			inRun = len(m[1])
			if strings.HasPrefix(strings.TrimSpace(line), "- ") {
				inRun += 2
			}
		}
	}
	if !composite {
		problems = append(problems, "runs.using is not composite")
	}
	return problems
}

// TestActionRunsPinned: what runs with the consumer's key is fixed by the
// commit they pin. action.yml is a composite action whose remote actions
// are pinned by commit and whose scripts take values only from env:; the
// commit is either a source commit (no VERSION, no SHA256SUMS: the action
// builds ./cmd/sign-step from itself) or a release commit holding both, with
// a pinned sum for every binary.
func TestActionRunsPinned(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range actionRunsProblems(actionRuns(t, string(b))) {
		t.Error("action.yml: " + p)
	}
	_, verr := os.Stat(filepath.Join(repoRoot, "VERSION"))
	_, serr := os.Stat(filepath.Join(repoRoot, "SHA256SUMS"))
	switch {
	case verr != nil && serr != nil: // a source commit
	case verr == nil && serr == nil: // a release commit: the release's own check
		out, err := exec.Command("sh", filepath.Join(repoRoot, "scripts", "pin-action-release.sh"), t.TempDir(),
			strings.TrimSpace(readFile(t, filepath.Join(repoRoot, "VERSION"))), filepath.Join(repoRoot, "SHA256SUMS")).CombinedOutput()
		if err != nil {
			t.Errorf("release commit: %s", out)
		}
	default:
		t.Error("VERSION and SHA256SUMS: a release commit has both, a source commit neither")
	}

	// The rule itself, on shapes it must refuse.
	sha := strings.Repeat("0123456789", 4)
	cases := []struct {
		name string
		runs string
		ok   bool
	}{
		{"composite", "  using: composite\n  steps:\n    - uses: actions/setup-go@" + sha + " # v7.0.0\n    - shell: bash\n      env:\n        X: ${{ inputs.x }}\n      run: echo \"$X\"", true},
		{"block script from env", "  using: composite\n  steps:\n    - shell: bash\n      run: |\n        echo \"$X\"\n      env:\n        X: ${{ inputs.x }}", true},
		{"docker image", "  using: docker\n  image: Dockerfile", false},
		{"image by digest", "  using: docker\n  image: docker://ghcr.io/o/s@sha256:" + strings.Repeat("ab", 32), false},
		{"action by tag", "  using: composite\n  steps:\n    - uses: actions/setup-go@v7", false},
		{"action by branch", "  using: composite\n  steps:\n    - uses: actions/cache@main # v5.0.5", false},
		{"expression in run", "  using: composite\n  steps:\n    - shell: bash\n      run: echo ${{ inputs.tags }}", false},
		{"expression in block run", "  using: composite\n  steps:\n    - shell: bash\n      run: |\n        set -e\n        echo \"${{ inputs.tags }}\"", false},
	}
	for _, tc := range cases {
		if p := actionRunsProblems(strings.Split(tc.runs, "\n")); (len(p) == 0) != tc.ok {
			t.Errorf("%s: problems %q, want ok=%v", tc.name, p, tc.ok)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestActionInputsAsEnv: a composite action gets no INPUT_* variables by
// itself, so the step that runs sign-step maps every input, and only the
// inputs, exactly as a container action gets them (INPUT_<NAME>, upper case,
// hyphens kept): action mode reads nothing else. Every output is that step's.
func TestActionInputsAsEnv(t *testing.T) {
	t.Parallel()
	yml := readFile(t, filepath.Join(repoRoot, "action.yml"))
	meta := parseActionYML(t)
	mapped := map[string]string{}
	env := regexp.MustCompile(`^\s+(INPUT_[A-Z0-9_-]+):\s*(.*?)\s*$`)
	for _, line := range actionRuns(t, yml) {
		if m := env.FindStringSubmatch(line); m != nil {
			if _, dup := mapped[m[1]]; dup {
				t.Errorf("%s is set twice", m[1])
			}
			mapped[m[1]] = m[2]
		}
	}
	for name := range meta.inputs {
		key := "INPUT_" + strings.ToUpper(name)
		if want := "${{ inputs." + name + " }}"; mapped[key] != want {
			t.Errorf("%s: %q, want %q", key, mapped[key], want)
		}
		delete(mapped, key)
	}
	for k := range mapped {
		t.Errorf("%s is not an input", k)
	}
	for _, name := range meta.outputs {
		if want := "    value: ${{ steps.run.outputs." + name + " }}\n"; !strings.Contains(yml, "\n  "+name+":\n") || !strings.Contains(yml, want) {
			t.Errorf("output %s: want %q", name, strings.TrimSpace(want))
		}
	}
}

// TestPinActionReleaseScript runs the release's pin on a copy of the checkout:
// the six binaries' sums, well formed, make VERSION and SHA256SUMS; anything
// else is refused with nothing written.
func TestPinActionReleaseScript(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "pin-action-release.sh"))
	if err != nil {
		t.Fatal(err)
	}
	assets := []string{"sign-step-darwin-amd64", "sign-step-darwin-arm64", "sign-step-linux-amd64", "sign-step-linux-arm64", "sign-step-windows-amd64.exe", "sign-step-windows-arm64.exe"}
	sums := func(names ...string) string {
		var b strings.Builder
		for i, n := range names {
			b.WriteString(strings.Repeat(string("0123456789abcdef"[i]), 64) + "  " + n + "\n")
		}
		return b.String()
	}
	good := sums(assets...)
	cases := []struct {
		name, version, sums string
		existing            bool // the checkout is already a release commit
		ok                  bool
	}{
		{"release", "v1.2.3", good, false, true},
		{"pre-release", "v1.2.3-rc.1", good, false, true},
		{"no v", "1.2.3", good, false, false},
		{"tag-like version", "v1", good, false, false},
		{"missing binary", "v1.2.3", sums(assets[:5]...), false, false},
		{"extra file", "v1.2.3", good + strings.Repeat("f", 64) + "  install.sh\n", false, false},
		{"duplicate", "v1.2.3", good + strings.Repeat("f", 64) + "  sign-step-linux-amd64\n", false, false},
		{"short sum", "v1.2.3", strings.Replace(good, strings.Repeat("0", 64), strings.Repeat("0", 63), 1), false, false},
		{"upper-case sum", "v1.2.3", strings.Replace(good, strings.Repeat("0", 64), strings.Repeat("A", 64), 1), false, false},
		{"path in name", "v1.2.3", strings.Replace(good, "  sign-step-linux-arm64", "  ../sign-step-linux-arm64", 1), false, false},
		{"binary mode marker", "v1.2.3", strings.Replace(good, "  sign-step-linux-arm64", " *sign-step-linux-arm64", 1), false, false},
		{"empty", "v1.2.3", "", false, false},
		{"already a release commit", "v1.2.3", good, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, in := t.TempDir(), filepath.Join(t.TempDir(), "SHA256SUMS")
			if err := os.WriteFile(in, []byte(tc.sums), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.existing {
				if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("v1.0.0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("sh", script, dir, tc.version, in).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("ok=%v, want %v:\n%s", err == nil, tc.ok, out)
			}
			v, verr := os.ReadFile(filepath.Join(dir, "VERSION"))
			s, serr := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
			switch {
			case tc.ok && (string(v) != tc.version+"\n" || string(s) != tc.sums):
				t.Errorf("VERSION %q (%v), SHA256SUMS %q (%v)", v, verr, s, serr)
			case !tc.ok && (serr == nil || (verr == nil) != tc.existing):
				t.Errorf("refused but wrote files: VERSION %v, SHA256SUMS %v", verr, serr)
			}
		})
	}
}

// TestWorkflowActionsPinned: every third-party action in our workflows and the
// examples is pinned by full commit SHA with its version as a comment. The
// examples keep sign-step/sign-step@v1, the documented user-facing reference.
func TestWorkflowActionsPinned(t *testing.T) {
	t.Parallel()
	var files []string
	for _, glob := range []string{".github/workflows/*.yml", "examples/workflows/*.yml"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, glob))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("found %d workflow files", len(files))
	}
	uses := regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(.*?)\s*$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, f)
		example := strings.HasPrefix(rel, "examples")
		for i, line := range strings.Split(string(b), "\n") {
			m := uses.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			ref := m[1]
			switch {
			case strings.HasPrefix(ref, "./"):
			case strings.HasPrefix(ref, "docker://") && digestRef.MatchString(strings.TrimPrefix(ref, "docker://")):
			case example && ref == "sign-step/sign-step@v1":
			case shaPinned.MatchString(ref):
			default:
				t.Errorf("%s:%d: uses: %s: want owner/repo@<40-hex commit> # vX.Y.Z", rel, i+1, ref)
			}
		}
	}
}

// TestDockerfileBaseImagesPinned: every base image is pinned by digest, and no
// "# syntax=" directive pulls a frontend by tag.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Dockerfile"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(filepath.Join(repoRoot, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if d, ok := strings.CutPrefix(strings.ReplaceAll(line, " ", ""), "#syntax="); ok && !digestRef.MatchString(d) {
					t.Errorf("%s: frontend %s is not pinned by digest", name, d)
				}
			}
			stages := parseDockerfileAt(t, name)
			seen := map[string]bool{}
			for _, s := range stages {
				if s.from != "scratch" && !seen[s.from] && !digestRef.MatchString(s.from) {
					t.Errorf("%s: FROM %s is not pinned by digest (IMAGE:TAG@sha256:<64 hex>)", name, s.from)
				}
				if s.name != "" {
					seen[s.name] = true
				}
			}
		})
	}
}
