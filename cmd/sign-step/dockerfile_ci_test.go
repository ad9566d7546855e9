package main

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// repoRoot is where the Dockerfile, Makefile and action.yml live.
const repoRoot = "../.."

// stage is one FROM ... block of a Dockerfile.
type stage struct {
	from, name string
	platform   string   // FROM --platform=...
	instrs     []string // "COPY --from=build /a /b", continuation lines joined
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	return parseDockerfileAt(t, "Dockerfile")
}

func parseDockerfileAt(t *testing.T, name string) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if strings.EqualFold(f[0], "FROM") {
			s := stage{}
			if p, ok := strings.CutPrefix(f[1], "--platform="); ok {
				s.platform, f = p, f[1:]
			}
			s.from = f[1]
			if len(f) == 4 && strings.EqualFold(f[2], "AS") {
				s.name = f[3]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, line)
		}
	}
	return stages
}

// TestDockerfileRuntimeStages checks that the images add only the binary and
// the CA bundle (to scratch, or busybox for the shell variant), start
// /sign-step, and that every stage runs as a non-root user, the last one
// (what a plain `docker build .` builds) included.
func TestDockerfileRuntimeStages(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}
	wantCopies := []string{
		"COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
		"COPY --from=build /out/sign-step /sign-step",
	}
	cases := []struct {
		name     string
		st       stage
		from     string
		wantUser bool
	}{
		{"final (what docker build . builds)", stages[len(stages)-1], "scratch", true},
		{"nonroot", byName["nonroot"], "scratch", true},
		{"shell", byName["shell"], "busybox:1.37-musl", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The digest pin is TestDockerfileBaseImagesPinned's concern.
			if from, _, _ := strings.Cut(tc.st.from, "@"); from != tc.from {
				t.Fatalf("stage FROM %q, want %s", tc.st.from, tc.from)
			}
			var copies []string
			var user, entry string
			for _, in := range tc.st.instrs {
				switch op := strings.ToUpper(strings.Fields(in)[0]); op {
				case "COPY":
					copies = append(copies, in)
				case "USER":
					user = strings.Fields(in)[1]
				case "ENTRYPOINT":
					entry = strings.TrimSpace(in[len(op):])
				default:
					t.Errorf("unexpected instruction in a runtime stage: %s", in)
				}
			}
			if strings.Join(copies, "\n") != strings.Join(wantCopies, "\n") {
				t.Errorf("copies:\n%s\nwant only the binary and the CA bundle:\n%s", strings.Join(copies, "\n"), strings.Join(wantCopies, "\n"))
			}
			if entry != `["/sign-step"]` {
				t.Errorf("ENTRYPOINT %s, want [\"/sign-step\"]", entry)
			}
			nonRoot := user != "" && !strings.HasPrefix(user, "0") && !strings.HasPrefix(user, "root")
			if nonRoot != tc.wantUser {
				t.Errorf("USER %q: non-root %v, want %v", user, nonRoot, tc.wantUser)
			}
		})
	}
}

// buildCommand is the Dockerfile's go build line, and checks that its flags
// are the Makefile's, for the target platform, with -mod=readonly.
func buildCommand(t *testing.T) string {
	t.Helper()
	var run string
	for _, s := range parseDockerfile(t) {
		for _, in := range s.instrs {
			if strings.HasPrefix(in, "RUN ") && strings.Contains(in, "go build") {
				run = strings.TrimPrefix(in, "RUN ")
			}
		}
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.*)$`).FindSubmatch(mk)
	if ldflags == nil || !bytes.Contains(mk, []byte("CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'")) {
		t.Fatalf("the Makefile's build line or LDFLAGS changed; update this test and the Dockerfile")
	}
	want := `CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -mod=readonly -trimpath -ldflags "` + strings.ReplaceAll(string(ldflags[1]), "$(VERSION)", "${VERSION}") + `" -o /out/sign-step ./cmd/sign-step`
	if run != want {
		t.Fatalf("Dockerfile build:\n%s\nwant the Makefile's flags:\n%s", run, want)
	}
	return run
}

// TestDockerfileBuildIsStatic runs the Dockerfile's build command here and
// checks the binary has no ELF interpreter and no shared libraries, so it
// runs on scratch.
func TestDockerfileBuildIsStatic(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildStatic(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has an ELF interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	if fi, err := os.Stat(bin); err == nil {
		t.Logf("static binary: %.1f MB", float64(fi.Size())/1e6)
	}
	if out, err := exec.Command("file", bin).Output(); err == nil {
		t.Logf("file: %s", strings.TrimSpace(string(out)))
		if !strings.Contains(string(out), "statically linked") {
			t.Errorf("file(1) does not call it statically linked: %s", out)
		}
	}
}

func buildStatic(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sign-step")
	cmdline := strings.NewReplacer("${VERSION}", "ci-test", "/out/sign-step", out,
		"${TARGETOS}", runtime.GOOS, "${TARGETARCH}", runtime.GOARCH).Replace(buildCommand(t))
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	return out
}

// TestDockerImageRuns builds the final stage for real where a Docker engine
// answers. The engine here cannot pull golang, so the build stage is replaced
// by a context holding the binary (built with the Dockerfile's command) and
// this machine's CA bundle; the final stage's own instructions are kept.
func TestDockerImageRuns(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds an image")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker engine (docker info failed): the image is not built here")
	}
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	ca, err := os.ReadFile(bundle)
	if err != nil {
		t.Skipf("no CA bundle at %s to put in the image", bundle)
	}
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	ctx := t.TempDir()
	bin := buildStatic(t)
	if b, err := os.ReadFile(bin); err != nil || os.WriteFile(filepath.Join(ctx, "sign-step"), b, 0o755) != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM scratch\n"
	for _, in := range final.instrs {
		if strings.HasPrefix(in, "COPY --from=build ") {
			f := strings.Fields(in)
			in = "COPY " + filepath.Base(f[2]) + " " + f[3]
		}
		df += in + "\n"
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := "sign-step-ci-test:" + strings.ToLower(filepath.Base(filepath.Dir(ctx)))
	if b, err := exec.Command("docker", "build", "-q", "-t", tag, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, b)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := exec.Command("docker", "run", "--rm", tag, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "sign-step") {
		t.Fatalf("docker run %s --help: %v\n%s", tag, err, out)
	}
	user, _ := exec.Command("docker", "image", "inspect", "-f", "{{.Config.User}}", tag).Output()
	size, _ := exec.Command("docker", "image", "inspect", "-f", "{{.Size}}", tag).Output()
	t.Logf("image %s: user %s, %s bytes", tag, strings.TrimSpace(string(user)), strings.TrimSpace(string(size)))
	var n int64
	for _, c := range strings.TrimSpace(string(size)) {
		n = n*10 + int64(c-'0')
	}
	if n <= 0 || n > 25<<20 {
		t.Errorf("image size %d bytes, want under 25 MB", n)
	}
}
