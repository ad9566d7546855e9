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

// actionImageOK is the rule for action.yml's runs.image: the runner builds
// the Dockerfile from the action's checkout, or pulls an image by digest.
func actionImageOK(image string) bool {
	if image == "Dockerfile" {
		return true
	}
	ref, ok := strings.CutPrefix(image, "docker://")
	return ok && digestRef.MatchString(ref)
}

// runsImage is the image: key under action.yml's top-level runs: map.
func runsImage(t *testing.T, yml string) string {
	t.Helper()
	var section, image string
	n := 0
	for _, line := range strings.Split(yml, "\n") {
		if line != "" && line[0] != ' ' && line[0] != '#' {
			section = strings.TrimSpace(line)
			continue
		}
		if v, ok := strings.CutPrefix(line, "  image:"); ok && section == "runs:" {
			image = strings.Trim(strings.TrimSpace(v), `"'`)
			n++
		}
	}
	if n != 1 {
		t.Fatalf("action.yml has %d runs.image lines, want 1", n)
	}
	return image
}

// TestActionImagePinned: action.yml never names its image by tag alone.
func TestActionImagePinned(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	image := runsImage(t, string(b))
	if !actionImageOK(image) {
		t.Fatalf("action.yml runs.image %q: want Dockerfile or docker://REGISTRY/REPOSITORY@sha256:<64 hex>, never a tag", image)
	}
	// The runner builds the last stage, with no --target: it must be the
	// action's (root) image, not the non-root one.
	if stages := parseDockerfile(t); image == "Dockerfile" && stages[len(stages)-1].name != "action" {
		t.Fatalf("action.yml builds the Dockerfile's last stage %q, want the action stage", stages[len(stages)-1].name)
	}

	hex := strings.Repeat("0123456789abcdef", 4)
	cases := []struct {
		image string
		ok    bool
	}{
		{"Dockerfile", true},
		{"docker://ghcr.io/sign-step/sign-step@sha256:" + hex, true},
		{"docker://ghcr.io/sign-step/sign-step:v1.2.3@sha256:" + hex, true}, // the digest wins
		{"docker://ghcr.io/sign-step/sign-step:v0.1.0-action", false},
		{"docker://ghcr.io/sign-step/sign-step", false},
		{"docker://ghcr.io/sign-step/sign-step@sha256:" + hex[:63], false},
		{"docker://ghcr.io/sign-step/sign-step@sha256:" + strings.ToUpper(hex), false},
		{"ghcr.io/sign-step/sign-step@sha256:" + hex, false}, // the runner wants docker://
		{"Dockerfile.action", false},                         // runners build it, actionlint refuses it
	}
	for _, tc := range cases {
		if got := actionImageOK(tc.image); got != tc.ok {
			t.Errorf("actionImageOK(%q) = %v, want %v", tc.image, got, tc.ok)
		}
	}
}

// TestPinActionImageScript runs the release's rewrite on copies of action.yml:
// a digest replaces runs.image and nothing else; anything else is refused and
// leaves the file as it was.
func TestPinActionImageScript(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join(repoRoot, "scripts", "pin-action-image.sh"))
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.Repeat("89abcdef", 8)
	noRuns := strings.Replace(string(orig), "\nruns:\n", "\nruns_:\n", 1) // image: is no longer under runs:
	cases := []struct {
		name, image, want string // want: the new runs.image, "" when refused
		yml               string // the file to rewrite, action.yml if empty
	}{
		{"digest", "ghcr.io/sign-step/sign-step@sha256:" + hex, "docker://ghcr.io/sign-step/sign-step@sha256:" + hex, ""},
		{"docker:// prefix", "docker://ghcr.io/o/sign-step@sha256:" + hex, "docker://ghcr.io/o/sign-step@sha256:" + hex, ""},
		{"registry port", "registry.example.com:5000/team/sign-step@sha256:" + hex, "docker://registry.example.com:5000/team/sign-step@sha256:" + hex, ""},
		{"tag", "ghcr.io/sign-step/sign-step:v1.2.3-action", "", ""},
		{"tag and digest", "ghcr.io/sign-step/sign-step:v1@sha256:" + hex, "", ""},
		{"short digest", "ghcr.io/sign-step/sign-step@sha256:" + hex[:40], "", ""},
		{"upper-case digest", "ghcr.io/sign-step/sign-step@sha256:" + strings.ToUpper(hex), "", ""},
		{"no repository", "sha256:" + hex, "", ""},
		{"sed metacharacters", "ghcr.io/a#b/sign-step@sha256:" + hex, "", ""},
		{"empty", "", "", ""},
		{"no runs.image", "ghcr.io/sign-step/sign-step@sha256:" + hex, "", noRuns},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.yml == "" {
				tc.yml = string(orig)
			}
			file := filepath.Join(t.TempDir(), "action.yml")
			if err := os.WriteFile(file, []byte(tc.yml), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("sh", script, file, tc.image).CombinedOutput()
			got, rerr := os.ReadFile(file)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if tc.want == "" {
				if err == nil {
					t.Fatalf("%q accepted:\n%s", tc.image, out)
				}
				if string(got) != tc.yml {
					t.Fatalf("refused %q but changed action.yml", tc.image)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v\n%s", tc.image, err, out)
			}
			if img := runsImage(t, string(got)); img != tc.want || !actionImageOK(img) {
				t.Fatalf("runs.image %q, want %q", img, tc.want)
			}
			// Only that line changed: inputs, outputs and comments are intact.
			ol, gl := strings.Split(string(orig), "\n"), strings.Split(string(got), "\n")
			if len(ol) != len(gl) {
				t.Fatalf("%d lines, was %d", len(gl), len(ol))
			}
			changed := 0
			for i := range ol {
				if ol[i] != gl[i] {
					changed++
				}
			}
			if changed != 1 {
				t.Fatalf("%d lines changed, want 1", changed)
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
