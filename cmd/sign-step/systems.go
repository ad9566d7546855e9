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
			c := systems.NewCosign(reg)
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
// before anything is pushed or published; the sign use case signs every
// digest of the run with its systems, committing only after the DCT publish.
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

// signers are the systems for sign.SignRequest; none when not asked.
func (st *alsoSignStep) signers() []sign.System {
	if st == nil {
		return nil
	}
	return st.systems
}

// print writes one line per digest and system of res (REPO@DIGEST →
// system → status): SYSTEM added|present|missing REPO@DIGEST.
func (st *alsoSignStep) print(res map[string]map[string]string) {
	if st == nil {
		return
	}
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
}
