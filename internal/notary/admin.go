package notary

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// GenerateKey makes an ECDSA P-256 delegation key and returns it encrypted
// with passphrase in the PEM format `docker trust key generate` writes
// (PKCS#8, "role: NAME"), and its public key PEM as docker's NAME.pub.
func GenerateKey(name string, passphrase core.Secret) (*Key, core.Secret, []byte, error) {
	if err := sign.ValidSignerName(name); err != nil {
		return nil, nil, nil, err
	}
	if len(passphrase) == 0 {
		return nil, nil, nil, core.Classedf(core.ClassUsage, "a passphrase is needed to encrypt the new key (--passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
	}
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	pemBytes, err := utils.ConvertPrivateKeyToPKCS8(priv, data.RoleName(name), "", string(passphrase))
	if err != nil {
		return nil, nil, nil, err
	}
	k := &Key{priv: priv, role: data.RoleName(name)}
	return k, core.Secret(pemBytes), k.PublicPEM(), nil
}

// PublicPEM is k's public key as docker writes NAME.pub: a PUBLIC KEY
// block with the "role" header.
func (k *Key) PublicPEM() []byte {
	block := &pem.Block{Type: "PUBLIC KEY", Bytes: k.priv.Public()}
	if k.role != "" {
		block.Headers = map[string]string{"role": k.role.String()}
	}
	return pem.EncodeToMemory(block)
}

// presetKeys makes Initialize use keys we already hold instead of creating
// new ones (notary's Initialize always asks the crypto service to Create).
type presetKeys struct {
	signed.CryptoService
	preset map[data.RoleName]data.PublicKey
}

func (p presetKeys) Create(role data.RoleName, gun data.GUN, algorithm string) (data.PublicKey, error) {
	if k, ok := p.preset[role]; ok {
		return k, nil
	}
	return p.CryptoService.Create(role, gun, algorithm)
}

// Init initializes gun with root (whose x509 certificate, CN = GUN and 10
// years, goes into root.json as docker does) and the repository key that
// targets gives; snapshot and timestamp are managed by the server. It
// returns false, without calling targets, when the repository already
// exists with this root key: targets runs only once the repository is known
// to be new, so a generated key is made and saved only when it will be used.
func (c *Client) Init(ctx context.Context, gun string, root *Key, targets func() (*Key, error)) (bool, error) {
	r, err := c.open(ctx, gun)
	if err != nil {
		return false, err
	}
	if err := r.load(); err == nil {
		if r.rootHolds(root.ID()) {
			return false, nil
		}
		return false, core.Classedf(core.ClassNotary, "%s is already initialized with another root key; not touching it", gun)
	} else {
		var none *core.NoTrustDataError
		if !errors.As(err, &none) {
			return false, err
		}
	}
	targetsKey, err := targets()
	if err != nil {
		return false, err
	}
	kr := &Keyring{keys: []*Key{{priv: root.priv, role: data.CanonicalRootRole}, {priv: targetsKey.priv, role: data.CanonicalTargetsRole, gun: data.GUN(gun)}}}
	cs, err := kr.cryptoService(r.gun)
	if err != nil {
		return false, err
	}
	preset := presetKeys{CryptoService: cs, preset: map[data.RoleName]data.PublicKey{data.CanonicalTargetsRole: data.PublicKeyFromPrivate(targetsKey.priv)}}
	repo, err := client.NewRepository(r.gun, r.server, r.remote, r.cache, r.pinning, preset, changelist.NewMemChangelist())
	if err != nil {
		return false, err
	}
	if err := repo.Initialize([]string{root.ID()}, data.CanonicalSnapshotRole); err != nil {
		return false, r.explain(err)
	}
	if err := repo.Publish(); err != nil {
		return false, r.explain(err)
	}
	return true, nil
}

// rootHolds reports whether root.json's root role is keyID's key (through
// its certificate).
func (r *Repo) rootHolds(keyID string) bool {
	role, err := r.tufRepo.GetBaseRole(data.CanonicalRootRole)
	if err != nil {
		return false
	}
	for _, id := range role.ListKeyIDs() {
		if r.holds(id, map[string]bool{keyID: true}) {
			return true
		}
	}
	return false
}

// AddSigner adds pubPEM (PUBLIC KEY or CERTIFICATE) as signer name of gun,
// to targets/<name> and targets/releases with all paths, as `docker trust
// signer add` does; a second key for an existing name is appended. Needs
// the targets key.
func (c *Client) AddSigner(ctx context.Context, gun, name string, pubPEM []byte) (string, error) {
	if err := sign.ValidSignerName(name); err != nil {
		return "", err
	}
	pub, err := utils.ParsePEMPublicKey(pubPEM)
	if err != nil {
		return "", core.Classedf(core.ClassKey, "reading public key of %s: %w", name, err)
	}
	id, _ := utils.CanonicalKeyID(pub)
	r, err := c.openLoaded(ctx, gun)
	if err != nil {
		return "", err
	}
	if err := r.CheckPublish(); err != nil {
		return "", err
	}
	role := data.RoleName("targets/" + name)
	err = r.publish(ctx, func(repo client.Repository) error { return addSignerKey(repo, role, pub) })
	return id, r.needsTargetsKey(err)
}

// addSignerKey stages pub in role and in targets/releases, with all paths,
// as docker's signer add does.
func addSignerKey(repo client.Repository, role data.RoleName, pub data.PublicKey) error {
	for _, rn := range []data.RoleName{role, ReleasesRole} {
		if err := repo.AddDelegationRoleAndKeys(rn, []data.PublicKey{pub}); err != nil {
			return err
		}
		if err := repo.AddDelegationPaths(rn, []string{""}); err != nil {
			return err
		}
	}
	return nil
}

// RemoveSigner removes signer name from gun: its role, and its keys from
// targets/releases. Unlike docker's `signer remove`, it always does so.
// Tags it alone signed become unsigned.
func (c *Client) RemoveSigner(ctx context.Context, gun, name string) error {
	r, err := c.openLoaded(ctx, gun)
	if err != nil {
		return err
	}
	role := data.RoleName("targets/" + name)
	var keyIDs []string
	for _, d := range r.delegs {
		if d.Name == role {
			keyIDs = d.KeyIDs
		}
	}
	if keyIDs == nil {
		return core.Classedf(core.ClassUsage, "no signer %s in %s", name, gun)
	}
	if err := r.CheckPublish(); err != nil {
		return err
	}
	return r.needsTargetsKey(r.publish(ctx, func(repo client.Repository) error {
		if err := repo.RemoveDelegationKeys(ReleasesRole, releasesKeyIDs(r, keyIDs)); err != nil {
			return err
		}
		return repo.RemoveDelegationRole(role)
	}))
}

// RotateSignerKey replaces signer name's keys with newKey, keeping every
// tag signed throughout: add the new key to both roles, re-sign both with
// it, then remove the old keys. Two publishes; between them both keys are
// valid. Needs the targets key and newKey in the keyring.
func (c *Client) RotateSignerKey(ctx context.Context, gun, name string, newKey *Key) ([]string, error) {
	pub := data.PublicKeyFromPrivate(newKey.priv)
	r, err := c.openLoaded(ctx, gun)
	if err != nil {
		return nil, err
	}
	role := data.RoleName("targets/" + name)
	var old []string
	found := false
	for _, d := range r.delegs {
		if d.Name == role {
			found = true
			for _, id := range d.KeyIDs {
				if id != newKey.ID() {
					old = append(old, id)
				}
			}
		}
	}
	if !found {
		return nil, core.Classedf(core.ClassUsage, "no signer %s in %s", name, gun)
	}
	if err := r.CheckPublish(); err != nil {
		return nil, err
	}
	// Publish 1: both roles list the new key and are re-signed by it. A
	// role never signed into has no metadata to re-sign: its first
	// signature will be the new key's.
	err = r.publish(ctx, func(repo client.Repository) error { return addSignerKey(repo, role, pub) })
	if err != nil {
		return nil, r.needsTargetsKey(err)
	}
	var witness []data.RoleName
	for _, rn := range []data.RoleName{role, ReleasesRole} {
		if r.neverSigned(rn) {
			r.log.Info("never signed into: nothing to re-sign", "gun", gun, "role", rn.String())
			continue
		}
		witness = append(witness, rn)
	}
	halfway := func(err error) error {
		if err == nil {
			return nil
		}
		return &sign.HalfwayError{Done: fmt.Sprintf("added key %s to %s and %s (the old keys are still valid)", newKey.ID(), role, ReleasesRole), Err: err}
	}
	if len(witness) > 0 {
		if err := r.publish(ctx, func(repo client.Repository) error {
			_, err := repo.Witness(witness...)
			return err
		}); err != nil {
			return nil, halfway(err)
		}
	}
	if len(old) == 0 {
		return nil, nil
	}
	// Publish 2: the old keys go.
	err = r.needsTargetsKey(r.publish(ctx, func(repo client.Repository) error {
		if err := repo.RemoveDelegationKeys(role, old); err != nil {
			return err
		}
		return repo.RemoveDelegationKeys(ReleasesRole, releasesKeyIDs(r, old))
	}))
	if err != nil {
		return nil, halfway(err)
	}
	return old, nil
}

// releasesKeyIDs maps canonical key IDs to the IDs targets/releases lists
// (they differ for certificate keys).
func releasesKeyIDs(r *Repo, canonical []string) []string {
	want := map[string]bool{}
	for _, id := range canonical {
		want[id] = true
	}
	var out []string
	if targets, ok := r.tufRepo.Targets[data.CanonicalTargetsRole]; ok {
		for id, k := range targets.Signed.Delegations.Keys {
			if c, err := utils.CanonicalKeyID(k); err == nil && want[c] {
				out = append(out, id)
			}
		}
	}
	if len(out) == 0 {
		return canonical
	}
	return out
}

// openLoaded is Open for the admin verbs, which need the *Repo.
func (c *Client) openLoaded(ctx context.Context, gun string) (*Repo, error) {
	tr, err := c.Open(ctx, gun)
	if err != nil {
		return nil, err
	}
	return tr.(*Repo), nil
}

// needsTargetsKey explains a publish that failed for want of the targets key.
func (r *Repo) needsTargetsKey(err error) error {
	var insufficient signed.ErrInsufficientSignatures
	var noKeys signed.ErrNoKeys
	if errors.As(err, &insufficient) || errors.As(err, &noKeys) {
		return core.Classedf(core.ClassKey, "changing signers of %s needs its repository (targets) key: pass it with --key (%w)", r.gun, err)
	}
	return err
}
