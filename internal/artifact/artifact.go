// Package artifact writes the files a run leaves for later CI steps (the
// report, docker's trust inspect output, sign.env) into one output
// directory, which in CI often lies in a checkout an attacker may have
// filled with symlinks.
//
// Every write goes through an os.Root opened at the anchor: the working
// directory when the output directory is inside it (./sign-step, the
// action's $GITHUB_WORKSPACE/sign-step), else the output directory's parent
// ($RUNNER_TEMP for $RUNNER_TEMP/sign-step). No symlink below the anchor can
// lead a write out of it: a directory that does (os.Root counts every
// absolute symlink target as leading out) is refused, and an artifact
// file that is a symlink is replaced by a regular file, its target never
// opened. Files appear whole (written aside, then renamed into place).
package artifact

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// Mode of every artifact: later steps, possibly as another user, read them.
const Mode fs.FileMode = 0o644

// Dir is an output directory; the zero value is not usable, use New.
type Dir struct {
	path   string
	redact func(io.Writer) io.Writer
	wd     string // the working directory; "" for the process's
}

// New returns the output directory path whose files pass through redact
// (the run's redact.Set Writer; nil for none) on their way to disk.
func New(path string, redact func(io.Writer) io.Writer) Dir {
	return Dir{path: path, redact: redact}
}

// Path is where the directory is, as given.
func (d Dir) Path() string { return d.path }

// Prepare creates the directory, so a bad output directory is refused
// before anything is published.
func (d Dir) Prepare() error {
	r, err := d.open()
	if err != nil {
		return err
	}
	return r.Close()
}

// WriteJSON writes v indented by two spaces, with a final newline.
func (d Dir) WriteJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return d.Write(name, append(b, '\n'))
}

// Write replaces file name (a plain file name) of the directory with body,
// redacted.
func (d Dir) Write(name string, body []byte) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("writing artifact %q: not a plain file name", name)
	}
	var buf bytes.Buffer
	if err := d.filter(&buf, body); err != nil {
		return fmt.Errorf("redacting artifact %s: %w", name, err)
	}
	root, err := d.open()
	if err != nil {
		return err
	}
	defer root.Close()
	tmp, f, err := createTemp(root, name)
	if err != nil {
		return fmt.Errorf("writing artifact %s: %w", filepath.Join(d.path, name), err)
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// rename replaces the entry, a symlink included, never its target.
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("writing artifact %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

func (d Dir) filter(dst io.Writer, body []byte) error {
	if d.redact == nil {
		_, err := dst.Write(body)
		return err
	}
	w := d.redact(dst)
	_, err := w.Write(body)
	if c, ok := w.(io.Closer); ok { // a buffering redactor flushes on Close
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// open creates the directory below its anchor and returns a root at it.
func (d Dir) open() (*os.Root, error) {
	wd := d.wd
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("writing artifacts: %w", err)
		}
	}
	anchor, rel := split(wd, d.path)
	// The anchor is trusted as it is: creating it as MkdirAll always did.
	if err := os.MkdirAll(anchor, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	top, err := os.OpenRoot(anchor)
	if err != nil {
		return nil, fmt.Errorf("opening output directory: %w", err)
	}
	defer top.Close()
	if err := top.MkdirAll(rel, 0o755); err != nil {
		return nil, d.explain(anchor, err)
	}
	r, err := top.OpenRoot(rel)
	if err != nil {
		return nil, d.explain(anchor, err)
	}
	return r, nil
}

// explain turns os.Root's refusal into one line that says what to fix.
func (d Dir) explain(anchor string, err error) error {
	// os.Root has no exported error for an escape; its message is stable.
	if strings.Contains(err.Error(), "path escapes from parent") {
		return core.Classedf(core.ClassUsage, "writing artifacts to %s: a symlink there leads out of %s; not following it (remove it or choose another --output-dir)", d.path, anchor)
	}
	return fmt.Errorf("creating output directory %s: %w", d.path, err)
}

// split finds dir's anchor (trusted as it is) and the path below it, where
// no symlink may lead out.
func split(wd, dir string) (anchor, rel string) {
	abs := filepath.Clean(dir)
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(wd, dir)
	}
	if r, err := filepath.Rel(wd, abs); err == nil && filepath.IsLocal(r) {
		return wd, r
	}
	parent := filepath.Dir(abs)
	if parent == abs {
		return abs, "."
	}
	return parent, filepath.Base(abs)
}

// createTemp makes a new file next to name; O_EXCL, so a planted entry of
// the same name is never opened.
func createTemp(root *os.Root, name string) (string, *os.File, error) {
	for range 5 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		tmp := "." + name + "." + hex.EncodeToString(b[:]) + ".tmp"
		f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, f, err
	}
	return "", nil, errors.New("no free temporary name")
}
