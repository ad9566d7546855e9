package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	jenkinsEnvBlock = regexp.MustCompile(`(?s)\n  environment \{\n(.*?)\n  \}`)
	jenkinsEnvLine  = regexp.MustCompile(`^\s*([A-Z_][A-Z0-9_]*) = '([^']*)'\s*$`)
	jenkinsSh       = regexp.MustCompile(`(?s)sh '''(.*?)'''`)
)

// TestJenkinsExample runs examples/jenkins/Jenkinsfile's sh steps in order,
// as Jenkins runs them in the -shell image (sh -xe, in $WORKSPACE), with its
// environment block, the parameters, and the credentials withCredentials
// binds (the key as a file credential: a path). IMAGE and the notary are this
// test's servers, as a user sets them. Groovy is not run: the test takes the
// environment block and the ”' strings (Groovy's backslash-newline
// continuation applied) from the file as text.
func TestJenkinsExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "jenkins", "Jenkinsfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	m := jenkinsEnvBlock.FindStringSubmatch(text)
	if m == nil {
		t.Fatal("Jenkinsfile has no pipeline environment block")
	}
	vars := map[string]string{}
	for _, l := range strings.Split(m[1], "\n") {
		if kv := jenkinsEnvLine.FindStringSubmatch(l); kv != nil {
			vars[kv[1]] = kv[2]
		}
	}
	if vars["IMAGE"] == "" || vars["SIGN_STEP_NOTARY_SERVER"] == "" {
		t.Fatalf("environment block %v: want IMAGE and SIGN_STEP_NOTARY_SERVER", vars)
	}
	steps := jenkinsSh.FindAllStringSubmatch(text, -1)
	if len(steps) != 2 {
		t.Fatalf("found %d sh ''' steps, want 2 (sign; verify and deploy)", len(steps))
	}

	repo := env.Repo("jenkins-example")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":42")
	other, _ := pushRandom(t, repo+":other")
	workspace := t.TempDir()
	for k, v := range map[string]string{
		"IMAGE": repo, "SIGN_STEP_NOTARY_SERVER": env.NotaryURL, // edited for this test's servers
		"SIGN_STEP_NOTARY_CA": env.CACertFile, "SIGN_STEP_REGISTRY_CA": env.CACertFile,
		"WORKSPACE": workspace, "BUILD_NUMBER": "7", "JENKINS_URL": "https://jenkins.example.com/",
		"HOME": t.TempDir(), "PATH": os.Getenv("PATH"),
		"IMAGE_TAG": "42", "IMAGE_DIGEST": digest, // parameters
		// withCredentials: a file credential is a temporary file's path.
		"DCT_KEY_FILE": s.keyFile, "DCT_PASSPHRASE": repoPass, "REG_USER": "jenkins", "REG_PASSWORD": "registry-pass-0123456789",
	} {
		vars[k] = v
	}
	sh := func(step string, over map[string]string) (int, string) {
		script := strings.ReplaceAll(step, "\\\n", "") // Groovy's line continuation
		script = strings.ReplaceAll(script, "/sign-step ", binary(t)+" ")
		cmd := exec.Command("sh", "-xe", "-c", script)
		cmd.Dir = workspace
		for k, v := range vars {
			if o, ok := over[k]; ok {
				v = o
			}
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}

	if code, out := sh(steps[0][1], map[string]string{"IMAGE_DIGEST": other}); code != 5 || !strings.Contains(out, "nothing signed") {
		t.Fatalf("sign with another IMAGE_DIGEST: exit %d, want 5 and nothing signed\n%s", code, out)
	}
	if code, out := sh(steps[0][1], nil); code != 0 {
		t.Fatalf("sign step: exit %d\n%s", code, out)
	}
	code, out := sh(steps[1][1], nil)
	if want := "deploying " + repo + "@" + digest; code != 0 || !strings.Contains(out, want) {
		t.Fatalf("verify and deploy step: exit %d, want %q in\n%s", code, want, out)
	}
	if signed := signedTagsIn(t, mustInspect(t, s, repo)); signed["42"] != digest+" by ci" {
		t.Errorf("docker sees %v, want 42 at %s by ci", signed, digest)
	}
	for _, f := range []string{"sign-step/report.json", "sign-step/sign.env", "sign-step/verify.env"} {
		if _, err := os.Stat(filepath.Join(workspace, f)); err != nil {
			t.Errorf("archived artifact %s: %v", f, err)
		}
	}
	assertNoSecrets(t, append(keySecrets(t, s.keyFile, repoPass), vars["REG_PASSWORD"]), out, workspace)
}
