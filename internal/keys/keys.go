// Package keys turns key references (--key, --trust-dir, vault:// Transit
// keys) into notary keys held in memory, and writes generated keys into new
// files. It is the one place key material is read or written.
package keys

import (
	"context"
	"crypto"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/keyfile"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

// Loader resolves key references.
type Loader struct {
	Resolver *secrets.Resolver
	// Vault opens (once) the run's Vault session, for Transit keys.
	Vault func(context.Context) (*secrets.Vault, error)
	// Label names a flag and its variables in errors: "--key (or SIGN_STEP_KEY)".
	Label func(flag string) string
}

// passphraseFlags names, per key flag, where its passphrase is given: the
// hint of an encrypted key without one names a flag the command has.
var passphraseFlags = map[string]string{
	"--root-key":    "--root-passphrase or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
	"--targets-key": "--targets-passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
	"--new-key":     "--new-passphrase, else --passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
}

func (l *Loader) label(flag string) string {
	if l.Label == nil {
		return flag
	}
	return l.Label(flag)
}

// Passphrase resolves a passphrase reference; "" is no passphrase.
func (l *Loader) Passphrase(ctx context.Context, ref string) (core.Secret, error) {
	if ref == "" {
		return nil, nil
	}
	v, _, err := l.Resolver.Resolve(ctx, ref, secrets.Literal)
	return v, err
}

// One resolves and decrypts the single key flag (e.g. "--root-key") gives.
func (l *Loader) One(ctx context.Context, ref, passRef, flag string) (*notary.Key, error) {
	if ref == "" {
		return nil, core.Classedf(core.ClassUsage, "%s is required", flag)
	}
	pem, origin, err := l.Resolver.ResolvePEM(ctx, l.label(flag), ref, secrets.PrivatePEM)
	if err != nil {
		return nil, err
	}
	pass, err := l.Passphrase(ctx, passRef)
	if err != nil {
		return nil, err
	}
	return notary.ParseKey(notary.KeyMaterial{PEM: pem, Passphrase: pass, Origin: origin, PassphraseFrom: passphraseFlags[flag]})
}

// Keyring resolves --key references (PEM or vault:// Transit keys), and the
// keys of a docker trust directory, into an in-memory keyring.
func (l *Loader) Keyring(ctx context.Context, keyRefs []string, passRef, trustDir string) (*notary.Keyring, error) {
	if len(keyRefs) == 0 && trustDir == "" {
		return nil, core.Classedf(core.ClassUsage, "no signing key: pass --key (PEM, env://VAR, file://PATH or a path) or set SIGN_STEP_KEY")
	}
	pass, err := l.Passphrase(ctx, passRef)
	if err != nil {
		return nil, err
	}
	var materials []notary.KeyMaterial
	var remote []*notary.Key
	for _, ref := range keyRefs {
		if secrets.IsTransitRef(ref) {
			k, err := l.transit(ctx, ref)
			if err != nil {
				return nil, err
			}
			remote = append(remote, k)
			continue
		}
		pem, origin, err := l.Resolver.ResolvePEM(ctx, l.label("key"), ref, secrets.PrivatePEM)
		if err != nil {
			return nil, err
		}
		materials = append(materials, notary.KeyMaterial{PEM: pem, Passphrase: pass, Origin: origin})
	}
	kr, err := notary.NewKeyring(materials...)
	if err != nil {
		return nil, err
	}
	for _, k := range remote {
		kr.Add(k)
	}
	if trustDir != "" {
		keys, err := notary.LoadTrustDir(trustDir, pass)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			kr.Add(k)
		}
	}
	return kr, nil
}

// transit is a key that stays in Vault: Transit signs, we hold its public key.
func (l *Loader) transit(ctx context.Context, ref string) (*notary.Key, error) {
	tk, err := l.transitKey(ctx, ref)
	if err != nil {
		return nil, err
	}
	return notary.NewRemoteKey(ctx, notary.RemoteKey{PublicPEM: []byte(tk.PublicPEM), Sign: tk.Sign, Origin: ref})
}

// Files writes key files through keyfile: new files only, no symlink
// followed, all or nothing (sign.KeyWriter).
type Files struct{}

var _ sign.KeyWriter = Files{}

func (Files) Check(paths ...string) error { return keyfile.Check(paths...) }

func (Files) Create(files ...sign.KeyFile) error {
	out := make([]keyfile.File, len(files))
	for i, f := range files {
		mode := keyfile.PrivateMode
		if f.Public {
			mode = keyfile.PublicMode
		}
		out[i] = keyfile.File{Path: f.Path, Body: f.Body, Mode: mode}
	}
	return keyfile.Create(out...)
}

// CryptoSigner opens a key reference as a crypto.Signer for cosign and
// Notation: a Transit key stays in Vault, any other reference is read and
// decrypted in memory.
func (l *Loader) CryptoSigner(ctx context.Context, flag, ref, passRef string) (crypto.Signer, error) {
	if ref == "" {
		return nil, core.Classedf(core.ClassUsage, "no key for --%s: pass --%s or --key", flag, flag)
	}
	if secrets.IsTransitRef(ref) {
		tk, err := l.transitKey(ctx, ref)
		if err != nil {
			return nil, err
		}
		return tk.CryptoSigner(ctx)
	}
	pass, err := l.Passphrase(ctx, passRef)
	if err != nil {
		return nil, err
	}
	pem, origin, err := l.Resolver.ResolvePEM(ctx, l.label(flag), ref, secrets.PrivatePEM)
	if err != nil {
		return nil, err
	}
	k, err := notary.ParseKey(notary.KeyMaterial{PEM: pem, Passphrase: pass, Origin: origin})
	if err != nil {
		return nil, err
	}
	return k.Signer()
}

// transitKey reads a Transit key's public key through the run's Vault session.
func (l *Loader) transitKey(ctx context.Context, ref string) (*secrets.TransitKey, error) {
	if _, err := secrets.ParseTransitRef(ref); err != nil {
		return nil, err
	}
	if l.Vault == nil {
		return nil, core.Classedf(core.ClassUsage, "%s needs a Vault session (--vault-addr)", ref)
	}
	v, err := l.Vault(ctx)
	if err != nil {
		return nil, err
	}
	return v.TransitKey(ctx, ref)
}
