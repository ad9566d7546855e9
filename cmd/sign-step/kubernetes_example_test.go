package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sContainer is what TestKubernetesExample reads of the CronJob's container.
type k8sContainer struct {
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name        string `yaml:"name"`
		MountPath   string `yaml:"mountPath"`
		SubPathExpr string `yaml:"subPathExpr"`
	} `yaml:"volumeMounts"`
}

var k8sVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestKubernetesExample runs examples/kubernetes/cronjob.yaml's container, one
// process per completion index as the Indexed Job's pods: its args and env
// with $(VAR) expanded as the kubelet does (JOB_COMPLETION_INDEX set), the
// Secret's values substituted, each volume a directory (subPathExpr
// expanded) and the mount paths in args and env mapped to them. Every
// repository is re-signed by exactly one shard, and each shard's trust cache
// survives into the next night's run. Kubernetes itself is not run.
func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot, "examples", "kubernetes", "cronjob.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cron struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Completions int `yaml:"completions"`
					Template    struct {
						Spec struct {
							Containers []k8sContainer `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(strings.NewReader(string(b))).Decode(&cron); err != nil {
		t.Fatal(err)
	}
	job := cron.Spec.JobTemplate.Spec
	if len(job.Template.Spec.Containers) != 1 || job.Completions < 2 {
		t.Fatalf("want one container and an Indexed Job of several completions, got %+v", job)
	}
	c := job.Template.Spec.Containers[0]

	// Eight repositories, each signed once: enough that every shard of four
	// is likely to get some, and resign has something to re-sign.
	var repos []string
	for range 8 {
		repos = append(repos, env.Repo("k8s-example"))
	}
	s := dockerSigner(t, "ci", repos...)
	for _, r := range repos {
		pushRandom(t, r+":v1")
		mustRun(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}, "sign", r+":v1")
	}
	key, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"dct-delegation/passphrase": repoPass}
	volumes := t.TempDir()
	files := map[string]map[string]string{ // volume → file → content
		"keys":   {"delegation.key": string(key)},
		"docker": {"config.json": `{"auths":{}}`},
		"config": {"repositories.txt": "# the fleet\n" + strings.Join(repos, "\n") + "\n"},
	}
	nights := []string{"first", "second"}
	seen := map[string]int{}
	for _, night := range nights {
		for i := range job.Completions {
			index := strconv.Itoa(i)
			vars := map[string]string{"JOB_COMPLETION_INDEX": index, "HOME": t.TempDir(), "PATH": os.Getenv("PATH"),
				"SIGN_STEP_NOTARY_CA": env.CACertFile, "SIGN_STEP_REGISTRY_CA": env.CACertFile}
			expand := func(v string) string {
				return k8sVarRef.ReplaceAllStringFunc(v, func(ref string) string { return vars[k8sVarRef.FindStringSubmatch(ref)[1]] })
			}
			var mounts []string // mountPath, dir pairs for strings.NewReplacer
			for _, m := range c.VolumeMounts {
				dir := filepath.Join(volumes, m.Name)
				if m.Name == "out" {
					dir = filepath.Join(volumes, night, index, "out") // emptyDir: per pod
				}
				if m.SubPathExpr != "" {
					dir = filepath.Join(dir, expand(m.SubPathExpr))
				}
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				for name, content := range files[m.Name] {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				mounts = append(mounts, m.MountPath, dir)
			}
			paths := strings.NewReplacer(mounts...)
			for _, e := range c.Env {
				v := expand(e.Value)
				if e.ValueFrom != nil {
					ref := e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
					if v = secrets[ref]; v == "" {
						t.Fatalf("env %s: no Secret value %s in this test", e.Name, ref)
					}
				}
				if e.Name == "SIGN_STEP_NOTARY_SERVER" {
					v = env.NotaryURL // as a user edits it
				}
				vars[e.Name] = paths.Replace(v)
			}
			var args []string
			for _, a := range c.Args {
				args = append(args, paths.Replace(expand(a)))
			}
			cmd := exec.Command(binary(t), args...)
			for k, v := range vars {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s night, pod %s: sign-step %s: %v\n%s", night, index, strings.Join(args, " "), err, out)
			}
			if night == "first" {
				// stdout: one "REPOSITORY status" line per repository.
				for _, l := range strings.Split(string(out), "\n") {
					if f := strings.Fields(l); len(f) > 1 && slices.Contains(repos, f[0]) {
						seen[f[0]]++
					}
				}
			}
		}
	}
	for _, r := range repos {
		if seen[r] != 1 {
			t.Errorf("%s named by %d shards, want exactly 1", r, seen[r])
		}
	}
	caches, _ := filepath.Glob(filepath.Join(volumes, "trust", "shard-*", "*"))
	if len(caches) == 0 {
		t.Errorf("no trust cache written under the trust volume's shard-N directories")
	}
}
