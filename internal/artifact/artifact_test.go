package artifact

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/redact"
)

func TestSplit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		wd, dir, anchor, rel string
	}{
		{"/ws", "sign-step", "/ws", "sign-step"},
		{"/ws", "out/sign", "/ws", "out/sign"},
		{"/ws", ".", "/ws", "."},
		{"/ws", "/ws/sign-step", "/ws", "sign-step"},
		{"/ws", "/ws/a/../b", "/ws", "b"},
		{"/ws", "/tmp/runner/sign-step", "/tmp/runner", "sign-step"},
		{"/ws", "../elsewhere/out", "/elsewhere", "out"},
		{"/ws", "/", "/", "."},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			anchor, rel := split(filepath.FromSlash(tc.wd), filepath.FromSlash(tc.dir))
			if anchor != filepath.FromSlash(tc.anchor) || rel != filepath.FromSlash(tc.rel) {
				t.Errorf("split(%s, %s) = %s, %s; want %s, %s", tc.wd, tc.dir, anchor, rel, tc.anchor, tc.rel)
			}
		})
	}
}

// TestWriteStaysInside plants symlinks in a checkout (the working
// directory) as a hostile repository would, and writes report.json.
func TestWriteStaysInside(t *testing.T) {
	t.Parallel()
	const original = "outside, must stay\n"
	type layout struct{ ws, outside string }
	cases := []struct {
		name    string
		dir     func(l layout) string        // the output directory
		plant   func(t *testing.T, l layout) // symlinks
		refused bool                         // else written
		written func(l layout) string        // where report.json lands
	}{
		{"plain", func(l layout) string { return "sign-step" }, func(*testing.T, layout) {}, false,
			func(l layout) string { return filepath.Join(l.ws, "sign-step", "report.json") }},
		{"file symlinked outside", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			mkdir(t, filepath.Join(l.ws, "sign-step"))
			link(t, filepath.Join(l.outside, "target"), filepath.Join(l.ws, "sign-step", "report.json"))
		}, false, func(l layout) string { return filepath.Join(l.ws, "sign-step", "report.json") }},
		{"file symlinked to a new outside file", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			mkdir(t, filepath.Join(l.ws, "sign-step"))
			link(t, filepath.Join(l.outside, "new"), filepath.Join(l.ws, "sign-step", "report.json"))
		}, false, func(l layout) string { return filepath.Join(l.ws, "sign-step", "report.json") }},
		{"file symlinked inside the checkout", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			mkdir(t, filepath.Join(l.ws, "sign-step"))
			if err := os.WriteFile(filepath.Join(l.ws, "Makefile"), []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			link(t, "../Makefile", filepath.Join(l.ws, "sign-step", "report.json"))
		}, false, func(l layout) string { return filepath.Join(l.ws, "sign-step", "report.json") }},
		{"output directory symlinked outside", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			link(t, filepath.Join(l.outside, "dir"), filepath.Join(l.ws, "sign-step"))
		}, true, nil},
		{"output directory symlinked outside, absolute", func(l layout) string { return filepath.Join(l.ws, "sign-step") }, func(t *testing.T, l layout) {
			link(t, filepath.Join(l.outside, "dir"), filepath.Join(l.ws, "sign-step"))
		}, true, nil},
		{"relative symlink climbing out", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			link(t, "../outside/dir", filepath.Join(l.ws, "sign-step"))
		}, true, nil},
		{"parent component symlinked outside", func(l layout) string { return "out/sign-step" }, func(t *testing.T, l layout) {
			link(t, filepath.Join(l.outside, "dir"), filepath.Join(l.ws, "out"))
		}, true, nil},
		{"output directory outside the checkout, symlinked", func(l layout) string { return filepath.Join(l.outside, "temp", "sign-step") }, func(t *testing.T, l layout) {
			mkdir(t, filepath.Join(l.outside, "temp"))
			link(t, filepath.Join(l.outside, "dir"), filepath.Join(l.outside, "temp", "sign-step"))
		}, true, nil},
		{"output directory symlinked inside the checkout", func(l layout) string { return "sign-step" }, func(t *testing.T, l layout) {
			mkdir(t, filepath.Join(l.ws, "real"))
			link(t, "real", filepath.Join(l.ws, "sign-step"))
		}, false, func(l layout) string { return filepath.Join(l.ws, "real", "report.json") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			l := layout{ws: filepath.Join(base, "ws"), outside: filepath.Join(base, "outside")}
			mkdir(t, l.ws)
			mkdir(t, filepath.Join(l.outside, "dir"))
			if err := os.WriteFile(filepath.Join(l.outside, "target"), []byte(original), 0o644); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, l)
			d := Dir{path: tc.dir(l), wd: l.ws}
			err := d.Write("report.json", []byte("{}\n"))
			switch {
			case tc.refused && err == nil:
				t.Fatal("written, want refused")
			case tc.refused:
				if core.ClassOf(err) != core.ClassUsage || !strings.Contains(err.Error(), "leads out of") || strings.Contains(err.Error(), "\n") {
					t.Errorf("refusal %q (class %d), want one usage line saying a symlink leads out", err, core.ClassOf(err))
				}
			case err != nil:
				t.Fatalf("Write: %v", err)
			default:
				st, err := os.Lstat(tc.written(l))
				b, _ := os.ReadFile(tc.written(l))
				if err != nil || !st.Mode().IsRegular() || string(b) != "{}\n" {
					t.Errorf("%s: %v %v %q, want a regular file with the report", tc.written(l), st, err, b)
				}
			}
			// Nothing outside changed, nothing new appeared there.
			if b, err := os.ReadFile(filepath.Join(l.outside, "target")); err != nil || string(b) != original {
				t.Errorf("outside target now %q, %v", b, err)
			}
			if b, err := os.ReadFile(filepath.Join(l.ws, "Makefile")); err == nil && string(b) != original {
				t.Errorf("Makefile in the checkout now %q", b)
			}
			for _, dir := range []string{l.outside, filepath.Join(l.outside, "dir")} {
				for _, e := range entries(t, dir) {
					if e != "dir" && e != "target" && e != "temp" {
						t.Errorf("%s appeared in %s", e, dir)
					}
				}
			}
		})
	}
}

func TestWriteContent(t *testing.T) {
	t.Parallel()
	secrets := &redact.Set{}
	secrets.Mask("s3cret-passphrase")
	cases := []struct {
		name   string
		redact bool
		write  func(d Dir) error
		want   string
	}{
		{"bytes as given", false, func(d Dir) error { return d.Write("a.json", []byte("[\n  {\"Name\": \"x\"}\n]\n")) }, "[\n  {\"Name\": \"x\"}\n]\n"},
		{"no secret: unchanged by the redactor", true, func(d Dir) error { return d.Write("a.json", []byte("keep <me> as is\n")) }, "keep <me> as is\n"},
		{"secret redacted", true, func(d Dir) error { return d.Write("a.json", []byte("pass=s3cret-passphrase\n")) }, "pass=***\n"},
		{"JSON indented with a newline", true, func(d Dir) error { return d.WriteJSON("a.json", map[string]string{"k": "s3cret-passphrase"}) }, "{\n  \"k\": \"***\"\n}\n"},
		{"replaces an older file", false, func(d Dir) error {
			if err := d.Write("a.json", []byte("old old old\n")); err != nil {
				return err
			}
			return d.Write("a.json", []byte("new\n"))
		}, "new\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "out", "deep")
			d := New(dir, nil)
			if tc.redact {
				d = New(dir, secrets.Writer)
			}
			if err := tc.write(d); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "a.json"))
			if err != nil || string(b) != tc.want {
				t.Errorf("a.json = %q, %v; want %q", b, err, tc.want)
			}
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("directory holds %v, want a.json alone (no temporary file left)", got)
			}
		})
	}
}

func TestWriteRefusesPaths(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", ".", "..", "../x", "a/b"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			d := New(filepath.Join(base, "out"), nil)
			if err := d.Write(name, []byte("x")); err == nil {
				t.Errorf("Write(%q) succeeded", name)
			}
			if got := entries(t, base); len(got) != 0 {
				t.Errorf("Write(%q) left %v", name, got)
			}
		})
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("no symlinks here: %v", err)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
