module sign-step-tools/vault

go 1.25.0

require (
	github.com/hashicorp/vault v1.20.4
	github.com/hashicorp/vault/api v1.22.0
)

// Vault v1.20.4 needs sdk APIs that were never tagged; the build copies
// sdk@v0.19.0 to ./sdk and applies the shims in ./shims (see README.md).
replace github.com/hashicorp/vault/sdk => ./sdk
