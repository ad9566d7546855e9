// Package keyfile writes key files and never replaces one: an existing key
// file may hold the only copy of a repository's key.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sign-step/sign-step/internal/core"
)

// Modes of the files a key generation writes.
const (
	PrivateMode fs.FileMode = 0o600
	PublicMode  fs.FileMode = 0o644
)

// File is one file to create.
type File struct {
	Path string
	Body []byte
	Mode fs.FileMode
}

// ExistsError says something is already at Path: a file, a directory or a
// symlink, dangling or not. It is a usage error (exit code 2).
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("%s already exists; refusing to overwrite a key file (move it away or choose another path)", e.Path)
}

// exists is e classed as usage, so the exit code is right wherever it surfaces.
func exists(path string) error {
	return core.Classed(core.ClassUsage, &ExistsError{Path: path})
}

// Check reports whether every path can be created as a new file: nothing
// is there yet (not even a dangling symlink), its directory exists, and no
// path is named twice. It lets a command refuse before it changes anything
// elsewhere; Create checks again, atomically.
func Check(paths ...string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		clean := filepath.Clean(p)
		if seen[clean] {
			return core.Classedf(core.ClassUsage, "%s is named twice; the private and the public key need their own files", p)
		}
		seen[clean] = true
		if _, err := os.Lstat(p); err == nil {
			return exists(p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return core.Classed(core.ClassUsage, fmt.Errorf("checking key file: %w", err))
		}
		dir := filepath.Dir(p)
		if st, err := os.Stat(dir); err != nil {
			return core.Classed(core.ClassUsage, fmt.Errorf("checking key file %s: %w", p, err))
		} else if !st.IsDir() {
			return core.Classedf(core.ClassUsage, "checking key file %s: %s is not a directory", p, dir)
		}
	}
	return nil
}

// Create writes each file as a new file: O_CREATE|O_EXCL, which refuses
// any existing entry including a symlink, plus O_NOFOLLOW where the system
// has it. All or nothing: when one file fails, the files this call created
// are removed, and no partial file stays behind.
func Create(files ...File) error {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	if err := Check(paths...); err != nil {
		return err
	}
	for i, f := range files {
		if err := create(f); err != nil {
			for _, done := range files[:i] {
				_ = os.Remove(done.Path)
			}
			return err
		}
	}
	return nil
}

func create(f File) error {
	out, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, f.Mode)
	if errors.Is(err, fs.ErrExist) {
		return exists(f.Path)
	}
	if err != nil {
		return fmt.Errorf("creating key file: %w", err)
	}
	_, err = out.Write(f.Body)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Path) // ours: O_EXCL made it
		return fmt.Errorf("writing key file %s: %w", f.Path, err)
	}
	return nil
}
