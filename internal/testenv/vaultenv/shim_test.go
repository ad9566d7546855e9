package vaultenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed shims must parse, and a shim whose original text is missing
// (e.g. after an sdk bump) must fail instead of silently doing nothing.
func TestShims(t *testing.T) {
	t.Parallel()
	dir, err := toolsDir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "shims", "*.shim"))
	if len(files) != 3 {
		t.Errorf("found %d shim files, want 3", len(files))
	}
	for _, f := range files {
		if _, err := parseShims(f); err != nil {
			t.Error(err)
		}
	}

	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\nfunc A() {}\nfunc A() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := shim{source: "t", file: "a.go", old: "package a\n", new: "package b\n"}
	if err := ok.apply(root); err != nil {
		t.Fatal(err)
	}
	for _, s := range []shim{
		{source: "missing", file: "a.go", old: "package a\n", new: "x"}, // already replaced
		{source: "twice", file: "a.go", old: "func A() {}\n", new: "x"}, // ambiguous
		{source: "nofile", file: "b.go", old: "x", new: "y"},
	} {
		if err := s.apply(root); err == nil || !strings.Contains(err.Error(), s.source) {
			t.Errorf("shim %s: want a loud error, got %v", s.source, err)
		}
	}
}
