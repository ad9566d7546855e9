package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/notation"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
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

// SystemResult is one ref of `verify --require`: which systems passed.
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

// verifySystems is `verify --require ...`: every ref must pass every
// required system. With dct required, the other systems are checked on the
// digest the trust data resolves (what a trusted pull gets); without, on
// the digest the registry serves for the tag.
func (a *app) verifySystems(ctx context.Context, refs []string, vf verifySystemFlags, req sign.VerifyRequest, outputDir string) error {
	if vf.policy != "" {
		if len(vf.require) > 0 || len(vf.cosignKeys) > 0 || vf.notationStore != "" || len(req.Signers) > 0 || len(a.common.pinRoot) > 0 {
			return usageErrorf("--policy says what is required: it cannot be combined with --require, --cosign-key, --notation-trust-store, --signer or --pin-root")
		}
		return a.verifyPolicy(ctx, refs, vf.policy, req, outputDir)
	}
	names, err := parseSystems("require", vf.require, sysDCT, sysCosign, sysNotation)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return usageErrorf("no image reference given: pass REGISTRY/REPOSITORY:TAG")
	}
	var pubs []crypto.PublicKey
	if contains(names, sysCosign) {
		if len(vf.cosignKeys) == 0 {
			return usageErrorf("--require cosign needs --cosign-key PUB")
		}
		for _, ref := range vf.cosignKeys {
			pem, origin, err := a.resolver().ResolveFlag(ctx, flagLabel("cosign-key"), ref, secrets.KeyOrPath)
			if err != nil {
				return err
			}
			keys, err := cosign.ParsePublicKeys(pem)
			if err != nil {
				return sign.Classedf(sign.ClassKey, "reading --cosign-key %s: %v", origin, err)
			}
			pubs = append(pubs, keys...)
		}
	}
	var policy *trustpolicy.Document
	if contains(names, sysNotation) {
		if vf.notationStore == "" {
			return usageErrorf("--require notation needs --notation-trust-store DIR")
		}
		if policy, err = storePolicy(vf.notationStore); err != nil {
			return err
		}
	}
	if len(req.Signers) > 0 && !contains(names, sysDCT) {
		return usageErrorf("--signer is a DCT check: add --require dct")
	}
	spec := systemSpec{names: names, req: req, pubs: pubs, notationPolicy: policy, notationStore: vf.notationStore}
	chk, err := a.newChecker(ctx, refs)
	if err != nil {
		return err
	}
	var results []SystemResult
	var failed []string
	for _, raw := range refs {
		res, err := chk.check(ctx, raw, spec)
		if err != nil {
			return err
		}
		if res.Pinned != "" {
			fmt.Fprintln(a.stdout, res.Pinned)
		}
		failed = append(failed, res.failures(names)...)
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

// systemSpec is what one ref must satisfy.
type systemSpec struct {
	names          []string
	req            sign.VerifyRequest // DCT: signers (all of them), unsigned digests
	anySigner      bool               // DCT signers: any one suffices
	pubs           []crypto.PublicKey
	notationPolicy *trustpolicy.Document
	notationStore  string
}

// checker holds the clients of a verify run.
type checker struct {
	reg *registry.Registry
	s   *sign.Signer
	cc  *cosign.Client
	nc  *notation.Client
}

func (a *app) newChecker(ctx context.Context, refs []string) (*checker, error) {
	reg, trust, err := a.clients(ctx, &notary.Keyring{}, refs...)
	if err != nil {
		return nil, err
	}
	nc := notation.New(reg.Transport(), reg.Keychain())
	nc.PlainHTTP = reg.PlainHTTP
	return &checker{reg: reg, s: a.signer(reg, trust), cc: cosign.New(reg.RemoteOptions(ctx)...), nc: nc}, nil
}

func (r SystemResult) failures(names []string) []string {
	var out []string
	for _, n := range names {
		if r.Systems[n] != "pass" {
			out = append(out, fmt.Sprintf("%s: %s %s", r.Ref, n, strings.TrimPrefix(r.Systems[n], "fail: ")))
		}
	}
	return out
}

// check verifies one ref against spec. Failures of a system are recorded
// in the result; the error is for unusable input only.
func (c *checker) check(ctx context.Context, raw string, spec systemSpec) (SystemResult, error) {
	res := SystemResult{Ref: raw, Systems: map[string]string{}}
	fail := func(sys string, err error) { res.Systems[sys] = "fail: " + oneLine(err.Error()) }
	names := spec.names
	ref, err := sign.ParseRef(raw)
	if err != nil {
		return res, err
	}
	if ref.Tag == "" && ref.Digest == "" {
		ref.Tag = "latest" // as docker pull does
	}
	if contains(names, sysDCT) {
		digest, err := c.verifyDCT(ctx, ref, spec)
		if err != nil {
			fail(sysDCT, err)
		} else {
			res.Systems[sysDCT], res.Digest = "pass", digest
		}
	}
	if res.Digest == "" && (contains(names, sysCosign) || contains(names, sysNotation)) {
		// No trusted digest: the one the registry serves (its bytes hashed).
		d, err := c.reg.Resolve(ctx, ref)
		if err != nil {
			for _, n := range names {
				if n != sysDCT {
					fail(n, err)
				}
			}
		} else {
			res.Digest = d.Digest
		}
	}
	img := sign.Ref{Registry: ref.Registry, Repository: ref.Repository, Digest: res.Digest}
	if res.Digest != "" && contains(names, sysCosign) {
		if err := verifyCosign(ctx, c.cc, c.reg, img, spec.pubs); err != nil {
			fail(sysCosign, err)
		} else {
			res.Systems[sysCosign] = "pass"
		}
	}
	if res.Digest != "" && contains(names, sysNotation) {
		if _, err := c.nc.Verify(ctx, img.String(), spec.notationPolicy, spec.notationStore); err != nil {
			fail(sysNotation, err)
		} else {
			res.Systems[sysNotation] = "pass"
		}
	}
	if len(res.failures(names)) == 0 {
		res.Pinned, res.Passed = img.String(), true
	}
	return res, nil
}

// verifyDCT resolves ref through trust data; with anySigner one of the
// signers suffices, else all must have signed.
func (c *checker) verifyDCT(ctx context.Context, ref sign.Ref, spec systemSpec) (string, error) {
	r := spec.req
	r.Refs = []string{ref.String()}
	if !spec.anySigner || len(r.Signers) == 0 {
		v, err := c.s.Verify(ctx, r)
		if err != nil {
			return "", err
		}
		return v[0].Descriptor.Digest, nil
	}
	var errs []string
	for _, name := range spec.req.Signers {
		r.Signers = []string{name}
		v, err := c.s.Verify(ctx, r)
		if err == nil {
			return v[0].Descriptor.Digest, nil
		}
		errs = append(errs, err.Error())
	}
	return "", fmt.Errorf("none of the signers %s signed it: %s", strings.Join(spec.req.Signers, ","), strings.Join(errs, "; "))
}

func verifyCosign(ctx context.Context, cc *cosign.Client, reg *registry.Registry, img sign.Ref, pubs []crypto.PublicKey) error {
	r, err := reg.Reference(img)
	if err != nil {
		return err
	}
	d, ok := r.(name.Digest)
	if !ok {
		return errors.New("not a digest reference")
	}
	_, err = cc.Verify(ctx, d, pubs)
	return err
}

// storePolicy is the Notation trust policy of --notation-trust-store alone:
// every named store in it, for every repository and any identity, strict.
func storePolicy(dir string) (*trustpolicy.Document, error) {
	var stores []string
	for _, typ := range []string{"ca", "signingAuthority"} {
		entries, err := os.ReadDir(filepath.Join(dir, "x509", typ))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, sign.Classedf(sign.ClassUsage, "reading --notation-trust-store: %v", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				stores = append(stores, typ+":"+e.Name())
			}
		}
	}
	if len(stores) == 0 {
		return nil, sign.Classedf(sign.ClassUsage, "--notation-trust-store %s holds no x509/ca/<name> or x509/signingAuthority/<name> directory", dir)
	}
	return &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "sign-step", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
		TrustStores:           stores, TrustedIdentities: []string{"*"},
	}}}, nil
}
