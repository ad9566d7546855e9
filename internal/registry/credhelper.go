package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	helperclient "github.com/docker/docker-credential-helpers/client"
	helpercreds "github.com/docker/docker-credential-helpers/credentials"

	"github.com/sign-step/sign-step/internal/core"
)

// tokenUsername is what a credential helper returns as the username of an
// identity token (docker/cli credentials/native_store.go).
const tokenUsername = "<token>"

// authConfig is docker's login for key (a config.json auths key): from the
// credential helper config.json names for it (credHelpers, else
// credsStore), else from config.json itself, as docker's
// ConfigFile.GetAuthConfig does. The helper is docker-credential-<name>
// found on path, the PATH of sign-step's own environment.
func authConfig(cf *configfile.ConfigFile, key, path string) (types.AuthConfig, error) {
	helper := cf.CredentialsStore
	if h, ok := cf.CredentialHelpers[key]; ok {
		helper = h
	}
	if helper == "" {
		return credentials.NewFileStore(cf).Get(key)
	}
	prog, err := lookPath("docker-credential-"+helper, path)
	if err != nil {
		return types.AuthConfig{}, core.Classedf(core.ClassUsage, "docker config: credential helper %q for %s: %w", helper, key, err)
	}
	c, err := helperclient.Get(helperclient.NewShellProgramFunc(prog), key)
	if err != nil {
		if helpercreds.IsErrCredentialsNotFound(err) {
			return types.AuthConfig{ServerAddress: key}, nil // anonymous, as docker treats it
		}
		// The helper client's error quotes the helper's output, which may
		// hold a secret nothing has masked yet: name the failure, not it.
		return types.AuthConfig{}, core.Classedf(core.ClassUsage, "docker config: credential helper %s for %s failed (its output is not shown)", filepath.Base(prog), key)
	}
	out := types.AuthConfig{ServerAddress: key, Username: c.Username, Password: c.Secret}
	if c.Username == tokenUsername {
		out = types.AuthConfig{ServerAddress: key, IdentityToken: c.Secret}
	}
	return out, nil
}

// lookPath finds an executable file name in the directories of path.
func lookPath(name, path string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // as exec.LookPath since Go 1.19: no relative PATH entries
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	if path == "" {
		return "", errors.New(name + " not found: PATH is empty")
	}
	return "", fmt.Errorf("%s not found in PATH", name)
}
