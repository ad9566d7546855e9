package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

// trustPolicy is `verify --policy FILE`: modeled on Notation's
// trustpolicy.json, with one block per signature system. A system whose
// block is present is required; all present must hold.
//
//	{"version": "1.0", "policies": [{
//	  "name": "prod", "registryScopes": ["registry.example/team/*"], "level": "enforce",
//	  "dct": {"signers": ["ci"], "signersMode": "allOf", "pinRoots": ["<root key ID>"]},
//	  "cosign": {"keys": ["cosign.pub"]},
//	  "notation": {"trustStore": "truststore", "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=ci"]}}]}
type trustPolicy struct {
	Version  string        `json:"version"`
	Policies []policyEntry `json:"policies"`
}

type policyEntry struct {
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
	levelEnforce = "enforce"
	levelAudit   = "audit"
)

// loadPolicy reads and checks the policy file: unknown fields, a missing
// level or scope, or a scope claimed twice are errors, not silent passes.
func loadPolicy(path string) (*trustPolicy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErrorf("reading --policy: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p trustPolicy
	if err := dec.Decode(&p); err != nil {
		return nil, usageErrorf("--policy %s: %v", path, err)
	}
	bad := func(format string, args ...any) (*trustPolicy, error) {
		return nil, usageErrorf("--policy %s: "+format, append([]any{path}, args...)...)
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
			e.Level = levelEnforce
		}
		if e.Level != levelEnforce && e.Level != levelAudit {
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

// match returns the policy for repository name (REGISTRY/REPOSITORY): an
// exact scope first, then the longest PREFIX/* that contains it, then *.
func (p *trustPolicy) match(name string) *policyEntry {
	var best *policyEntry
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

// relTo resolves a plain relative path against the policy file's directory.
func relTo(dir, ref string) string {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "-----BEGIN") || filepath.IsAbs(ref) {
		return ref
	}
	return filepath.Join(dir, ref)
}

// spec turns a policy entry into what one ref must satisfy.
func (a *app) policySpec(ctx context.Context, e *policyEntry, dir string, req sign.VerifyRequest) (systemSpec, error) {
	spec := systemSpec{req: req}
	if e.DCT != nil {
		spec.names = append(spec.names, sysDCT)
		spec.req.Signers = e.DCT.Signers
		spec.anySigner = e.DCT.SignersMode == "anyOf"
	}
	if e.Cosign != nil {
		spec.names = append(spec.names, sysCosign)
		for _, ref := range e.Cosign.Keys {
			pem, origin, err := a.resolver().ResolveFlag(ctx, "policy "+e.Name+" cosign key", relTo(dir, ref), secrets.KeyOrPath)
			if err != nil {
				return spec, err
			}
			keys, err := cosign.ParsePublicKeys(pem)
			if err != nil {
				return spec, sign.Classedf(sign.ClassKey, "policy %s: cosign key %s: %v", e.Name, origin, err)
			}
			spec.pubs = append(spec.pubs, []crypto.PublicKey(keys)...)
		}
	}
	if e.Notation != nil {
		spec.names = append(spec.names, sysNotation)
		spec.notationStore = relTo(dir, e.Notation.TrustStore)
		doc, err := storePolicy(spec.notationStore)
		if err != nil {
			return spec, err
		}
		if len(e.Notation.TrustedIdentities) > 0 {
			doc.TrustPolicies[0].TrustedIdentities = e.Notation.TrustedIdentities
		}
		doc.TrustPolicies[0].Name = e.Name
		spec.notationPolicy = doc
	}
	return spec, nil
}

// verifyPolicy is `verify --policy FILE`: each ref is held to the policy
// of its repository. enforce failures fail the run; audit failures are
// reported (stdout says nothing, verify.json and the log say why) and the
// run still exits 0.
func (a *app) verifyPolicy(ctx context.Context, refs []string, path string, req sign.VerifyRequest, outputDir string) error {
	p, err := loadPolicy(path)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return usageErrorf("no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	dir := filepath.Dir(path)
	specs := map[*policyEntry]systemSpec{}
	checkers := map[*policyEntry]*checker{}
	var results []SystemResult
	var failed []string
	for _, raw := range refs {
		ref, err := sign.ParseRef(raw)
		if err != nil {
			return err
		}
		e := p.match(ref.Name())
		if e == nil {
			results = append(results, SystemResult{Ref: raw, Systems: map[string]string{}})
			failed = append(failed, raw+": no policy of "+path+" applies to "+ref.Name())
			continue
		}
		spec, ok := specs[e]
		if !ok {
			if spec, err = a.policySpec(ctx, e, dir, req); err != nil {
				return err
			}
			specs[e] = spec
		}
		chk, ok := checkers[e]
		if !ok {
			// Root pins are per scope: each policy gets its own trust client.
			saved := a.common.pinRoot
			if e.DCT != nil {
				a.common.pinRoot = e.DCT.PinRoots
			}
			chk, err = a.newChecker(ctx, refs)
			a.common.pinRoot = saved
			if err != nil {
				return err
			}
			checkers[e] = chk
		}
		res, err := chk.check(ctx, raw, spec)
		if err != nil {
			return err
		}
		res.Policy, res.Level = e.Name, e.Level
		if res.Passed {
			fmt.Fprintln(a.stdout, res.Pinned)
		} else if f := res.failures(spec.names); e.Level == levelAudit {
			a.log.Warn("audit: policy not met", "policy", e.Name, "ref", raw, "detail", strings.Join(f, "; "))
		} else {
			failed = append(failed, f...)
		}
		results = append(results, res)
	}
	if outputDir != "" {
		if err := a.artifacts(outputDir).WriteJSON("verify.json", results); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return sign.Classedf(sign.ClassVerify, "%s", strings.Join(failed, "; "))
	}
	return nil
}
