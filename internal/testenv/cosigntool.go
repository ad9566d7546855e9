package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// The cosign CLI is a judge of the cosign signatures sign-step writes; it is
// built from the module proxy like the servers (cold: several minutes).
const (
	cosignPackage = "github.com/sigstore/cosign/v2/cmd/cosign"
	cosignVersion = "v2.6.5"
)

// CosignCLI builds (or reuses the cached) cosign CLI and returns its path.
// It is safe to call from several processes.
func CosignCLI(ctx context.Context) (string, error) {
	goenv, err := goCmd(ctx, "", nil, "env", "GOVERSION")
	if err != nil {
		return "", err
	}
	dir, err := cached(strings.TrimSpace(goenv), "cosign", cosignVersion, []byte(cosignPackage), func(out string) error {
		work, err := os.MkdirTemp("", "sign-step-cosign-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		// Outside any module, so the install uses cosign's own go.mod.
		_, err = goCmd(ctx, work, []string{"GOBIN=" + out, "GOFLAGS=-mod=mod"}, "install", cosignPackage+"@"+cosignVersion)
		return err
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "cosign"), nil
}
