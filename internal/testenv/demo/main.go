// Command demo is `make demo`: it starts a local registry and notary-server
// (built from the module proxy, TLS on loopback), sets a repository up with
// sign-step alone (keys, init, signer), pushes a small image from an OCI
// layout, signs two tags in one publish, verifies one, and prints the trust
// data as sign-step and (when installed) the docker CLI show it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/sign-step/sign-step/internal/testenv"
)

func main() {
	bin := flag.String("sign-step", "bin/sign-step", "sign-step binary")
	out := flag.String("out", "demo-out", "where to leave keys, the layout and the artifacts")
	flag.Parse()
	if err := demo(*bin, *out); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

const passphrase = "demo-passphrase-not-secret"

func demo(bin, out string) error {
	bin, _ = filepath.Abs(bin)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	out, _ = filepath.Abs(out)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	step("starting a registry and notary-server on loopback (first run builds them from the Go module proxy)")
	env, err := testenv.Start(ctx)
	if err != nil {
		return err
	}
	defer env.Close()
	repo := env.RegistryHost + "/demo/app"
	fmt.Printf("   registry %s, notary %s\n", env.RegistryHost, env.NotaryURL)

	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + out,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=" + passphrase,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + passphrase,
		"SIGN_STEP_NOTARY_SERVER=" + env.NotaryURL,
		"SIGN_STEP_NOTARY_CA=" + env.CACertFile,
		"SIGN_STEP_REGISTRY_CA=" + env.CACertFile,
		"SIGN_STEP_OUTPUT_DIR=" + filepath.Join(out, "artifacts"),
	}
	keys := filepath.Join(out, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	key := func(name string) string { return filepath.Join(keys, name) }
	steps := [][]string{
		{"key", "generate", "root", "--out", key("root.key")},
		{"init", repo, "--root-key", key("root.key"), "--targets-key-out", key("targets.key")},
		{"key", "generate", "demo", "--out", key("demo.key"), "--pub-out", key("demo.pub")},
		{"signer", "add", "demo", "--public-key", key("demo.pub"), "--key", key("targets.key"), repo},
	}
	for _, args := range steps {
		step("sign-step " + strings.Join(args, " "))
		if err := command(vars, bin, args...); err != nil {
			return err
		}
	}

	step("writing a small image as an OCI layout")
	img, err := crane.Image(map[string][]byte{"hello.txt": []byte("signed by sign-step\n")})
	if err != nil {
		return err
	}
	layoutDir := filepath.Join(out, "layout")
	if _, err := layout.Write(layoutDir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"sign", "--key", key("demo.key"), "--source", layoutDir, repo + ":1.0", repo + ":latest"},
		{"verify", "--signer", "demo", repo + ":1.0"},
		{"inspect", "--pretty", repo},
	} {
		step("sign-step " + strings.Join(args, " "))
		if err := command(vars, bin, args...); err != nil {
			return err
		}
	}
	if _, err := exec.LookPath("docker"); err == nil {
		if err := dockerInspect(env, out, repo); err != nil {
			return err
		}
	}
	step("artifacts in " + filepath.Join(out, "artifacts") + ": trust-inspect.json, trust-inspect.txt, report.json, sign.env")
	return nil
}

// dockerInspect shows the same trust data through the docker CLI (client
// only), the judge of compatibility.
func dockerInspect(env *testenv.Env, out, repo string) error {
	dockerConfig := filepath.Join(out, "docker")
	dir := filepath.Join(dockerConfig, "tls", strings.TrimPrefix(env.NotaryURL, "https://"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), env.CACertPEM, 0o600); err != nil {
		return err
	}
	step("docker trust inspect --pretty " + repo + " (the docker CLI's view of the same data)")
	return command([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + out, "DOCKER_CONFIG=" + dockerConfig,
		"DOCKER_CONTENT_TRUST_SERVER=" + env.NotaryURL}, "docker", "trust", "inspect", "--pretty", repo)
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func command(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return nil
}
