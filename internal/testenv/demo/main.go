// Command demo is `make demo`: it starts a local registry and notary-server
// (built from the module proxy, TLS on loopback), makes a signer with the
// docker CLI, pushes a small image from an OCI layout with sign-step, signs
// two tags in one publish, and prints the trust data as docker shows it.
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
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("the demo makes its signer with the docker CLI (client only, no daemon needed): %w", err)
	}
	bin, _ = filepath.Abs(bin)
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	out, _ = filepath.Abs(out)
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

	// docker's own client state: trust dir, and the CA under tls/<host>/.
	dockerConfig := filepath.Join(out, "docker")
	for _, host := range []string{env.RegistryHost, strings.TrimPrefix(env.NotaryURL, "https://")} {
		dir := filepath.Join(dockerConfig, "tls", host)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "ca.crt"), env.CACertPEM, 0o600); err != nil {
			return err
		}
	}
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + out,
		"DOCKER_CONFIG=" + dockerConfig,
		"DOCKER_CONTENT_TRUST_SERVER=" + env.NotaryURL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=" + passphrase,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + passphrase,
	}
	keys := filepath.Join(out, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	step("docker trust key generate demo; docker trust signer add demo " + repo)
	if err := command(vars, "docker", "trust", "key", "generate", "demo", "--dir", keys); err != nil {
		return err
	}
	if err := command(vars, "docker", "trust", "signer", "add", "--key", filepath.Join(keys, "demo.pub"), "demo", repo); err != nil {
		return err
	}
	keyFile, err := findKey(filepath.Join(dockerConfig, "trust", "private"), "demo")
	if err != nil {
		return err
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

	step("sign-step sign --source " + layoutDir + " " + repo + ":1.0 " + repo + ":latest")
	signVars := append(vars,
		"SIGN_STEP_KEY=file://"+keyFile,
		"SIGN_STEP_NOTARY_CA="+env.CACertFile,
		"SIGN_STEP_REGISTRY_CA="+env.CACertFile,
		"SIGN_STEP_OUTPUT_DIR="+filepath.Join(out, "artifacts"),
	)
	if err := command(signVars, bin, "sign", "--source", layoutDir, repo+":1.0", repo+":latest"); err != nil {
		return err
	}
	step("docker trust inspect --pretty " + repo)
	if err := command(vars, "docker", "trust", "inspect", "--pretty", repo); err != nil {
		return err
	}
	step("artifacts in " + filepath.Join(out, "artifacts") + ": trust-inspect.json, trust-inspect.txt, report.json")
	return nil
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

// findKey returns the private key file docker wrote for role.
func findKey(dir, role string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "role: "+role+"\n") {
			return f, nil
		}
	}
	return "", fmt.Errorf("docker wrote no key for %s in %s", role, dir)
}
