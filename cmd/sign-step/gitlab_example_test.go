package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// gitlabJob is the part of a .gitlab-ci.yml job the simulation below runs.
type gitlabJob struct {
	Extends   gitlabList        `yaml:"extends"`
	Variables map[string]string `yaml:"variables"`
	Rules     []struct {
		If string `yaml:"if"`
	} `yaml:"rules"`
	Needs     []string `yaml:"needs"`
	Script    []string `yaml:"script"`
	Artifacts *struct {
		Reports struct {
			Dotenv string `yaml:"dotenv"`
		} `yaml:"reports"`
	} `yaml:"artifacts"`
}

// gitlabList is a keyword that takes one string or a list (extends:).
type gitlabList []string

func (l *gitlabList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = gitlabList{n.Value}
		return nil
	}
	return n.Decode((*[]string)(l))
}

// gitlabPipeline reads examples/gitlab/.gitlab-ci.yml and resolves extends:
// as GitLab does (hashes merged, other keywords replaced, later wins).
func gitlabPipeline(t *testing.T) (map[string]gitlabJob, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "gitlab", ".gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf(".gitlab-ci.yml: %v", err)
	}
	raw := map[string]gitlabJob{}
	for name, n := range doc {
		if name == "stages" || name == "variables" || name == "default" {
			continue
		}
		var j gitlabJob
		if err := n.Decode(&j); err != nil {
			t.Fatalf(".gitlab-ci.yml job %s: %v", name, err)
		}
		raw[name] = j
	}
	var resolve func(name string, depth int) gitlabJob
	resolve = func(name string, depth int) gitlabJob {
		j, ok := raw[name]
		if !ok || depth > 10 {
			t.Fatalf(".gitlab-ci.yml: extends %q: no such job (or a loop)", name)
		}
		var out gitlabJob
		for _, parent := range j.Extends {
			out = mergeJob(out, resolve(parent, depth+1))
		}
		return mergeJob(out, j)
	}
	jobs := map[string]gitlabJob{}
	for name := range raw {
		if !strings.HasPrefix(name, ".") { // hidden jobs are templates
			jobs[name] = resolve(name, 0)
		}
	}
	return jobs, string(b)
}

func mergeJob(base, over gitlabJob) gitlabJob {
	vars := map[string]string{}
	for k, v := range base.Variables {
		vars[k] = v
	}
	for k, v := range over.Variables {
		vars[k] = v
	}
	base.Variables = vars
	if over.Rules != nil {
		base.Rules = over.Rules
	}
	if over.Needs != nil {
		base.Needs = over.Needs
	}
	if over.Script != nil {
		base.Script = over.Script
	}
	if over.Artifacts != nil {
		base.Artifacts = over.Artifacts
	}
	return base
}

var (
	ruleIsSet  = regexp.MustCompile(`^\$([A-Z_][A-Z0-9_]*)$`)
	ruleEquals = regexp.MustCompile(`^\$([A-Z_][A-Z0-9_]*)\s*==\s*"([^"]*)"$`)
)

// runs says whether GitLab adds job to a pipeline with vars: the first rule
// whose if: holds (no rules: always). Only the expression forms the example
// uses are understood; any other fails the test rather than guess.
func (j gitlabJob) runs(t *testing.T, vars map[string]string) bool {
	t.Helper()
	if j.Rules == nil {
		return true
	}
	for _, r := range j.Rules {
		ok := true
		for _, term := range strings.Split(r.If, "&&") {
			term = strings.TrimSpace(term)
			if m := ruleIsSet.FindStringSubmatch(term); m != nil {
				ok = ok && vars[m[1]] != ""
			} else if m := ruleEquals.FindStringSubmatch(term); m != nil {
				ok = ok && vars[m[1]] == m[2]
			} else {
				t.Fatalf("rules: if: %q: the simulation does not understand %q", r.If, term)
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// gitlabRunner runs the example's jobs as a GitLab docker-executor job would
// run them in the sign-step -shell image: each script: line by sh -e in
// CI_PROJECT_DIR, with GitLab's predefined variables, the project's CI/CD
// variables (which win over the YAML's, as in GitLab), the job's variables
// expanded against them, and the dotenv reports of the jobs it needs.
type gitlabRunner struct {
	t       *testing.T
	jobs    map[string]gitlabJob
	bin     string
	project string
	vars    map[string]string            // predefined + project variables
	dotenv  map[string]map[string]string // by job, from artifacts:reports:dotenv
}

func (g *gitlabRunner) env(job gitlabJob) map[string]string {
	e := map[string]string{}
	for _, need := range job.Needs {
		for k, v := range g.dotenv[need] {
			e[k] = v
		}
	}
	for k, v := range job.Variables {
		e[k] = os.Expand(v, func(name string) string { return g.vars[name] })
	}
	for k, v := range g.vars {
		e[k] = v
	}
	return e
}

// run runs job's script with overrides on top of its variables and returns
// the exit code of the first failing line (0: all passed) and the output.
func (g *gitlabRunner) run(name string, overrides map[string]string) (int, string) {
	g.t.Helper()
	job := g.jobs[name]
	e := g.env(job)
	for k, v := range overrides {
		e[k] = os.Expand(v, func(n string) string { return e[n] })
	}
	var environ []string
	for k, v := range e {
		environ = append(environ, k+"="+v)
	}
	environ = append(environ, "PATH="+os.Getenv("PATH"))
	var out strings.Builder
	for _, line := range job.Script {
		if rest, ok := strings.CutPrefix(line, "/sign-step "); ok {
			line = g.bin + " " + rest // the image's /sign-step
		} else if strings.Contains(line, "sign-step ") {
			g.t.Fatalf("%s: script line %q runs sign-step by another path than the image's /sign-step", name, line)
		}
		cmd := exec.Command("sh", "-ec", line)
		cmd.Dir, cmd.Env = g.project, environ
		b, err := cmd.CombinedOutput()
		out.Write(b)
		if err != nil {
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			return code, out.String()
		}
	}
	if job.Artifacts != nil && job.Artifacts.Reports.Dotenv != "" {
		b, err := os.ReadFile(filepath.Join(g.project, job.Artifacts.Reports.Dotenv))
		if err != nil {
			g.t.Fatalf("%s: dotenv report: %v", name, err)
		}
		d := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				d[k] = v
			}
		}
		g.dotenv[name] = d
	}
	return 0, out.String()
}

// TestGitLabExample runs examples/gitlab/.gitlab-ci.yml's sign, verify,
// deploy and resign scripts against the package's registry and notary, with
// the key as the masked base64 variable and as a File variable. Which jobs
// a tag, a branch and a scheduled pipeline get is judged from its rules:.
// The build job (docker buildx in docker:dind) is not run: its dotenv report,
// BUILD_DIGEST, is the digest pushRandom pushed.
func TestGitLabExample(t *testing.T) {
	t.Parallel()
	jobs, text := gitlabPipeline(t)

	repo := env.Repo("gitlab-example")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":v1.0.0")
	other, _ := pushRandom(t, repo+":other")
	pemKey, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := s.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var admin []struct {
		AdministrativeKeys []struct {
			Name string
			Keys []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &admin); err != nil || len(admin) != 1 {
		t.Fatalf("docker trust inspect: %v\n%s", err, out)
	}
	var rootID string
	for _, k := range admin[0].AdministrativeKeys {
		if k.Name == "Root" {
			rootID = k.Keys[0].ID
		}
	}
	registry, _, _ := strings.Cut(repo, "/")
	pipeline := func(extra map[string]string) *gitlabRunner {
		project := t.TempDir()
		if err := os.Chmod(project, 0o777); err != nil { // GitLab's umask 0000 checkout
			t.Fatal(err)
		}
		vars := map[string]string{
			// Predefined.
			"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": project, "HOME": t.TempDir(),
			"CI_PIPELINE_SOURCE": "push", "CI_REGISTRY": registry, "CI_REGISTRY_IMAGE": repo,
			"CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "job-token-0123456789",
			// The project's CI/CD variables, as the example's header asks.
			"DCT_KEY_B64":     base64.StdEncoding.EncodeToString(pemKey),
			"DCT_PASSPHRASE":  repoPass,
			"DCT_ROOT_KEY_ID": rootID,
			// This test's servers, set as project variables (they win over the YAML's).
			"SIGN_STEP_NOTARY_SERVER": env.NotaryURL,
			"SIGN_STEP_NOTARY_CA":     env.CACertFile,
			"SIGN_STEP_REGISTRY_CA":   env.CACertFile,
		}
		for k, v := range extra {
			vars[k] = v
		}
		return &gitlabRunner{t: t, jobs: jobs, bin: binary(t), project: project, vars: vars,
			dotenv: map[string]map[string]string{"build": {"BUILD_DIGEST": digest}}}
	}

	t.Run("rules", func(t *testing.T) {
		tests := []struct {
			name string
			vars map[string]string
			want []string
		}{
			{"tag pipeline", map[string]string{"CI_COMMIT_TAG": "v1.0.0"}, []string{"build", "deploy", "sign", "verify"}},
			{"branch pipeline", map[string]string{"CI_COMMIT_BRANCH": "main"}, nil},
			{"merge request", map[string]string{"CI_PIPELINE_SOURCE": "merge_request_event"}, nil},
			{"scheduled resign", map[string]string{"CI_PIPELINE_SOURCE": "schedule", "SIGN_STEP_JOB": "resign"}, []string{"resign"}},
			{"another schedule", map[string]string{"CI_PIPELINE_SOURCE": "schedule", "SIGN_STEP_JOB": "cleanup"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				g := pipeline(tt.vars)
				var got []string
				for name, j := range jobs {
					if j.runs(t, g.vars) {
						got = append(got, name)
					}
				}
				slices.Sort(got)
				if !slices.Equal(got, tt.want) {
					t.Errorf("jobs %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("tag pipeline", func(t *testing.T) {
		// Not parallel: the publishing steps share the repository.
		g := pipeline(map[string]string{"CI_COMMIT_TAG": "v1.0.0"})
		// A tag that is not the build's digest: refused, nothing signed.
		if code, out := g.run("sign", map[string]string{"BUILD_DIGEST": other}); code != 5 || !strings.Contains(out, "nothing signed") {
			t.Fatalf("sign with another BUILD_DIGEST: exit %d, want 5 and nothing signed\n%s", code, out)
		}
		code, out := g.run("sign", nil)
		if code != 0 {
			t.Fatalf("sign: exit %d\n%s", code, out)
		}
		logs := out
		if got, want := g.dotenv["sign"]["SIGN_STEP_OUT_SIGNED_REFS"], repo+":v1.0.0@"+digest; got != want {
			t.Errorf("sign.env SIGN_STEP_OUT_SIGNED_REFS = %q, want %q", got, want)
		}
		if code, out = g.run("verify", nil); code != 0 {
			t.Fatalf("verify: exit %d\n%s", code, out)
		}
		logs += out
		code, out = g.run("deploy", nil)
		if want := "deploying " + repo + "@" + digest; code != 0 || !strings.Contains(out, want) {
			t.Errorf("deploy: exit %d, output %q, want %q", code, out, want)
		}
		if ents, err := os.ReadDir(filepath.Join(g.project, ".dct-trust")); err != nil || len(ents) == 0 {
			t.Errorf("trust cache %s/.dct-trust (cache: paths) empty or missing: %v", g.project, err)
		}
		if signed := signedTagsIn(t, mustInspect(t, s, repo)); signed["v1.0.0"] != digest+" by ci" {
			t.Errorf("docker sees %v, want v1.0.0 at %s by ci", signed, digest)
		}
		// Job logs and the artifacts (sign-step/, the cache) hold no secret.
		assertNoSecrets(t, append(keySecrets(t, s.keyFile, repoPass), g.vars["DCT_KEY_B64"], g.vars["CI_REGISTRY_PASSWORD"]), logs+out, g.project)
	})

	t.Run("File variable", func(t *testing.T) {
		// The example's commented alternative, as a user would uncomment it.
		m := regexp.MustCompile(`(?m)^\s*#\s*SIGN_STEP_KEY:\s*(file://\$DCT_KEY_FILE)\s`).FindStringSubmatch(text)
		if m == nil {
			t.Fatal(".gitlab-ci.yml documents no `SIGN_STEP_KEY: file://$DCT_KEY_FILE` alternative")
		}
		g := pipeline(map[string]string{"CI_COMMIT_TAG": "other", "DCT_KEY_B64": "", "DCT_KEY_FILE": s.keyFile})
		if code, out := g.run("sign", map[string]string{"SIGN_STEP_KEY": m[1], "BUILD_DIGEST": other}); code != 0 {
			t.Fatalf("sign with %s: exit %d\n%s", m[1], code, out)
		}
	})

	t.Run("scheduled resign", func(t *testing.T) {
		g := pipeline(map[string]string{"CI_PIPELINE_SOURCE": "schedule", "SIGN_STEP_JOB": "resign"})
		if code, out := g.run("resign", nil); code != 0 {
			t.Fatalf("resign: exit %d\n%s", code, out)
		}
		if _, ok := g.dotenv["resign"]; !ok {
			t.Error("resign wrote no resign.env dotenv report")
		}
	})
}

// mustInspect is docker trust inspect REPO by s's docker CLI.
func mustInspect(t *testing.T, s signer, repo string) string {
	t.Helper()
	out, stderr, err := s.inspect(t, repo)
	if err != nil {
		t.Fatalf("docker trust inspect %s: %v\n%s", repo, err, stderr)
	}
	return out
}
