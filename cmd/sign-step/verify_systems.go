package main

import (
	"context"
	"crypto"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/policy"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
	"github.com/sign-step/sign-step/internal/systems"
)

// verifySystemFlags are verify's flags for systems besides DCT.
type verifySystemFlags struct {
	require       []string
	cosignKeys    []string
	notationStore string
	policy        string
}

func (f *verifySystemFlags) add(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.require, "require", nil, "signature system that must hold: dct (the default), cosign, notation; repeatable or a comma list; all listed must hold")
	fl.StringArrayVar(&f.cosignKeys, "cosign-key", nil, "public key (PEM PUBLIC KEY or CERTIFICATE: value, path, file://, env://) a cosign signature must verify with; repeatable, any one suffices")
	fl.StringVar(&f.notationStore, "notation-trust-store", "", "Notation trust store directory (x509/ca/<name>/*.pem, x509/signingAuthority/<name>/*.pem), trusted for any identity")
	fl.StringVar(&f.policy, "policy", "", "trust policy JSON (modeled on Notation's trustpolicy.json): per registry scope, the systems required, their keys, signers, pins and the level (enforce or audit); replaces --require")
}

// active says whether verify must go beyond DCT alone.
func (f *verifySystemFlags) active() bool {
	if f.policy != "" {
		return true
	}
	for _, r := range f.require {
		for _, s := range strings.Split(r, ",") {
			if s = strings.TrimSpace(strings.ToLower(s)); s != "" && s != sysDCT {
				return true
			}
		}
	}
	return false
}

// verifySystems is `verify --require ...` or `verify --policy FILE`: the
// flags become rules, the use case checks every ref, and verify.json and
// the CI result say which systems passed.
func (a *app) verifySystems(ctx context.Context, refs []string, vf verifySystemFlags, req sign.VerifyRequest, outputDir, output string) (*ci.Result, error) {
	var ruleFor func(core.Ref) (*sign.SystemRule, string, error)
	var err error
	if vf.policy != "" {
		if len(vf.require) > 0 || len(vf.cosignKeys) > 0 || vf.notationStore != "" || len(req.Signers) > 0 || len(a.common.pinRoot) > 0 {
			return nil, usageErrorf("--policy says what is required: it cannot be combined with --require, --cosign-key, --notation-trust-store, --signer or --pin-root")
		}
		ruleFor, err = a.policyRules(ctx, refs, vf.policy, req)
	} else {
		ruleFor, err = a.requireRule(ctx, refs, vf, req)
	}
	if err != nil {
		return nil, err
	}
	arts := a.artifacts(outputDir)
	if err := arts.Prepare(); err != nil {
		return nil, err
	}
	results, err := (&sign.UseCases{Log: a.log}).VerifySystems(ctx, sign.SystemsRequest{Refs: refs, RuleFor: ruleFor, Clean: oneLine})
	if results == nil {
		return nil, err // nothing was checked
	}
	if output == outputJSON {
		if perr := a.printJSON(map[string]any{"command": "verify", "refs": results}); perr != nil && err == nil {
			err = perr
		}
	} else {
		for _, r := range results {
			if r.Passed {
				fmt.Fprintln(a.stdout, r.Pinned)
			}
		}
	}
	if werr := arts.WriteJSON(sign.VerifyFile, results); werr != nil && err == nil {
		err = werr
	}
	res := ci.SystemsResult(results, arts.Path(), a.ciFiles("verify", arts.Path(), sign.VerifyFile, false))
	return &res, err
}

// requireRule is the one rule of --require, --cosign-key and
// --notation-trust-store.
func (a *app) requireRule(ctx context.Context, refs []string, vf verifySystemFlags, req sign.VerifyRequest) (func(core.Ref) (*sign.SystemRule, string, error), error) {
	names, err := systems.ParseNames("require", vf.require, sysDCT, sysCosign, sysNotation)
	if err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, usageErrorf("no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	if slices.Contains(names, sysCosign) && len(vf.cosignKeys) == 0 {
		return nil, usageErrorf("--require cosign needs --cosign-key PUB")
	}
	if slices.Contains(names, sysNotation) && vf.notationStore == "" {
		return nil, usageErrorf("--require notation needs --notation-trust-store DIR")
	}
	if len(req.Signers) > 0 && !slices.Contains(names, sysDCT) {
		return nil, usageErrorf("--signer is a DCT check: add --require dct")
	}
	spec := ruleSpec{systems: names, dct: req, cosignKeys: vf.cosignKeys, cosignLabel: flagLabel("cosign-key"), cosignErr: "reading --cosign-key", notationStore: vf.notationStore}
	rule, err := a.systemRule(ctx, refs, spec, nil)
	if err != nil {
		return nil, err
	}
	return func(core.Ref) (*sign.SystemRule, string, error) { return rule, "", nil }, nil
}

// policyRules are the rules of a policy file, one per statement, built
// when a ref first needs them: each with its own trust client, as root pins
// are per scope.
func (a *app) policyRules(ctx context.Context, refs []string, path string, req sign.VerifyRequest) (func(core.Ref) (*sign.SystemRule, string, error), error) {
	p, err := policy.Load(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	rules := map[*policy.Entry]*sign.SystemRule{}
	return func(ref core.Ref) (*sign.SystemRule, string, error) {
		e := p.Match(ref.Name())
		if e == nil {
			return nil, "no policy of " + path + " applies to " + ref.Name(), nil
		}
		if r, ok := rules[e]; ok {
			return r, "", nil
		}
		spec := ruleSpec{dct: req, cosignLabel: "policy " + e.Name + " cosign key", cosignErr: "policy " + e.Name + ": cosign key"}
		var pins []string
		if e.DCT != nil {
			spec.systems = append(spec.systems, sysDCT)
			spec.dct.Signers = e.DCT.Signers
			spec.anySigner = e.DCT.SignersMode == "anyOf"
			pins = e.DCT.PinRoots
		}
		if e.Cosign != nil {
			spec.systems = append(spec.systems, sysCosign)
			for _, k := range e.Cosign.Keys {
				spec.cosignKeys = append(spec.cosignKeys, policy.RelTo(dir, k))
			}
		}
		if e.Notation != nil {
			spec.systems = append(spec.systems, sysNotation)
			spec.notationStore = policy.RelTo(dir, e.Notation.TrustStore)
			spec.identities = e.Notation.TrustedIdentities
			spec.policyName = e.Name
		}
		r, err := a.systemRule(ctx, refs, spec, pins)
		if err != nil {
			return nil, "", err
		}
		r.Name, r.Level = e.Name, e.Level
		rules[e] = r
		return r, "", nil
	}, nil
}

// ruleSpec is a rule as flags or a policy statement give it.
type ruleSpec struct {
	systems       []string
	dct           sign.VerifyRequest
	anySigner     bool
	cosignKeys    []string // references
	cosignLabel   string   // names them in errors reading them
	cosignErr     string   // and in errors parsing them
	notationStore string
	identities    []string // Notation trusted identities; default any
	policyName    string
}

// systemRule opens the keys and clients of a rule; pins, when set, are its
// root pins instead of --pin-root.
func (a *app) systemRule(ctx context.Context, refs []string, s ruleSpec, pins []string) (*sign.SystemRule, error) {
	rule := &sign.SystemRule{Systems: s.systems, DCT: s.dct, AnySigner: s.anySigner, Verifiers: map[string]sign.ImageVerifier{}}
	var pubs []crypto.PublicKey
	for _, ref := range s.cosignKeys {
		pem, origin, err := a.resolver().ResolvePEM(ctx, s.cosignLabel, ref, secrets.PublicPEM)
		if err != nil {
			return nil, err
		}
		keys, err := cosign.ParsePublicKeys(pem)
		if err != nil {
			return nil, core.Classedf(core.ClassKey, "%s %s: %w", s.cosignErr, origin, err)
		}
		pubs = append(pubs, keys...)
	}
	var notationPolicy *trustpolicy.Document
	if slices.Contains(s.systems, sysNotation) {
		doc, err := systems.StorePolicy(s.notationStore)
		if err != nil {
			return nil, err
		}
		if len(s.identities) > 0 {
			doc.TrustPolicies[0].TrustedIdentities = s.identities
		}
		if s.policyName != "" {
			doc.TrustPolicies[0].Name = s.policyName
		}
		notationPolicy = doc
	}
	route := loginRoute{destinations: refs, pinRoot: pins, readOnly: true}
	reg, trust, err := a.clientsFor(ctx, &notary.Keyring{}, route)
	if err != nil {
		return nil, err
	}
	rule.Cases = a.useCases(reg, trust)
	if slices.Contains(s.systems, sysCosign) {
		c := systems.NewCosign(reg)
		c.Keys = pubs
		rule.Verifiers[sysCosign] = c
	}
	if notationPolicy != nil {
		n := systems.NewNotation(reg)
		n.Policy, n.Store = notationPolicy, s.notationStore
		rule.Verifiers[sysNotation] = n
	}
	return rule, nil
}
