package keys

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// Files writes private keys 0600 and public keys 0644, and refuses a path
// that exists (usage error, nothing written).
func TestFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "ci.key"), filepath.Join(dir, "ci.pub")
	if err := (Files{}).Create(sign.KeyFile{Path: priv, Body: []byte("k")}, sign.KeyFile{Path: pub, Body: []byte("p"), Public: true}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{priv: 0o600, pub: 0o644} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && st.Mode().Perm()&^want != 0 {
			t.Errorf("%s: mode %v, want at most %v", path, st.Mode().Perm(), want)
		}
	}
	other := filepath.Join(dir, "other.key")
	err := (Files{}).Create(sign.KeyFile{Path: other, Body: []byte("k")}, sign.KeyFile{Path: pub, Body: []byte("p2"), Public: true})
	if core.ClassOf(err) != core.ClassUsage {
		t.Fatalf("existing file: %v (class %v)", err, core.ClassOf(err))
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("wrote %s although %s exists", other, pub)
	}
	if err := (Files{}).Check(other); err != nil {
		t.Errorf("Check of a new path: %v", err)
	}
}
