package testenv

import (
	"context"
	"path/filepath"
	"strings"
)

// Pinned tools installed from the Go module proxy: nektos/act, the runner
// implementation the action tests run under, and the cosign CLI, judge of
// the cosign signatures sign-step writes (cold: several minutes).
const (
	actModule     = "github.com/nektos/act"
	actVersion    = "v0.2.89"
	cosignPackage = "github.com/sigstore/cosign/v2/cmd/cosign"
	cosignVersion = "v2.6.5"
)

// BuildAct builds nektos/act (or reuses the cached copy) and returns its path.
func BuildAct(ctx context.Context) (string, error) {
	return goInstallTool(ctx, "act", actModule, actVersion)
}

// CosignCLI builds the cosign CLI (or reuses the cached copy) and returns its path.
func CosignCLI(ctx context.Context) (string, error) {
	return goInstallTool(ctx, "cosign", cosignPackage, cosignVersion)
}

// goInstallTool runs `go install pkg@version` into the tools cache under
// os.UserCacheDir()/sign-step/tools (once, safe from several processes) and
// returns the binary's path. `go install mod@version` uses the module's own
// go.mod and go.sum (checked against the checksum database) wherever it
// runs, so no file of ours can change what is built.
func goInstallTool(ctx context.Context, name, pkg, version string) (string, error) {
	goVersion, err := goCmd(ctx, "", nil, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	dir, err := cached(strings.TrimSpace(goVersion), name, version, []byte(pkg), func(out string) error {
		_, err := goCmd(ctx, out, []string{"GOBIN=" + out}, "install", pkg+"@"+version)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}
