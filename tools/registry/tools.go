//go:build tools

// Package tools pins the OCI registry that internal/testenv builds for end-to-end tests.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
