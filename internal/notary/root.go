package notary

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// Root expiry. The notary client re-signs root.json in every publish once
// it expires within 6 months (client/helpers.go nearExpiry, called from
// signRootIfNecessary; it reads root.json's signed "expires" only, never the
// certificate). Without the root key that re-signature, and so the whole
// publish, fails. We warn a month before that window opens.
const (
	rootResignMonths = 6
	rootWarnMonths   = 7
)

// RootDueError is a publish refused before it starts: root.json is inside
// notary's re-sign window and none of our keys is the root key.
type RootDueError struct {
	GUN     string
	Expires time.Time // root.json's signed expiry
}

func (e *RootDueError) Error() string {
	return fmt.Sprintf("the root of %s expires %s: the notary client re-signs root in every publish from %d months before that, which needs the root key, and it is not among the keys given, so no publish can succeed; renew the root first: sign-step root renew %s --root-key K",
		e.GUN, e.Expires.Format(time.DateOnly), rootResignMonths, e.GUN)
}

// rootState is what a run needs to know about root expiry, decided from
// notary's own data: root.json's Expires (what notary's publish looks at)
// and the root certificate's NotAfter (after which every client, docker's
// included, rejects the root: trustpinning validRootLeafCerts).
type rootState struct {
	gun         string
	expires     time.Time // root.json
	certExpires time.Time // earliest root certificate; zero if none
	held        bool      // one of our keys is the root key
	writing     bool      // the run holds signing keys, so it will publish
}

// check returns the refusal (a writing run without the root key inside
// notary's window) and the warning due from rootWarnMonths out.
func (s rootState) check(now time.Time) (warning string, err error) {
	if s.writing && !s.held && s.expires.Before(now.AddDate(0, rootResignMonths, 0)) {
		return "", core.Classed(core.ClassKey, &RootDueError{GUN: s.gun, Expires: s.expires})
	}
	warnBy := now.AddDate(0, rootWarnMonths, 0)
	var parts []string
	if s.expires.Before(warnBy) {
		parts = append(parts, fmt.Sprintf("root.json expires %s (from %s every publish without the root key fails)",
			s.expires.Format(time.DateOnly), s.expires.AddDate(0, -rootResignMonths, 0).Format(time.DateOnly)))
	}
	if !s.certExpires.IsZero() && s.certExpires.Before(warnBy) {
		parts = append(parts, fmt.Sprintf("its root certificate expires %s (then docker and every notary client reject the repository)", s.certExpires.Format(time.DateOnly)))
	}
	if len(parts) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%s: %s; renew it: sign-step root renew %s --root-key K", s.gun, strings.Join(parts, ", "), s.gun), nil
}

// checkRoot is load's root expiry check: a run that will publish without
// the root key is refused inside notary's re-sign window, and a warning is
// given (once per repository and run) from rootWarnMonths out.
func (r *Repo) checkRoot() error {
	st := rootState{gun: r.gun.String(), expires: r.tufRepo.Root.Signed.Expires, writing: len(r.keys.keys) > 0}
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	if role, err := r.tufRepo.GetBaseRole(data.CanonicalRootRole); err == nil {
		for id, k := range role.Keys {
			st.held = st.held || r.holds(id, ours)
			if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil && (st.certExpires.IsZero() || cert.NotAfter.Before(st.certExpires)) {
				st.certExpires = cert.NotAfter
			}
		}
	}
	warning, err := st.check(time.Now())
	if warning != "" && r.warn != nil {
		r.warn(warning)
	}
	return err
}

// onceWarnings passes each distinct warning on once, one at a time:
// repositories are loaded concurrently, and more than once per run.
type onceWarnings struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *onceWarnings) wrap(next func(string)) func(string) {
	return func(msg string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.seen[msg] {
			return
		}
		if o.seen == nil {
			o.seen = map[string]bool{}
		}
		o.seen[msg] = true
		next(msg)
	}
}

// RootRenewal is what root renew did.
type RootRenewal = sign.RootRenewal

// GenerateRootKey makes an ECDSA P-256 root key and returns it encrypted
// with passphrase in the PEM format docker writes root keys in (PKCS#8,
// "role: root").
func GenerateRootKey(passphrase core.Secret) (*Key, core.Secret, error) {
	if len(passphrase) == 0 {
		return nil, nil, core.Classedf(core.ClassUsage, "a passphrase is needed to encrypt the new root key (--new-root-passphrase, --root-passphrase or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE)")
	}
	priv, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating root key: %w", err)
	}
	pemBytes, err := utils.ConvertPrivateKeyToPKCS8(priv, data.CanonicalRootRole, "", string(passphrase))
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting root key: %w", err)
	}
	return &Key{priv: priv, role: data.CanonicalRootRole}, core.Secret(pemBytes), nil
}

// RenewRoot gives gun's root a new x509 certificate (CN = GUN, 10 years, as
// docker's init makes it) and re-signs root.json (version + 1, expiring 10
// years out), through notary's RotateKey for the root role: with newRoot
// nil the certificate is for the same key; else root moves to newRoot, and
// root.json is signed by the old root and the new one, so that clients
// that trusted the old root accept the new one. beforePublish runs once
// everything is checked, just before the publish (to save a generated key).
// The Client's keys are added to the publish (a client-held snapshot key).
func (c *Client) RenewRoot(ctx context.Context, gun string, oldRoot, newRoot *Key, beforePublish func() error) (*RootRenewal, error) {
	r, err := c.open(ctx, gun)
	if err != nil {
		return nil, err
	}
	target := oldRoot
	kr := &Keyring{keys: []*Key{{priv: oldRoot.priv, role: data.CanonicalRootRole}}}
	if newRoot != nil {
		target = newRoot
		kr.Add(&Key{priv: newRoot.priv, role: data.CanonicalRootRole})
	}
	// The client's keys are what else the publish needs: a snapshot key the
	// client holds (the notary CLI's init keeps it).
	kr.keys = append(kr.keys, r.keys.keys...)
	r.keys, r.warn = kr, nil // this run is the renewal: no advice to renew
	if err := r.load(); err != nil {
		return nil, err
	}
	if !r.rootHolds(oldRoot.ID()) {
		if newRoot != nil && r.rootHolds(newRoot.ID()) {
			return nil, core.Classedf(core.ClassUsage, "the root of %s is already the new root key %s: nothing to do (renew it with --root-key set to that key)", gun, newRoot.ID())
		}
		return nil, core.Classedf(core.ClassKey, "--root-key %s is not the root key of %s (root.json lists %s); pass the key the repository was initialized with", oldRoot.ID(), gun, strings.Join(r.rootKeyIDs(), ", "))
	}
	out := &RootRenewal{GUN: gun, OldKeyIDs: r.rootKeyIDs(), OldKey: oldRoot.ID(), NewKey: target.ID()}
	if beforePublish != nil {
		if err := beforePublish(); err != nil {
			return nil, err
		}
	}
	sent, err := r.rotateRoot(target.ID())
	if err != nil {
		return nil, err
	}
	// Reported as sent: the publish stands even if the read back fails.
	root, err := rootOf(sent)
	if err != nil {
		return nil, fmt.Errorf("reading the root.json sent: %w", err)
	}
	out.Version, out.Expires = root.Signed.Version, root.Signed.Expires.UTC()
	if role, ok := root.Signed.Roles[data.CanonicalRootRole]; ok {
		out.NewKeyIDs = append([]string(nil), role.KeyIDs...)
		sort.Strings(out.NewKeyIDs)
		for _, id := range role.KeyIDs {
			if k, ok := root.Signed.Keys[id]; ok {
				if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil {
					out.CertExpires = cert.NotAfter.UTC()
				}
			}
		}
	}
	if err := r.readBackErr(); err != nil {
		return out, core.Classed(core.ClassNotary, err)
	}
	if !r.rootHolds(target.ID()) {
		return out, core.Classedf(core.ClassVerify, "notary server %s accepted the new root of %s but serves a root without key %s (possible attack)", r.server, gun, target.ID())
	}
	return out, nil
}

func rootOf(raw []byte) (*data.SignedRoot, error) {
	var s data.Signed
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return data.RootFromSigned(&s)
}

// rotateRoot publishes notary's root key rotation to keyID. RotateKey
// publishes by itself, so it runs once; an answer lost on the way back is
// settled by asking the server whether it holds the update.
func (r *Repo) rotateRoot(keyID string) ([]byte, error) {
	cs, err := r.keys.cryptoService(r.gun)
	if err != nil {
		return nil, err
	}
	remote := &postRecorder{RemoteStore: r.remote, spy: r.posts}
	repo, err := client.NewRepository(r.gun, r.server, remote, r.cache, r.pinning, cs, changelist.NewMemChangelist())
	if err != nil {
		return nil, err
	}
	if err := repo.RotateKey(data.CanonicalRootRole, false, []string{keyID}); err != nil {
		post := remote.last
		switch {
		case post != nil && post.conflict:
			return nil, core.Classedf(core.ClassNotary, "another publisher changed %s while its root was renewed, and this renewal was refused: run root renew again", r.gun)
		case post != nil && post.ambiguous():
			live, cerr := r.holdsUpdate(post.files)
			if cerr != nil {
				return nil, core.Classedf(core.ClassNotary, "the answer to the root renewal was lost (%s) and reading the server back failed, so whether it holds the new root is unknown (`sign-step inspect` shows the root key ID): %w", post.describe(), cerr)
			}
			if live {
				r.stale = nil
				return post.files[data.CanonicalRootRole.String()], nil
			}
		}
		return nil, r.explain(err)
	}
	r.readBack()
	if remote.last == nil {
		return nil, fmt.Errorf("renewing the root of %s: notary published nothing", r.gun)
	}
	return remote.last.files[data.CanonicalRootRole.String()], nil
}

// rootKeyIDs are the root role's key IDs as root.json lists them (for
// certificate keys, the certificate's ID).
func (r *Repo) rootKeyIDs() []string {
	role, err := r.tufRepo.GetBaseRole(data.CanonicalRootRole)
	if err != nil {
		return nil
	}
	ids := role.ListKeyIDs()
	sort.Strings(ids)
	return ids
}
