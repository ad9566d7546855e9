package ci

import "testing"

// In action mode a flag that is an action input is named as the input;
// other flags, and double hyphens inside words, stay as they are.
func TestInputNames(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"no signing key: pass --key (PEM) or set SIGN_STEP_KEY", "no signing key: pass input key (PEM) or set SIGN_STEP_KEY"},
		{`invalid --log-level "loud"`, `invalid input log-level "loud"`},
		{"--notary-server (or DOCKER_CONTENT_TRUST_SERVER)", "input notary-server (or DOCKER_CONTENT_TRUST_SERVER)"},
		{"--targets-key and --targets-key-out exclude each other", "--targets-key and --targets-key-out exclude each other"},
		{"pass --yes to revoke them all", "pass --yes to revoke them all"},
		{"cannot reach https://xn--key.example", "cannot reach https://xn--key.example"},
		{"-----BEGIN EC PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"},
		{"--vault-addr or set VAULT_ADDR", "input vault-addr or set VAULT_ADDR"},
	}
	for _, c := range cases {
		if got := InputNames(c.in); got != c.want {
			t.Errorf("InputNames(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
