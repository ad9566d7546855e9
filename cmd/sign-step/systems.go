package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/notation"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

// Signature systems besides DCT.
const (
	sysDCT      = "dct"
	sysCosign   = "cosign"
	sysNotation = "notation"
)

// noTlogNote is printed whenever a cosign signature is written: no
// transparency log is reachable from CI on private networks.
const noTlogNote = "cosign signatures are key-based with no transparency log entry: verify with cosign verify --key PUB --insecure-ignore-tlog=true"

// systemFlags are the flags that make cosign and Notation signatures.
type systemFlags struct {
	cosignKey    string
	notationCert string
}

func (f *systemFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.cosignKey, "cosign-key", "", "key for cosign signatures: any key reference (PEM, env://, file://, vault://, vault-transit://); default: the first --key")
	fl.StringVar(&f.notationCert, "notation-cert", "", "X.509 certificate chain (PEM, path, file://, env://), leaf first, whose leaf certifies the first --key; needed for notation")
}

// parseSystems checks a list of systems (comma lists allowed) against allowed.
func parseSystems(flag string, list []string, allowed ...string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.ToLower(strings.TrimSpace(s))
			if s == "" || seen[s] {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || s == a
			}
			if !ok {
				return nil, usageErrorf("--%s %q: want one of %s", flag, s, strings.Join(allowed, ", "))
			}
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// signingSystems builds the cosign and Notation signers for names, with
// --cosign-key (default: the first --key) and, for notation, the first
// --key with --notation-cert.
func (a *app) signingSystems(ctx context.Context, names []string, f systemFlags, keyRefs []string, passRef string, reg *registry.Registry) ([]sign.System, error) {
	var out []sign.System
	for _, n := range names {
		switch n {
		case sysCosign:
			ref := f.cosignKey
			if ref == "" && len(keyRefs) > 0 {
				ref = keyRefs[0]
			}
			s, err := a.cryptoSigner(ctx, "cosign-key", ref, passRef)
			if err != nil {
				return nil, err
			}
			out = append(out, &cosignSystem{reg: reg, c: cosign.New(reg.RemoteOptions(ctx)...), s: s})
		case sysNotation:
			if f.notationCert == "" {
				return nil, usageErrorf("--also-sign notation / --to notation needs --notation-cert: the X.509 chain whose leaf certifies the signing key")
			}
			ref := ""
			if len(keyRefs) > 0 {
				ref = keyRefs[0]
			}
			s, err := a.cryptoSigner(ctx, "key", ref, passRef)
			if err != nil {
				return nil, err
			}
			pem, _, err := a.resolver().ResolveFlag(ctx, flagLabel("notation-cert"), f.notationCert, secrets.KeyOrPath)
			if err != nil {
				return nil, err
			}
			chain, err := notation.ParseCertChain(pem)
			if err != nil {
				return nil, sign.Classedf(sign.ClassKey, "reading --notation-cert: %v", err)
			}
			ns, err := notation.NewSigner(s, chain)
			if err != nil {
				return nil, sign.Classedf(sign.ClassKey, "--notation-cert: %v", err)
			}
			nc := notation.New(reg.Transport(), reg.Keychain())
			nc.PlainHTTP = reg.PlainHTTP
			out = append(out, &notationSystem{c: nc, s: ns, pub: s.Public()})
		}
	}
	return out, nil
}

// cryptoSigner opens a key reference as a crypto.Signer: a Transit key stays
// in Vault, any other reference is read and decrypted in memory.
func (a *app) cryptoSigner(ctx context.Context, flag, ref, passRef string) (crypto.Signer, error) {
	if ref == "" {
		return nil, usageErrorf("no key for --%s: pass --%s or --key", flag, flag)
	}
	if secrets.IsTransitRef(ref) {
		if _, err := secrets.ParseTransitRef(ref); err != nil {
			return nil, err
		}
		if a.vault.src == nil && a.vault.err == nil {
			a.vault.src, a.vault.err = a.openVault(ctx)
		}
		if a.vault.err != nil {
			return nil, a.vault.err
		}
		tk, err := a.vault.src.TransitKey(ctx, ref)
		if err != nil {
			return nil, err
		}
		return tk.CryptoSigner(ctx)
	}
	var pass sign.Secret
	if passRef != "" {
		var err error
		if pass, _, err = a.resolver().Resolve(ctx, passRef, secrets.Literal); err != nil {
			return nil, err
		}
	}
	pem, origin, err := a.resolver().ResolveFlag(ctx, flagLabel(flag), ref, secrets.KeyOrPath)
	if err != nil {
		return nil, err
	}
	k, err := notary.ParseKey(notary.KeyMaterial{PEM: pem, Passphrase: pass, Origin: origin})
	if err != nil {
		return nil, err
	}
	return k.Signer()
}

// cosignSystem is sign.System over the cosign adapter.
type cosignSystem struct {
	reg *registry.Registry
	c   *cosign.Client
	s   crypto.Signer
}

func (c *cosignSystem) Name() string { return sysCosign }

func (c *cosignSystem) digest(img sign.Ref) (name.Digest, error) {
	r, err := c.reg.Reference(img)
	if err != nil {
		return name.Digest{}, err
	}
	d, ok := r.(name.Digest)
	if !ok {
		return name.Digest{}, fmt.Errorf("%s is not a digest reference", img)
	}
	return d, nil
}

func (c *cosignSystem) Present(ctx context.Context, img sign.Ref) (bool, error) {
	d, err := c.digest(img)
	if err != nil {
		return false, err
	}
	_, err = c.c.Verify(ctx, d, []crypto.PublicKey{c.s.Public()})
	if errors.Is(err, cosign.ErrNoSignature) {
		return false, nil
	}
	return err == nil, err
}

func (c *cosignSystem) Add(ctx context.Context, img sign.Ref) error {
	_, err := c.Ensure(ctx, img)
	return err
}

// Ensure signs img unless our key already has: Sign checks first.
func (c *cosignSystem) Ensure(ctx context.Context, img sign.Ref) (bool, error) {
	d, err := c.digest(img)
	if err != nil {
		return false, err
	}
	res, err := c.c.Sign(ctx, d, c.s)
	return res.Added, err
}

// notationSystem is sign.System over the Notation adapter.
type notationSystem struct {
	c   *notation.Client
	s   *notation.Signer
	pub crypto.PublicKey
}

func (n *notationSystem) Name() string { return sysNotation }

func (n *notationSystem) Present(ctx context.Context, img sign.Ref) (bool, error) {
	return n.c.SignedBy(ctx, img.String(), n.pub)
}

func (n *notationSystem) Add(ctx context.Context, img sign.Ref) error {
	_, err := n.Ensure(ctx, img)
	return err
}

// Ensure signs img unless our key already has: Sign checks first.
func (n *notationSystem) Ensure(ctx context.Context, img sign.Ref) (bool, error) {
	res, err := n.c.Sign(ctx, img.String(), n.s)
	return res.Added, err
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
	names, err := parseSystems("also-sign", list, sysCosign, sysNotation)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	systems, err := a.signingSystems(ctx, names, f, keyRefs, passRef, reg)
	if err != nil {
		return nil, err
	}
	return &alsoSignStep{a: a, names: names, systems: systems}, nil
}

// run signs every digest of rep with each system and prints one line per
// digest and system: SYSTEM added|present|missing REPO@DIGEST.
func (st *alsoSignStep) run(ctx context.Context, rep *sign.Report) error {
	if st == nil || rep == nil {
		return nil
	}
	var imgs []sign.Ref
	for _, r := range rep.Refs {
		ref, err := sign.ParseRef(r.GUN)
		if err != nil || r.Descriptor.Digest == "" {
			continue
		}
		imgs = append(imgs, sign.Ref{Registry: ref.Registry, Repository: ref.Repository, Digest: r.Descriptor.Digest})
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
	if contains(st.names, sysCosign) {
		st.a.log.Info(noTlogNote)
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
