package sign

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// Signature systems.
const (
	SystemDCT      = "dct"
	SystemCosign   = "cosign"
	SystemNotation = "notation"
)

// Policy levels: an audit rule that fails is logged, not failed.
const (
	LevelEnforce = "enforce"
	LevelAudit   = "audit"
)

// ImageVerifier checks one signature system (cosign, notation) on a digest
// reference, with the keys or trust store it was built with.
type ImageVerifier interface {
	Verify(ctx context.Context, img core.Ref) error
}

// SystemRule is what a ref must satisfy: every system in Systems, in that
// order. DCT is checked through Trust (signers all, or any with AnySigner);
// the others through Verifiers, keyed by system name.
type SystemRule struct {
	Name      string // the policy statement, "" for --require
	Level     string // LevelEnforce ("" too) or LevelAudit
	Systems   []string
	DCT       VerifyRequest
	AnySigner bool
	Verifiers map[string]ImageVerifier
	// Cases verifies DCT with the rule's own trust client (its root pins)
	// and resolves a tag's digest when DCT is not required.
	Cases *UseCases
}

// SystemResult is one ref of verify --require/--policy: which systems passed.
type SystemResult struct {
	Ref     string            `json:"ref"`
	Digest  string            `json:"digest,omitempty"`
	Pinned  string            `json:"pinned,omitempty"` // set only when every required system passed
	Systems map[string]string `json:"systems"`          // system → "pass" or "fail: reason"
	// With --policy: the policy statement applied and its level.
	Policy string `json:"policy,omitempty"`
	Level  string `json:"level,omitempty"`
	Passed bool   `json:"passed"`
}

// Failures are the systems of names r did not pass, one line each.
func (r SystemResult) Failures(names []string) []string {
	var out []string
	for _, n := range names {
		if r.Systems[n] != "pass" {
			out = append(out, fmt.Sprintf("%s: %s %s", r.Ref, n, strings.TrimPrefix(r.Systems[n], "fail: ")))
		}
	}
	return out
}

// SystemsRequest is verify --require/--policy.
type SystemsRequest struct {
	Refs []string
	// RuleFor picks the rule of a ref; nil with a reason when none applies.
	RuleFor func(ref core.Ref) (rule *SystemRule, none string, err error)
	// Clean makes a failure one line fit for results and logs (e.g. URL
	// query values hidden); nil joins the lines only.
	Clean func(string) string
}

// VerifySystems holds every ref to its rule. With DCT required, the other
// systems are checked on the digest the trust data resolves (what a trusted
// pull gets); without, on the digest the registry serves for the tag.
// Enforced failures fail the run (ClassVerify) after every ref was checked;
// audit failures are logged. The results are returned in either case; an
// unusable ref returns nil results.
func (u *UseCases) VerifySystems(ctx context.Context, req SystemsRequest) ([]SystemResult, error) {
	refs, ruleFor := req.Refs, req.RuleFor
	clean := req.Clean
	if clean == nil {
		clean = func(s string) string { return strings.Join(strings.Fields(s), " ") }
	}
	if len(refs) == 0 {
		return nil, core.Classedf(core.ClassUsage, "no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	var results []SystemResult
	var failed []string
	for _, raw := range refs {
		ref, err := core.ParseRef(raw)
		if err != nil {
			return nil, err
		}
		rule, none, err := ruleFor(ref)
		if err != nil {
			return nil, err
		}
		if rule == nil {
			results = append(results, SystemResult{Ref: raw, Systems: map[string]string{}})
			failed = append(failed, raw+": "+none)
			continue
		}
		res := rule.check(ctx, raw, ref, clean)
		res.Policy, res.Level = rule.Name, rule.Level
		f := res.Failures(rule.Systems)
		switch {
		case len(f) == 0:
		case rule.Level == LevelAudit:
			u.log().Warn("audit: policy not met", "policy", rule.Name, "ref", raw, "detail", strings.Join(f, "; "))
		default:
			failed = append(failed, f...)
		}
		results = append(results, res)
	}
	if len(failed) > 0 {
		return results, core.Classedf(core.ClassVerify, "%s", strings.Join(failed, "; "))
	}
	return results, nil
}

// check verifies one ref; a system's failure is recorded in the result.
func (rule *SystemRule) check(ctx context.Context, raw string, ref core.Ref, clean func(string) string) SystemResult {
	res := SystemResult{Ref: raw, Systems: map[string]string{}}
	fail := func(sys string, err error) { res.Systems[sys] = "fail: " + clean(err.Error()) }
	names := rule.Systems
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest" // as docker pull does
	}
	if slices.Contains(names, SystemDCT) {
		digest, err := rule.verifyDCT(ctx, ref)
		if err != nil {
			fail(SystemDCT, err)
		} else {
			res.Systems[SystemDCT], res.Digest = "pass", digest
		}
	}
	others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == SystemDCT })
	if res.Digest == "" && len(others) > 0 {
		// No trusted digest: the one the registry serves (its bytes hashed).
		d, err := rule.Cases.Registry.Resolve(ctx, ref)
		if err != nil {
			for _, n := range others {
				fail(n, err)
			}
		} else {
			res.Digest = d.Digest
		}
	}
	img := core.Ref{Registry: ref.Registry, Repository: ref.Repository, Digest: res.Digest}
	for _, n := range others {
		if res.Digest == "" {
			continue
		}
		v, ok := rule.Verifiers[n]
		if !ok {
			fail(n, fmt.Errorf("no verifier for %s", n))
			continue
		}
		if err := v.Verify(ctx, img); err != nil {
			fail(n, err)
		} else {
			res.Systems[n] = "pass"
		}
	}
	if len(res.Failures(names)) == 0 {
		res.Pinned, res.Passed = img.String(), true
	}
	return res
}

// verifyDCT resolves ref through trust data; with AnySigner one of the
// signers suffices, else all must have signed.
func (rule *SystemRule) verifyDCT(ctx context.Context, ref core.Ref) (string, error) {
	r := rule.DCT
	r.Refs = []string{ref.String()}
	r.AnySigner = rule.AnySigner
	v, err := rule.Cases.Verify(ctx, r)
	if err != nil {
		return "", err
	}
	return v[0].Descriptor.Digest, nil
}
