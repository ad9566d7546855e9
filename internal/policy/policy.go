// Package policy reads the trust policy of verify --policy: which
// signature systems each registry scope requires, and how strictly.
package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// Document is `verify --policy FILE`: modeled on Notation's
// trustpolicy.json, with one block per signature system. A system whose
// block is present is required; all present must hold.
//
//	{"version": "1.0", "policies": [{
//	  "name": "prod", "registryScopes": ["registry.example/team/*"], "level": "enforce",
//	  "dct": {"signers": ["ci"], "signersMode": "allOf", "pinRoots": ["<root key ID>"]},
//	  "cosign": {"keys": ["cosign.pub"]},
//	  "notation": {"trustStore": "truststore", "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=ci"]}}]}
type Document struct {
	Version  string  `json:"version"`
	Policies []Entry `json:"policies"`
}

type Entry struct {
	Name           string   `json:"name"`
	RegistryScopes []string `json:"registryScopes"`
	Level          string   `json:"level"` // enforce (default) | audit
	DCT            *struct {
		Signers     []string `json:"signers"`
		SignersMode string   `json:"signersMode"` // allOf (default) | anyOf
		PinRoots    []string `json:"pinRoots"`
	} `json:"dct"`
	Cosign *struct {
		Keys []string `json:"keys"` // PEM public keys: paths (relative to the policy file), file://, env:// or PEM
	} `json:"cosign"`
	Notation *struct {
		TrustStore        string   `json:"trustStore"` // directory with x509/ca/<name>/, relative to the policy file
		TrustedIdentities []string `json:"trustedIdentities"`
	} `json:"notation"`
}

const (
	Enforce = "enforce"
	Audit   = "audit"
)

// Load reads and checks the policy file: unknown fields, a missing
// level or scope, or a scope claimed twice are errors, not silent passes.
func Load(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "reading --policy: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Document
	if err := dec.Decode(&p); err != nil {
		return nil, core.Classedf(core.ClassUsage, "--policy %s: %w", path, err)
	}
	bad := func(format string, args ...any) (*Document, error) {
		return nil, core.Classedf(core.ClassUsage, "--policy %s: "+format, append([]any{path}, args...)...)
	}
	if p.Version != "1.0" {
		return bad("version %q: want \"1.0\"", p.Version)
	}
	if len(p.Policies) == 0 {
		return bad("no policies")
	}
	seen := map[string]string{}
	for i := range p.Policies {
		e := &p.Policies[i]
		if e.Name == "" {
			return bad("policy %d has no name", i)
		}
		if e.Level == "" {
			e.Level = Enforce
		}
		if e.Level != Enforce && e.Level != Audit {
			return bad("policy %s: level %q: want enforce or audit", e.Name, e.Level)
		}
		if len(e.RegistryScopes) == 0 {
			return bad("policy %s has no registryScopes", e.Name)
		}
		for _, sc := range e.RegistryScopes {
			if sc == "" || (strings.Contains(sc, "*") && sc != "*" && !strings.HasSuffix(sc, "/*")) || strings.Count(sc, "*") > 1 {
				return bad("policy %s: scope %q: want REGISTRY/REPOSITORY, REGISTRY/PREFIX/* or *", e.Name, sc)
			}
			if other, ok := seen[sc]; ok {
				return bad("scope %q is in both %s and %s", sc, other, e.Name)
			}
			seen[sc] = e.Name
		}
		if e.DCT == nil && e.Cosign == nil && e.Notation == nil {
			return bad("policy %s requires no system: add a dct, cosign or notation block", e.Name)
		}
		if e.DCT != nil && e.DCT.SignersMode != "" && e.DCT.SignersMode != "allOf" && e.DCT.SignersMode != "anyOf" {
			return bad("policy %s: signersMode %q: want allOf or anyOf", e.Name, e.DCT.SignersMode)
		}
		if e.Cosign != nil && len(e.Cosign.Keys) == 0 {
			return bad("policy %s: cosign needs keys", e.Name)
		}
		if e.Notation != nil && e.Notation.TrustStore == "" {
			return bad("policy %s: notation needs trustStore", e.Name)
		}
	}
	return &p, nil
}

// Match returns the policy for repository name (REGISTRY/REPOSITORY): an
// exact scope first, then the longest PREFIX/* that contains it, then *.
func (p *Document) Match(name string) *Entry {
	var best *Entry
	bestLen := -1
	for i := range p.Policies {
		e := &p.Policies[i]
		for _, sc := range e.RegistryScopes {
			n := -1
			switch {
			case sc == name:
				n = 1 << 20
			case sc == "*":
				n = 0
			case strings.HasSuffix(sc, "/*") && strings.HasPrefix(name, strings.TrimSuffix(sc, "*")):
				n = len(sc)
			}
			if n > bestLen {
				best, bestLen = e, n
			}
		}
	}
	return best
}

// RelTo resolves a plain relative path against the policy file's directory.
func RelTo(dir, ref string) string {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "-----BEGIN") || filepath.IsAbs(ref) {
		return ref
	}
	return filepath.Join(dir, ref)
}
