//go:build tools

// Package tools pins the Vault server that internal/testenv/vaultenv builds.
package tools

import _ "github.com/hashicorp/vault"
