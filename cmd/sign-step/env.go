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

// noEnv marks a flag that is read from the command line only: a
// destructive confirmation (--yes) must not come from a stray variable.
const noEnv = "sign-step/no-env"

// commandLineOnly marks flag name of cmd as never read from the environment.
func commandLineOnly(cmd *cobra.Command, name string) {
	_ = cmd.Flags().SetAnnotation(name, noEnv, []string{"true"})
}

// applyEnv fills every flag the user did not set from SIGN_STEP_<FLAG>, then
// from docker's variable. A flag on the command line always wins. A value
// that does not parse is a usage error naming the variable it came from.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	fills, err := vaultSecretFills(cmd, getenv) // --vault-secrets: after ours, before docker's
	if err != nil {
		return err
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Annotations[noEnv] != nil {
			return
		}
		from := envName(f.Name)
		v := getenv(from)
		if v == "" {
			v, from = fills[f.Name], "--vault-secrets"
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
				from = strings.TrimPrefix(alt, "env://")
			}
		}
		if v == "" {
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = usageErrorf("%s: invalid value for --%s: %v", from, f.Name, e)
		}
	})
	return err
}
