package main

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/notation"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
	"github.com/sign-step/sign-step/internal/systems"
)

// Signature systems.
const (
	sysDCT      = sign.SystemDCT
	sysCosign   = sign.SystemCosign
	sysNotation = sign.SystemNotation
)

// systemFlags are the flags that make cosign and Notation signatures.
type systemFlags struct {
	cosignKey    string
	notationCert string
}

func (f *systemFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.cosignKey, "cosign-key", "", "key for cosign signatures: any key reference (PEM, env://, file://, vault://, vault-transit://); default: the first --key")
	fl.StringVar(&f.notationCert, "notation-cert", "", "X.509 certificate chain (PEM, path, file://, env://), leaf first, whose leaf certifies the first --key; needed for notation")
}

// signingSystems builds the cosign and Notation signers for names, with
// --cosign-key (default: the first --key) and, for notation, the first
// --key with --notation-cert.
func (a *app) signingSystems(ctx context.Context, names []string, f systemFlags, keyRefs []string, passRef string, reg *registry.Registry) ([]sign.System, error) {
	kl := a.keyLoader()
	var out []sign.System
	for _, n := range names {
		switch n {
		case sysCosign:
			ref := f.cosignKey
			if ref == "" && len(keyRefs) > 0 {
				ref = keyRefs[0]
			}
			s, err := kl.CryptoSigner(ctx, "cosign-key", ref, passRef)
			if err != nil {
				return nil, err
			}
			c := systems.NewCosign(ctx, reg)
			c.Signer = s
			out = append(out, c)
		case sysNotation:
			if f.notationCert == "" {
				return nil, usageErrorf("--also-sign notation / --to notation needs --notation-cert: the X.509 chain whose leaf certifies the signing key")
			}
			ref := ""
			if len(keyRefs) > 0 {
				ref = keyRefs[0]
			}
			s, err := kl.CryptoSigner(ctx, "key", ref, passRef)
			if err != nil {
				return nil, err
			}
			pem, _, err := a.resolver().ResolvePEM(ctx, flagLabel("notation-cert"), f.notationCert, secrets.PublicPEM)
			if err != nil {
				return nil, err
			}
			chain, err := notation.ParseCertChain(pem)
			if err != nil {
				return nil, core.Classedf(core.ClassKey, "reading --notation-cert: %w", err)
			}
			ns, err := notation.NewSigner(s, chain)
			if err != nil {
				return nil, core.Classedf(core.ClassKey, "--notation-cert: %w", err)
			}
			nt := systems.NewNotation(reg)
			nt.Signer, nt.Pub = ns, s.Public()
			out = append(out, nt)
		}
	}
	return out, nil
}

// alsoSignStep is `sign --also-sign`: prepared (keys, certificates)
// before anything is pushed or published, run after the DCT publish on
// every digest the run signed.
type alsoSignStep struct {
	a       *app
	names   []string
	systems []sign.System
}

// prepareAlsoSign checks --also-sign and opens its keys; nil when not asked.
func (a *app) prepareAlsoSign(ctx context.Context, list []string, f systemFlags, keyRefs []string, passRef string, reg *registry.Registry) (*alsoSignStep, error) {
	names, err := systems.ParseNames("also-sign", list, sysCosign, sysNotation)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	sys, err := a.signingSystems(ctx, names, f, keyRefs, passRef, reg)
	if err != nil {
		return nil, err
	}
	return &alsoSignStep{a: a, names: names, systems: sys}, nil
}

// systemNames are the systems --also-sign asked for; none when not asked.
func (st *alsoSignStep) systemNames() []string {
	if st == nil {
		return nil
	}
	return st.names
}

// run signs every digest of rep with each system and prints one line per
// digest and system: SYSTEM added|present|missing REPO@DIGEST. It returns
// each REPO@DIGEST's status per system, for the CI result.
func (st *alsoSignStep) run(ctx context.Context, rep *sign.Report) (map[string]map[string]string, error) {
	if st == nil || rep == nil {
		return nil, nil
	}
	var imgs []core.Ref
	for _, r := range rep.Refs {
		ref, err := core.ParseRef(r.GUN)
		if err != nil || r.Descriptor.Digest == "" {
			continue
		}
		imgs = append(imgs, core.Ref{Registry: ref.Registry, Repository: ref.Repository, Digest: r.Descriptor.Digest})
	}
	res, err := sign.AlsoSign(ctx, st.systems, imgs, rep.DryRun)
	keys := make([]string, 0, len(res))
	for k := range res {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, n := range st.names {
			if s, ok := res[k][n]; ok {
				fmt.Fprintf(st.a.lineOut(), "%s %s %s\n", n, s, k)
			}
		}
	}
	if slices.Contains(st.names, sysCosign) {
		st.a.log.Info(systems.NoTlogNote)
	}
	return res, err
}
