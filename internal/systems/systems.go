// Package systems adapts the cosign and Notation clients to the use cases'
// ports: sign.System (sign --also-sign, migrate) and sign.ImageVerifier
// (verify --require/--policy).
package systems

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

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/notation"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/sign"
)

// NoTlogNote is logged whenever a cosign signature is written: no
// transparency log is reachable from CI on private networks.
const NoTlogNote = "cosign signatures are key-based with no transparency log entry: verify with cosign verify --key PUB --insecure-ignore-tlog=true"

// ParseNames checks a list of systems (comma lists allowed) given to
// --flag against allowed, lower-cased and without repeats.
func ParseNames(flag string, list []string, allowed ...string) ([]string, error) {
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
				return nil, core.Classedf(core.ClassUsage, "--%s %q: want one of %s", flag, s, strings.Join(allowed, ", "))
			}
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// Cosign signs with Signer (sign.System) or verifies with Keys
// (sign.ImageVerifier).
type Cosign struct {
	Registry *registry.Registry
	Client   *cosign.Client
	Signer   crypto.Signer
	Keys     []crypto.PublicKey // any one suffices
}

// NewCosign is the cosign adapter over reg's transport and logins.
func NewCosign(reg *registry.Registry) *Cosign {
	return &Cosign{Registry: reg, Client: cosign.New(reg.Transport(), reg.Keychain(), reg.UserAgent())}
}

func (c *Cosign) Name() string { return sign.SystemCosign }

func (c *Cosign) digest(img core.Ref) (name.Digest, error) {
	r, err := c.Registry.Reference(img)
	if err != nil {
		return name.Digest{}, err
	}
	d, ok := r.(name.Digest)
	if !ok {
		return name.Digest{}, fmt.Errorf("%s is not a digest reference", img)
	}
	return d, nil
}

func (c *Cosign) Present(ctx context.Context, img core.Ref) (bool, error) {
	d, err := c.digest(img)
	if err != nil {
		return false, err
	}
	_, err = c.Client.Verify(ctx, d, []crypto.PublicKey{c.Signer.Public()})
	if errors.Is(err, cosign.ErrNoSignature) {
		return false, nil
	}
	return err == nil, err
}

func (c *Cosign) Add(ctx context.Context, img core.Ref) error {
	_, err := c.Ensure(ctx, img)
	return err
}

// Ensure signs img unless our key already has: Sign checks first.
func (c *Cosign) Ensure(ctx context.Context, img core.Ref) (bool, error) {
	d, err := c.digest(img)
	if err != nil {
		return false, err
	}
	res, err := c.Client.Sign(ctx, d, c.Signer)
	return res.Added, err
}

// Prepare implements sign.Stager: a connection and upload sessions for
// repo, ahead of its digests.
func (c *Cosign) Prepare(ctx context.Context, repo core.Ref) {
	r, err := c.Registry.Reference(core.Ref{Registry: repo.Registry, Repository: repo.Repository, Tag: "latest"})
	if err != nil {
		return // Stage reports it
	}
	c.Client.Prepare(ctx, r.Context())
}

// Release implements sign.Stager.
func (c *Cosign) Release(ctx context.Context) { c.Client.Release(ctx) }

// Stage implements sign.Stager: the signature is read, made and uploaded
// now, and appears in the registry only when commit runs.
func (c *Cosign) Stage(ctx context.Context, img core.Ref) (func(context.Context) error, error) {
	d, err := c.digest(img)
	if err != nil {
		return nil, err
	}
	st, err := c.Client.Stage(ctx, d, c.Signer)
	if err != nil || st.Present() {
		return nil, err
	}
	return st.Commit, nil
}

// Verify checks that one of Keys signed img.
func (c *Cosign) Verify(ctx context.Context, img core.Ref) error {
	d, err := c.digest(img)
	if err != nil {
		return err
	}
	_, err = c.Client.Verify(ctx, d, c.Keys)
	return err
}

// Notation signs with Signer (sign.System) or verifies against Policy and
// the trust store Store (sign.ImageVerifier).
type Notation struct {
	Client *notation.Client
	Signer *notation.Signer
	Pub    crypto.PublicKey
	Policy *trustpolicy.Document
	Store  string
}

// NewNotation is the Notation adapter over reg's transport and logins.
func NewNotation(reg *registry.Registry) *Notation {
	nc := notation.New(reg.Transport(), reg.Keychain())
	nc.PlainHTTP = reg.PlainHTTP
	return &Notation{Client: nc}
}

func (n *Notation) Name() string { return sign.SystemNotation }

func (n *Notation) Present(ctx context.Context, img core.Ref) (bool, error) {
	return n.Client.SignedBy(ctx, img.String(), n.Pub)
}

func (n *Notation) Add(ctx context.Context, img core.Ref) error {
	_, err := n.Ensure(ctx, img)
	return err
}

// Ensure signs img unless our key already has: Sign checks first.
func (n *Notation) Ensure(ctx context.Context, img core.Ref) (bool, error) {
	res, err := n.Client.Sign(ctx, img.String(), n.Signer)
	return res.Added, err
}

// Verify checks img against Policy and Store.
func (n *Notation) Verify(ctx context.Context, img core.Ref) error {
	_, err := n.Client.Verify(ctx, img.String(), n.Policy, n.Store)
	return err
}

// StorePolicy is the Notation trust policy of a trust store directory
// alone: every named store in it, for every repository and any identity,
// strict.
func StorePolicy(dir string) (*trustpolicy.Document, error) {
	var stores []string
	for _, typ := range []string{"ca", "signingAuthority"} {
		entries, err := os.ReadDir(filepath.Join(dir, "x509", typ))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, core.Classedf(core.ClassUsage, "reading --notation-trust-store: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				stores = append(stores, typ+":"+e.Name())
			}
		}
	}
	if len(stores) == 0 {
		return nil, core.Classedf(core.ClassUsage, "--notation-trust-store %s holds no x509/ca/<name> or x509/signingAuthority/<name> directory", dir)
	}
	return &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "sign-step", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: "strict"},
		TrustStores:           stores, TrustedIdentities: []string{"*"},
	}}}, nil
}
