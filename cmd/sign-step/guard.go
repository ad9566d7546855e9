package main

import (
	"strings"
)

// flagLabel names a flag and the variables that fill it, for errors that
// must not show the flag's value: "--key (or SIGN_STEP_KEY)".
func flagLabel(flag string) string {
	name := strings.TrimPrefix(flag, "--")
	vars := []string{envName(name)}
	if alt, ok := dockerEnv[name]; ok {
		vars = append(vars, strings.TrimPrefix(alt, "env://"))
	}
	return "--" + name + " (or " + strings.Join(vars, ", ") + ")"
}
