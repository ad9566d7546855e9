package sign

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// Key is a private key held in memory (or in Vault Transit): the use cases
// see only its ID; the notary adapter holds the material.
type Key interface{ ID() string }

// TrustAdmin is the notary side of the admin verbs (notary.Admin).
type TrustAdmin interface {
	// Init creates gun with root and the key targets returns, and calls
	// targets only when it will create the repository; created is false,
	// with nothing changed, when gun exists with this root key.
	Init(ctx context.Context, gun string, root Key, targets func() (Key, error)) (created bool, err error)
	AddSigner(ctx context.Context, gun, name string, pubPEM []byte) (keyID string, err error)
	RemoveSigner(ctx context.Context, gun, name string) error
	// RotateSignerKey adds newKey to the signer's roles, re-signs them and
	// removes the old keys; a failure after the first publish is a
	// *HalfwayError.
	RotateSignerKey(ctx context.Context, gun, name string, newKey Key) (removed []string, err error)
	// RenewRoot re-signs gun's root (to newRoot when not nil), calling
	// beforePublish once everything is checked.
	RenewRoot(ctx context.Context, gun string, oldRoot, newRoot Key, beforePublish func() error) (*RootRenewal, error)
}

// KeyMaker generates keys in docker's formats, encrypted with pass.
type KeyMaker interface {
	Delegation(name string, pass core.Secret) (k Key, pem core.Secret, pub []byte, err error)
	Root(pass core.Secret) (k Key, pem core.Secret, err error)
}

// KeyFile is a key file to create.
type KeyFile struct {
	Path   string
	Body   []byte
	Public bool // mode 0644 instead of 0600
}

// KeyWriter creates key files, refusing any path that exists (a symlink
// included) with a ClassUsage error, and writing none then.
type KeyWriter interface {
	Check(paths ...string) error
	Create(files ...KeyFile) error
}

// RootRenewal is what root renew did.
type RootRenewal struct {
	GUN                  string
	Version              int       // root.json's new version
	Expires              time.Time // root.json's new expiry
	CertExpires          time.Time // the new certificate's NotAfter
	OldKeyIDs, NewKeyIDs []string  // root key IDs as root.json lists them: docker trust inspect's "Root", --pin-root
	OldKey, NewKey       string    // canonical key IDs (the private key's ID, what init prints)
}

// HalfwayError is a change of several publishes that stopped after the
// first: Done says what stands on the server.
type HalfwayError struct {
	Done string
	Err  error
}

func (e *HalfwayError) Error() string { return e.Done + "; then " + e.Err.Error() }
func (e *HalfwayError) Unwrap() error { return e.Err }

// Admin runs the verbs that change a repository's keys and signers.
type Admin struct {
	Trust TrustAdmin
	Keys  KeyMaker
	Files KeyWriter
}

var signerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9\_\-]*$`)

// ValidSignerName checks a signer name as `docker trust signer add` does.
func ValidSignerName(name string) error {
	if !signerNamePattern.MatchString(name) {
		return core.Classedf(core.ClassUsage, "signer name %q must match %s", name, signerNamePattern)
	}
	if name == "releases" {
		return core.Classedf(core.ClassUsage, "releases is a reserved keyword, use a different signer name")
	}
	return nil
}

// InitRequest is init's input: the repository key is Targets, or one
// generated into TargetsOut, encrypted with TargetsPass.
type InitRequest struct {
	GUN         string
	Root        Key
	Targets     Key
	TargetsOut  string
	TargetsPass core.Secret
}

// InitResult says what init did.
type InitResult struct {
	Created   bool
	TargetsID string // the repository key used, when Created
	Written   string // the key file written, if any
}

// Init creates a repository, or changes nothing when it exists with this
// root: a key is generated and written only once the repository is known
// to be new.
func (a *Admin) Init(ctx context.Context, req InitRequest) (InitResult, error) {
	switch {
	case req.Targets != nil && req.TargetsOut != "":
		return InitResult{}, core.Classedf(core.ClassUsage, "--targets-key and --targets-key-out exclude each other")
	case req.Targets == nil && req.TargetsOut == "":
		return InitResult{}, core.Classedf(core.ClassUsage, "give the repository key with --targets-key, or --targets-key-out FILE to generate one")
	case req.Targets == nil && len(req.TargetsPass) == 0:
		return InitResult{}, core.Classedf(core.ClassUsage, "a passphrase is needed to encrypt the generated repository key: --targets-passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE")
	}
	var res InitResult
	created, err := a.Trust.Init(ctx, req.GUN, req.Root, func() (Key, error) {
		if req.Targets != nil {
			res.TargetsID = req.Targets.ID()
			return req.Targets, nil
		}
		k, pem, _, err := a.Keys.Delegation("targets", req.TargetsPass)
		if err != nil {
			return nil, err
		}
		// Written before the publish: a repository whose key was lost would
		// be unmanageable, a key file for a publish that failed is not.
		// Create refuses an existing file, so nothing is published then.
		if err := a.Files.Create(KeyFile{Path: req.TargetsOut, Body: pem}); err != nil {
			return nil, fmt.Errorf("--targets-key-out: %w", err)
		}
		res.TargetsID, res.Written = k.ID(), req.TargetsOut
		return k, nil
	})
	res.Created = created
	if err != nil && res.Written != "" {
		return res, fmt.Errorf("initializing %s: %w; the generated repository key is kept in %s: re-run with --targets-key %s (if the publish reached the server after all, that file holds the repository's key)", req.GUN, err, res.Written, res.Written)
	}
	return res, err
}

// SignerChange is one repository a signer was added to or removed from.
type SignerChange struct {
	GUN   string
	KeyID string // added
}

// AddSigner adds the signer's public key to every repository in turn; the
// changes made before a failure are returned with it.
func (a *Admin) AddSigner(ctx context.Context, name string, pubPEM []byte, guns []string) ([]SignerChange, error) {
	if err := ValidSignerName(name); err != nil {
		return nil, err
	}
	if len(pubPEM) == 0 {
		return nil, core.Classedf(core.ClassUsage, "--public-key is required")
	}
	var done []SignerChange
	for _, gun := range guns {
		id, err := a.Trust.AddSigner(ctx, gun, name, pubPEM)
		if err != nil {
			return done, fmt.Errorf("adding signer %s to %s: %w", name, gun, err)
		}
		done = append(done, SignerChange{GUN: gun, KeyID: id})
	}
	return done, nil
}

// RemoveSigner removes the signer from every repository in turn. The
// releases role is not a signer: removing it would unsign every tag.
func (a *Admin) RemoveSigner(ctx context.Context, name string, guns []string) ([]SignerChange, error) {
	if err := ValidSignerName(name); err != nil {
		return nil, err
	}
	var done []SignerChange
	for _, gun := range guns {
		if err := a.Trust.RemoveSigner(ctx, gun, name); err != nil {
			return done, fmt.Errorf("removing signer %s from %s: %w", name, gun, err)
		}
		done = append(done, SignerChange{GUN: gun})
	}
	return done, nil
}

// GenerateKeyRequest is key generate's input.
type GenerateKeyRequest struct {
	Name   string
	Pass   core.Secret
	Out    string // private key file, required
	PubOut string // public key file, optional
}

// GeneratedKey is a generated key's ID and public PEM (docker's NAME.pub).
type GeneratedKey struct {
	ID        string
	PublicPEM []byte
}

// GenerateKey makes a delegation key into new files; as docker refuses an
// existing NAME.pub, it refuses any existing path before generating.
func (a *Admin) GenerateKey(_ context.Context, req GenerateKeyRequest) (GeneratedKey, error) {
	if req.Out == "" {
		return GeneratedKey{}, core.Classedf(core.ClassUsage, "--out FILE is required: the private key is never printed")
	}
	paths := []string{req.Out}
	if req.PubOut != "" {
		paths = append(paths, req.PubOut)
	}
	if err := a.Files.Check(paths...); err != nil {
		return GeneratedKey{}, err
	}
	k, pem, pub, err := a.Keys.Delegation(req.Name, req.Pass)
	if err != nil {
		return GeneratedKey{}, err
	}
	files := []KeyFile{{Path: req.Out, Body: pem}}
	if req.PubOut != "" {
		files = append(files, KeyFile{Path: req.PubOut, Body: pub, Public: true})
	}
	if err := a.Files.Create(files...); err != nil {
		return GeneratedKey{}, err
	}
	return GeneratedKey{ID: k.ID(), PublicPEM: pub}, nil
}

// RotateKey replaces signer name's keys in gun with newKey; tags stay
// signed throughout. It returns the removed key IDs.
func (a *Admin) RotateKey(ctx context.Context, gun, name string, newKey Key) ([]string, error) {
	if err := ValidSignerName(name); err != nil {
		return nil, err
	}
	if newKey == nil {
		return nil, core.Classedf(core.ClassUsage, "--new-key is required")
	}
	removed, err := a.Trust.RotateSignerKey(ctx, gun, name, newKey)
	var half *HalfwayError
	if errors.As(err, &half) {
		// Both keys are valid: a re-run with the same --new-key finishes.
		return nil, fmt.Errorf("rotating signer %s of %s: %w; re-run the same rotate to finish", name, gun, err)
	}
	return removed, err
}

// RenewRootRequest is root renew's input: the root stays OldRoot's key
// unless NewRoot is given or generated into NewRootOut (with NewRootPass).
type RenewRootRequest struct {
	GUN         string
	OldRoot     Key
	NewRoot     Key
	NewRootOut  string
	NewRootPass core.Secret
}

// RenewRoot renews gun's root certificate or rotates it to a new key. A
// generated key is written once everything is checked, just before the
// publish. The renewal is returned when the publish was sent, even with an
// error reading it back.
func (a *Admin) RenewRoot(ctx context.Context, req RenewRootRequest) (*RootRenewal, error) {
	if req.OldRoot == nil {
		return nil, core.Classedf(core.ClassUsage, "--root-key is required")
	}
	newRoot := req.NewRoot
	var save func() error
	written := false
	switch {
	case req.NewRoot != nil && req.NewRootOut != "":
		return nil, core.Classedf(core.ClassUsage, "--new-root-key and --new-root-key-out exclude each other")
	case req.NewRoot != nil:
		if req.NewRoot.ID() == req.OldRoot.ID() {
			return nil, core.Classedf(core.ClassUsage, "--new-root-key is the current root key: leave it out to renew that key's certificate")
		}
	case req.NewRootOut != "":
		if err := a.Files.Check(req.NewRootOut); err != nil {
			return nil, fmt.Errorf("--new-root-key-out: %w", err)
		}
		k, pem, err := a.Keys.Root(req.NewRootPass)
		if err != nil {
			return nil, err
		}
		newRoot = k
		// A root moved to a key nobody kept would make the repository
		// unmanageable: the file is written before the publish.
		save = func() error {
			if err := a.Files.Create(KeyFile{Path: req.NewRootOut, Body: pem}); err != nil {
				return fmt.Errorf("--new-root-key-out: %w", err)
			}
			written = true
			return nil
		}
	}
	renewal, err := a.Trust.RenewRoot(ctx, req.GUN, req.OldRoot, newRoot, save)
	if err != nil && written && renewal == nil {
		return nil, fmt.Errorf("renewing the root of %s: %w; the generated root key is kept in %s: re-run with --new-root-key %s (if the publish reached the server after all, that file holds the repository's root key)", req.GUN, err, req.NewRootOut, req.NewRootOut)
	}
	return renewal, err
}
