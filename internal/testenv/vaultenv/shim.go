package vaultenv

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A shim is one exact text replacement in the vault sdk copy. The shims live
// in tools/vault/shims/*.shim (format below) so that they are reviewed as
// data, next to the tools module they patch, and hashed into the cache key.
//
//	# comment (only outside a block)
//	file: path/inside/sdk.go
//	<<<<<<< old
//	exact original text (must occur exactly once)
//	=======
//	replacement text
//	>>>>>>> new
type shim struct {
	source   string // "name.shim:line", for error messages
	file     string
	old, new string
}

const (
	markOld = "<<<<<<< old"
	markSep = "======="
	markNew = ">>>>>>> new"
)

// parseShims reads one .shim file.
func parseShims(path string) ([]shim, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		shims []shim
		file  string
		cur   *shim
		buf   []string
		state int // 0 outside, 1 old text, 2 new text
	)
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		where := fmt.Sprintf("%s:%d", filepath.Base(path), n)
		switch {
		case state == 0 && (line == "" || strings.HasPrefix(line, "#")):
		case state == 0 && strings.HasPrefix(line, "file:"):
			file = strings.TrimSpace(strings.TrimPrefix(line, "file:"))
		case state == 0 && line == markOld:
			if file == "" {
				return nil, fmt.Errorf("%s: block before any 'file:' line", where)
			}
			cur, buf, state = &shim{source: where, file: file}, nil, 1
		case state == 1 && line == markSep:
			cur.old, buf, state = joinLines(buf), nil, 2
		case state == 2 && line == markNew:
			cur.new, state = joinLines(buf), 0
			shims = append(shims, *cur)
		case state != 0:
			buf = append(buf, line)
		default:
			return nil, fmt.Errorf("%s: unexpected line %q", where, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if state != 0 {
		return nil, fmt.Errorf("%s: unterminated block", filepath.Base(path))
	}
	if len(shims) == 0 {
		return nil, fmt.Errorf("%s: no edits", filepath.Base(path))
	}
	return shims, nil
}

// joinLines keeps a trailing newline per line so that "old" text can match
// (and delete) whole lines.
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// apply edits the file under root. It fails loudly unless the original text
// occurs exactly once: a shim that silently stops matching after an sdk bump
// would produce a Vault that differs from what the tests were written for.
func (s shim) apply(root string) error {
	path := filepath.Join(root, filepath.FromSlash(s.file))
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("shim %s: %w", s.source, err)
	}
	text := string(data)
	if n := strings.Count(text, s.old); n != 1 {
		return fmt.Errorf("shim %s: expected original text exactly once in %s, found %d times:\n%s", s.source, s.file, n, s.old)
	}
	return os.WriteFile(path, []byte(strings.Replace(text, s.old, s.new, 1)), 0o644)
}

// applyShims applies every tools/vault/shims/*.shim file, in name order, to
// the sdk copy at sdkDir.
func applyShims(shimDir, sdkDir string) error {
	files, err := filepath.Glob(filepath.Join(shimDir, "*.shim"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no shims in %s", shimDir)
	}
	for _, f := range files { // Glob returns sorted names
		shims, err := parseShims(f)
		if err != nil {
			return err
		}
		for _, s := range shims {
			if err := s.apply(sdkDir); err != nil {
				return err
			}
		}
	}
	return nil
}
