package notary

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/validation"

	"github.com/sign-step/sign-step/internal/core"
)

// This file handles the repository shapes other clients leave: a snapshot
// key kept on the client (the notary CLI's `init`), delegations that were
// added but never signed into, and delegations that have expired.

// CheckPublish implements sign.TrustRepo. Every publish changes the
// snapshot, so someone must sign it: we, with a snapshot key given with
// --key, or the server. Without either, notary's client leaves the
// snapshot out and the server refuses the update, after everything else
// the run did (a --source push, other repositories' publishes).
//
// Whether the server holds the key is asked as the notary CLI asks it
// (GET …/snapshot.key) and compared with root.json's snapshot role. A
// server that does not hold it creates a new pending key in answer, which
// signs nothing until a rotation. A server lying that it holds the key only
// fails later, at the publish, as before: this check is no security boundary.
func (r *Repo) CheckPublish() error {
	role, err := r.tufRepo.GetBaseRole(data.CanonicalSnapshotRole)
	if err != nil {
		return r.explain(err)
	}
	ids := role.ListKeyIDs()
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	for _, id := range ids {
		if r.holds(id, ours) {
			return nil
		}
	}
	raw, err := r.remote.GetKey(data.CanonicalSnapshotRole)
	if err != nil {
		if e := r.loginRefused(err); e != nil {
			return e // a token without push: the login, not the signer
		}
		var unavailable store.ErrServerUnavailable
		if errors.As(err, &unavailable) && isStatus5xx(unavailable) {
			// notary-server reads its snapshot and timestamp keys from its
			// signing service; a 5xx here is that service failing, and the
			// publish that follows could not be signed either.
			return core.Classedf(core.ClassNotary, "notary server %s could not sign for %s: asked whether it holds the snapshot key, it failed (%v): its signing service (notary-signer) may be unreachable; nothing was published: retry once notary-server signs again (its /_notary_server/health checks the signer)", r.server, r.gun, err)
		}
		return fmt.Errorf("asking notary server %s whether it holds the snapshot key of %s: %w", r.server, r.gun, r.explain(err))
	}
	pub, err := data.UnmarshalPublicKey(raw)
	if err != nil {
		return core.Classedf(core.ClassNotary, "notary server %s answered with an unreadable snapshot key for %s: %v", r.server, r.gun, err)
	}
	if slices.Contains(ids, pub.ID()) {
		return nil
	}
	return r.snapshotKeyHeldByNobody(ids, "")
}

// snapshotKeyHeldByNobody is the refusal of a publish nobody can complete,
// found by CheckPublish or told by the server after the POST (refused, then
// "nothing was published" is said).
func (r *Repo) snapshotKeyHeldByNobody(ids []string, after string) error {
	sorted := slices.Sorted(slices.Values(ids))
	return core.Classedf(core.ClassKey, "%s signs its snapshot on the client (the notary CLI's `init` default), and neither the notary server nor our keys hold its snapshot key %s%s: pass that key with --key (the notary CLI keeps it in its trust dir, private/<ID>.key), or hand it to the server with `notary key rotate %s snapshot -r`; if the server held it until now, its notary-signer has lost it (another NOTARY_SIGNER_<ALIAS> passphrase or signer database): fix the signer, not the client",
		r.gun, strings.Join(sorted, ", "), after, r.gun)
}

// snapshotRefused explains notary-server's refusal of an update without a
// snapshot whose snapshot key it does not hold (validateUpdate answers
// ErrBadHierarchy for the snapshot), as CheckPublish would have; else nil.
func (r *Repo) snapshotRefused(err error) error {
	var missing validation.ErrBadHierarchy
	if !errors.As(err, &missing) || missing.Missing != data.CanonicalSnapshotRole.String() || r.tufRepo == nil {
		return nil
	}
	role, rerr := r.tufRepo.GetBaseRole(data.CanonicalSnapshotRole)
	if rerr != nil {
		return nil
	}
	return r.snapshotKeyHeldByNobody(role.ListKeyIDs(), " (the server refused the publish: nothing was published)")
}

// neverSigned reports a delegation that is listed but was never signed
// into: `signer add` writes only the parent's entry, and the role's own
// metadata comes with its first target. The snapshot has no entry for it
// and there is nothing to re-sign (notary's Witness calls it "not known").
func (r *Repo) neverSigned(role data.RoleName) bool {
	if _, ok := r.tufRepo.Targets[role]; ok {
		return false
	}
	if r.invalid != nil {
		if _, ok := r.invalid.Targets[role]; ok {
			return false
		}
	}
	if r.tufRepo.Snapshot != nil {
		if _, ok := r.tufRepo.Snapshot.Signed.Meta[role.String()]; ok {
			return false
		}
	}
	return true
}

// unusable refuses roles we would sign into that failed validation
// (notary keeps them aside, in r.invalid). notary would start such a role
// over, empty, at version 1: the server refuses that as outdated, and a
// server that accepted it would lose every other tag of the role.
func (r *Repo) unusable(roles []string) error {
	if r.invalid == nil {
		return nil
	}
	for _, name := range roles {
		role := data.RoleName(name)
		bad, ok := r.invalid.Targets[role]
		if _, valid := r.tufRepo.Targets[role]; !ok || bad == nil || valid {
			continue
		}
		if expires := bad.Signed.Expires; expires.Before(time.Now()) {
			return r.expiredRole(role, expires)
		}
		return core.Classedf(core.ClassNotary, "%s of %s does not verify (too few valid signatures), so nothing can be signed into it: re-sign it with its key (`sign-step resign %s`)", role, r.gun, r.gun)
	}
	return nil
}

func (r *Repo) expiredRole(role data.RoleName, expires time.Time) error {
	return core.Classedf(core.ClassNotary, "%s of %s expired %s, and nothing can be signed into an expired role: re-sign it first with `sign-step resign %s` (with a key of that role), then sign again",
		role, r.gun, expires.UTC().Format(time.RFC3339), r.gun)
}

// expiredSent is the first role of a rejected publish that the server's
// trust data holds expired: notary started it over at version 1, which is
// why the server refused the update as outdated.
func (r *Repo) expiredSent(files map[string][]byte) error {
	if r.invalid == nil {
		return nil
	}
	for _, role := range sortedRoles(files) {
		if bad, ok := r.invalid.Targets[data.RoleName(role)]; ok && bad != nil && bad.Signed.Expires.Before(time.Now()) {
			return r.expiredRole(data.RoleName(role), bad.Signed.Expires)
		}
	}
	return nil
}
