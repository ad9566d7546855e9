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
}

func (f *verifySystemFlags) add(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.require, "require", nil, "signature system that must hold: dct (the default), cosign, notation; repeatable or a comma list; all listed must hold")
	fl.StringArrayVar(&f.cosignKeys, "cosign-key", nil, "public key (PEM PUBLIC KEY or CERTIFICATE: value, path, file://, env://) a cosign signature must verify with; repeatable, any one suffices")
	fl.StringVar(&f.notationStore, "notation-trust-store", "", "Notation trust store directory (x509/ca/<name>/*.pem, x509/signingAuthority/<name>/*.pem), trusted for any identity")
}

// active says whether verify must go beyond DCT alone.
func (f *verifySystemFlags) active() bool {
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
}

// verifySystems is `verify --require ...`: every ref must pass every
// required system. With dct required, the other systems are checked on the
// digest the trust data resolves (what a trusted pull gets); without, on
// the digest the registry serves for the tag.
func (a *app) verifySystems(ctx context.Context, refs []string, vf verifySystemFlags, req sign.VerifyRequest, outputDir string) error {
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
	reg, trust, err := a.clients(ctx, &notary.Keyring{}, refs...)
	if err != nil {
		return err
	}
	nc := notation.New(reg.Transport(), registry.Credentials(reg.Keychain()))
	nc.PlainHTTP = reg.PlainHTTP
	cc := cosign.New(reg.RemoteOptions(ctx)...)
	s := a.signer(reg, trust)

	var results []SystemResult
	var failed []string
	for _, raw := range refs {
		res := SystemResult{Ref: raw, Systems: map[string]string{}}
		fail := func(sys string, err error) { res.Systems[sys] = "fail: " + oneLine(err.Error()) }
		ref, err := sign.ParseRef(raw)
		if err != nil {
			return err
		}
		if ref.Tag == "" && ref.Digest == "" {
			ref.Tag = "latest" // as docker pull does
		}
		if contains(names, sysDCT) {
			r := req
			r.Refs = []string{ref.String()}
			v, err := s.Verify(ctx, r)
			if err != nil {
				fail(sysDCT, err)
			} else {
				res.Systems[sysDCT], res.Digest = "pass", v[0].Descriptor.Digest
			}
		}
		if res.Digest == "" && (contains(names, sysCosign) || contains(names, sysNotation)) {
			// No trusted digest: the one the registry serves (its bytes hashed).
			d, err := reg.Resolve(ctx, ref)
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
			if err := verifyCosign(ctx, cc, reg, img, pubs); err != nil {
				fail(sysCosign, err)
			} else {
				res.Systems[sysCosign] = "pass"
			}
		}
		if res.Digest != "" && contains(names, sysNotation) {
			if _, err := nc.Verify(ctx, img.String(), policy, vf.notationStore); err != nil {
				fail(sysNotation, err)
			} else {
				res.Systems[sysNotation] = "pass"
			}
		}
		ok := true
		for _, n := range names {
			if res.Systems[n] != "pass" {
				ok = false
				failed = append(failed, fmt.Sprintf("%s: %s %s", raw, n, strings.TrimPrefix(res.Systems[n], "fail: ")))
			}
		}
		if ok {
			res.Pinned = img.String()
			fmt.Fprintln(a.stdout, res.Pinned)
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
