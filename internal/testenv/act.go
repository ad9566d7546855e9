package testenv

import (
	"context"
	"path/filepath"
	"strings"
)

// Pinned nektos/act, the runner implementation the action tests run under.
const (
	actModule  = "github.com/nektos/act"
	actVersion = "v0.2.89"
)

// BuildAct builds nektos/act from the Go module proxy, or reuses the copy cached
// under os.UserCacheDir()/sign-step/tools, and returns the binary's path. `go
// install mod@version` uses the module's own go.mod and go.sum (checked against
// the checksum database), so no file of ours can change what is built.
func BuildAct(ctx context.Context) (string, error) {
	goVersion, err := goCmd(ctx, "", nil, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	dir, err := cached(strings.TrimSpace(goVersion), "act", actVersion, []byte(actModule), func(out string) error {
		_, err := goCmd(ctx, out, []string{"GOBIN=" + out}, "install", actModule+"@"+actVersion)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "act"), nil
}
