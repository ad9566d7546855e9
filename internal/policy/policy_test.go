package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPolicyMatch: the most specific scope wins: exact, then the longest
// PREFIX/*, then *; a prefix is a path prefix, not a string prefix.
func TestPolicyMatch(t *testing.T) {
	t.Parallel()
	pf := filepath.Join(t.TempDir(), "p.json")
	doc := `{"version":"1.0","policies":[
	 {"name":"all","registryScopes":["*"],"dct":{}},
	 {"name":"team","registryScopes":["reg.example/team/*"],"dct":{}},
	 {"name":"sub","registryScopes":["reg.example/team/sub/*"],"dct":{}},
	 {"name":"app","registryScopes":["reg.example/team/app"],"level":"audit","dct":{}}]}`
	if err := os.WriteFile(pf, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(pf)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ repo, want string }{
		{"reg.example/team/app", "app"},
		{"reg.example/team/app2", "team"},
		{"reg.example/team/sub/x", "sub"},
		{"reg.example/teamx/app", "all"},
		{"other.example/x", "all"},
	} {
		if got := p.Match(c.repo); got == nil || got.Name != c.want {
			t.Errorf("%s: got %v, want %s", c.repo, got, c.want)
		}
	}
	if p.Match("reg.example/team/app").Level != Audit || p.Match("other.example/x").Level != Enforce {
		t.Error("levels: audit as written, enforce by default")
	}
}

func TestPolicyRejected(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, doc string }{
		{"version", `{"version":"2","policies":[{"name":"x","registryScopes":["*"],"dct":{}}]}`},
		{"no policies", `{"version":"1.0","policies":[]}`},
		{"level", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"level":"skip","dct":{}}]}`},
		{"inner wildcard", `{"version":"1.0","policies":[{"name":"x","registryScopes":["reg/*/app"],"dct":{}}]}`},
		{"signers mode", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"dct":{"signersMode":"some"}}]}`},
		{"cosign without keys", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"cosign":{}}]}`},
		{"notation without store", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"notation":{}}]}`},
		{"trailing garbage field", `{"version":"1.0","policies":[{"name":"x","registryScopes":["*"],"dct":{"signer":["a"]}}]}`},
	} {
		pf := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(pf, []byte(c.doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(pf); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}
