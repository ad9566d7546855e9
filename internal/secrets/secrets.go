// Package secrets resolves the references users give for keys, passphrases
// and passwords (env://VAR, file://PATH, inline values, plain paths) into
// values held in memory. Every value it returns is registered with the
// masker before it is returned, so nothing can print it afterwards.
package secrets

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/redact"
)

// Masker learns secret values so that output can hide them.
type Masker interface{ Mask(value string) }

// Resolver turns references into secret values.
type Resolver struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error) // default os.ReadFile
	Masker   Masker
	// Vault reads vault:// references (see Vault); nil: none configured.
	Vault VaultReader
}

// VaultReader returns the field a vault://<path>[?version=N]#<field>
// reference names. *Vault is the real one.
type VaultReader interface {
	Read(ctx context.Context, ref string) (core.Secret, error)
}

// Kind says how a bare value (no scheme) is read.
type Kind int

const (
	// KeyOrPath: a bare value is inline PEM if it starts with "-----BEGIN", else a file path.
	KeyOrPath Kind = iota
	// Literal: a bare value is the secret itself (passphrases, passwords).
	Literal
)

// Resolve returns the value ref names and a description of where it came
// from that is safe to print (never the value).
func (r *Resolver) Resolve(ctx context.Context, ref string, kind Kind) (core.Secret, string, error) {
	return r.ResolveFlag(ctx, "", ref, kind)
}

// ResolveFlag is Resolve for the value of flag (e.g. "--key"), which errors
// about a bare value name instead of the value.
//
// A passphrase or password (Literal) read from file:// or env:// loses one
// trailing "\n" or "\r\n", as `echo pass > f`, Jenkins' writeFile and
// `docker login --password-stdin` expect; a bare value is taken as given.
func (r *Resolver) ResolveFlag(ctx context.Context, flag, ref string, kind Kind) (core.Secret, string, error) {
	switch {
	case strings.HasPrefix(ref, "env://"):
		name := strings.TrimPrefix(ref, "env://")
		v := r.Getenv(name)
		if v == "" {
			return nil, ref, core.Classedf(core.ClassSecrets, "resolving %s: environment variable %s is empty or unset", ref, name)
		}
		return r.literal(r.keep(v), kind), ref, nil
	case strings.HasPrefix(ref, "file://"):
		v, origin, err := r.file(strings.TrimPrefix(ref, "file://"), ref)
		return r.literal(v, kind), origin, err
	case strings.HasPrefix(ref, VaultScheme):
		if r.Vault == nil {
			return nil, ref, core.Classedf(core.ClassUsage, "resolving %s: no Vault is configured: pass --vault-addr (or set VAULT_ADDR) and --vault-method", ref)
		}
		v, err := r.Vault.Read(ctx, ref)
		if err != nil {
			return nil, ref, err
		}
		r.mask(string(v))
		return v, ref, nil
	case IsTransitRef(ref):
		// A Transit key is used in Vault, never read: only --key of the
		// signing commands takes it (see Vault.TransitKey).
		return nil, ref, core.Classedf(core.ClassSecrets, "resolving %s: a Vault Transit key never leaves Vault and has no PEM or value; vault-transit:// is accepted by --key (delegation signing key) only", ref)
	case kind == KeyOrPath && !strings.HasPrefix(strings.TrimSpace(ref), "-----BEGIN"):
		return r.bare(flag, ref)
	case kind == KeyOrPath:
		return r.keep(ref), "inline PEM", nil
	default:
		return r.keep(ref), "inline value", nil
	}
}

// bare reads a value that is neither PEM nor a reference as a file path. If
// that fails, the value may well be the secret itself (a base64 PEM in
// SIGN_STEP_KEY, a key body without its armor): it is masked and never
// echoed. A path that reads is printed as file://PATH, as before.
func (r *Resolver) bare(flag, ref string) (core.Secret, string, error) {
	b, err := r.read(ref)
	if err != nil {
		r.mask(ref)
		if flag == "" {
			flag = "a key or certificate value"
		}
		return nil, "the value of " + flag, core.Classedf(core.ClassSecrets,
			"%s: not a PEM and not a readable file (%v); the value is not shown: give inline PEM (-----BEGIN ...), file://PATH or env://VAR",
			flag, unwrapPath(err))
	}
	r.mask(string(b))
	return core.Secret(b), "file://" + ref, nil
}

// literal drops the one line ending a file or variable usually ends with
// from a passphrase or password.
func (r *Resolver) literal(v core.Secret, kind Kind) core.Secret {
	if kind != Literal || v == nil {
		return v
	}
	s := string(v)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
		r.mask(s)
	}
	return core.Secret(s)
}

func (r *Resolver) read(path string) ([]byte, error) {
	if r.ReadFile != nil {
		return r.ReadFile(path)
	}
	return os.ReadFile(path)
}

func (r *Resolver) file(path, origin string) (core.Secret, string, error) {
	b, err := r.read(path)
	if err != nil {
		return nil, origin, core.Classedf(core.ClassSecrets, "resolving %s: %w", origin, unwrapPath(err))
	}
	r.mask(string(b))
	return core.Secret(b), origin, nil
}

func (r *Resolver) keep(v string) core.Secret {
	r.mask(v)
	return core.Secret(v)
}

// mask registers the value and each of its lines: CI log maskers work per line.
func (r *Resolver) mask(v string) {
	if r.Masker == nil {
		return
	}
	r.Masker.Mask(v)
	for _, p := range redact.Parts(v) {
		r.Masker.Mask(p)
	}
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
