package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envName is the variable every flag also reads: --output-dir ← SIGN_STEP_OUTPUT_DIR.
func envName(flag string) string {
	return "SIGN_STEP_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// dockerEnv are docker's own variables, read after ours.
var dockerEnv = map[string]string{
	"notary-server":      "DOCKER_CONTENT_TRUST_SERVER",
	"passphrase":         "env://DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
	"docker-config":      "DOCKER_CONFIG",
	"root-passphrase":    "env://DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
	"targets-passphrase": "env://DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
	"vault-addr":         "VAULT_ADDR",
	"vault-token":        "env://VAULT_TOKEN",
	"vault-namespace":    "VAULT_NAMESPACE",
	"vault-ca":           "VAULT_CACERT",
}

// applyEnv fills every flag the user did not set from SIGN_STEP_<FLAG>, then
// from docker's variable. A flag on the command line always wins.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	fills, err := vaultSecretFills(cmd, getenv) // --vault-secrets: after ours, before docker's
	if err != nil {
		return err
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			v = fills[f.Name]
		}
		if v == "" {
			if alt, ok := dockerEnv[f.Name]; ok {
				if ref, isRef := strings.CutPrefix(alt, "env://"); isRef {
					if getenv(ref) != "" {
						v = alt // keep the reference, so the value is read as a secret
					}
				} else {
					v = getenv(alt)
				}
			}
		}
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = usageErrorf("invalid value for %s (from the environment): %v", f.Name, e)
		}
	})
	return err
}
