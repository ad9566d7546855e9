package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/redact"
)

// TestKeychainRoutes checks which login each registry of a run gets: the
// destination login only the destination hosts, the source login only the
// source host, docker's config.json or nobody the rest.
func TestKeychainRoutes(t *testing.T) {
	t.Parallel()
	config := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		"config.example": map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("cfg:cfg-pass"))},
		"src.example":    map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("cfg-src:cfg-src-pass"))},
	}})
	if err := os.WriteFile(filepath.Join(config, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	layoutDir := t.TempDir() // an existing directory: a local --source

	type login struct{ user, pass string }
	dest := login{"ci", "dest-pass"}
	src := login{"reader", "src-pass"}
	cfgLogin := login{"cfg", "cfg-pass"}
	cfgSrc := login{"cfg-src", "cfg-src-pass"}
	none := login{}
	refs := []string{"reg.example:5000/team/app:v1", "docker.io/library/app:v1"}
	notaryAuth := base64.StdEncoding.EncodeToString([]byte("ci:dest-pass"))

	tests := []struct {
		name     string
		flags    map[string]string // registryUsername, registryPassword, notaryAuth, sourceUsername, sourcePassword
		source   string
		wantCode core.Class       // 0: built
		want     map[string]login // registry host -> what it gets
	}{
		{"destination login", map[string]string{"ru": "ci", "rp": "dest-pass"}, "src.example/img:1", 0, map[string]login{
			"reg.example:5000": dest, "index.docker.io": dest, "registry-1.docker.io": dest,
			"reg.example:5001": none, "src.example": cfgSrc, "config.example": cfgLogin, "evil.example": none,
		}},
		{"notary-auth login", map[string]string{"na": notaryAuth}, "src.example/img:1", 0, map[string]login{
			"reg.example:5000": dest, "docker.io": dest, "src.example": cfgSrc, "evil.example": none,
		}},
		{"source login", map[string]string{"ru": "ci", "rp": "env://DEST", "su": "reader", "sp": "env://SRC"}, "src.example/img:1", 0, map[string]login{
			"reg.example:5000": dest, "src.example": src, "config.example": cfgLogin, "evil.example": none,
		}},
		{"source login alone", map[string]string{"su": "reader", "sp": "src-pass"}, "src.example/img:1", 0, map[string]login{
			"reg.example:5000": none, "src.example": src, "config.example": cfgLogin,
		}},
		{"no login flags", nil, "", 0, map[string]login{
			"reg.example:5000": none, "src.example": cfgSrc, "config.example": cfgLogin,
		}},
		{"source on a destination host (alias)", map[string]string{"ru": "ci", "rp": "dest-pass", "su": "reader", "sp": "src-pass"}, "index.docker.io/library/base:1", core.ClassUsage, nil},
		{"source login for a local source", map[string]string{"su": "reader", "sp": "src-pass"}, layoutDir, core.ClassUsage, nil},
		{"source login without a source", map[string]string{"su": "reader", "sp": "src-pass"}, "", core.ClassUsage, nil},
		{"source username alone", map[string]string{"su": "reader"}, "src.example/img:1", core.ClassUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"DEST": "dest-pass", "SRC": "src-pass"}
			a := &app{getenv: func(k string) string { return vars[k] }, secrets: &redact.Set{}}
			a.common.dockerConfig = config
			a.common.registryUsername, a.common.registryPassword = tt.flags["ru"], tt.flags["rp"]
			a.vault.f.notaryAuth = tt.flags["na"]
			route := loginRoute{destinations: refs, source: tt.source, sourceLogin: sourceLogin{username: tt.flags["su"], password: tt.flags["sp"]}}
			kc, err := a.keychain(t.Context(), route)
			if tt.wantCode != 0 {
				if core.ClassOf(err) != tt.wantCode {
					t.Fatalf("err %v (class %d), want class %d", err, core.ClassOf(err), tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for host, want := range tt.want {
				reg, err := name.NewRegistry(host, name.StrictValidation)
				if err != nil {
					t.Fatal(err)
				}
				auth, err := kc.Resolve(reg)
				if err != nil {
					t.Fatal(err)
				}
				c, err := auth.Authorization()
				if err != nil {
					t.Fatal(err)
				}
				if got := (login{c.Username, c.Password}); got != want {
					t.Errorf("%s gets %+v, want %+v", host, got, want)
				}
			}
		})
	}
}
