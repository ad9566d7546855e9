package registry

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// Every credential read from config.json is masked when it is read, with
// the user:password and Basic values derived from it; usernames are not.
func TestDockerConfigKeychainMasksCredentials(t *testing.T) {
	t.Parallel()
	basic := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	cases := []struct {
		name       string
		entry      string // the auths entry of registry.example.com
		wantMasked []string
	}{
		{"auth field", `{"auth": "` + basic("ci", "pw-from-auth-123") + `"}`,
			[]string{"pw-from-auth-123", "ci:pw-from-auth-123", basic("ci", "pw-from-auth-123")}},
		{"username and password", `{"username": "bot", "password": "pw-plain-456789"}`,
			[]string{"pw-plain-456789", "bot:pw-plain-456789", basic("bot", "pw-plain-456789")}},
		{"identity token", `{"auth": "` + basic("<token>", "") + `", "identitytoken": "idtok-abcdef123456"}`,
			[]string{"idtok-abcdef123456"}},
		{"registry token", `{"registrytoken": "regtok-abcdef123456"}`,
			[]string{"regtok-abcdef123456"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := `{"auths": {"registry.example.com": ` + c.entry + `}}`
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var masked []string
			kc, err := DockerConfigKeychain(dir, "", WithMask(func(v string) { masked = append(masked, v) }))
			if err != nil {
				t.Fatal(err)
			}
			reg, _ := name.NewRegistry("registry.example.com")
			if _, err := kc.Resolve(reg); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.wantMasked {
				if !slices.Contains(masked, w) {
					t.Errorf("%q not masked (masked %q)", w, masked)
				}
			}
			for _, user := range []string{"ci", "bot"} {
				if slices.Contains(masked, user) {
					t.Errorf("username %q masked", user)
				}
			}
			// Another registry gets nothing and masks nothing.
			masked = nil
			other, _ := name.NewRegistry("other.example.com")
			if _, err := kc.Resolve(other); err != nil || len(masked) != 0 {
				t.Errorf("other registry: err %v, masked %q", err, masked)
			}
		})
	}
}
