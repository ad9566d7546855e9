package notary

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"

	"github.com/sign-step/sign-step/internal/core"
)

// This file is the publish of target changes without the notary client's
// Repository: its Publish downloads root and timestamp again and re-parses
// and re-verifies every role from the cache before it signs (updateTUF),
// re-serializes every targets role to try a snapshot the server signs
// anyway, and our read back after it downloaded and verified the changed
// delegations once more. Here the roles loaded (and verified) once by load
// are changed with tuf.Repo's own AddTargets/RemoveTargets, signed with its
// SignTargets/SignRoot/SignSnapshot (notary's canonical JSON and signing
// code), and posted; afterwards only the server's new timestamp and
// snapshot are downloaded and verified (notary's RepoBuilder: signatures,
// versions, expiry, the snapshot's checksum in the timestamp), and the
// snapshot must list exactly the bytes we sent for the roles we changed and
// the ones we loaded for every other role. Anything else (another publisher
// got in between) falls back to the full reload.

// stageTargets applies changes to a working copy of the loaded trust data
// and signs every role they changed, as the notary client's publish does
// with its changelist (applyChangelist, signRootIfNecessary, signTargets,
// then the snapshot when we hold its key). It returns the copy and the
// files to post, role → JSON. r.tufRepo is left as loaded.
func (r *Repo) stageTargets(changes core.Changes) (*tuf.Repo, map[string][]byte, error) {
	var touched []data.RoleName
	for _, t := range changes.Add {
		touched = append(touched, roleNames(t.Roles)...)
	}
	for _, t := range changes.Remove {
		touched = append(touched, roleNames(t.Roles)...)
	}
	touched = append(touched, roleNames(changes.Witness)...)
	work := r.workingCopy(touched)

	// One AddTargets per role: each call walks the delegation tree to find
	// the role, which cost more than the adding in a 1000-tag run.
	adds := map[data.RoleName]data.Files{}
	var order []data.RoleName
	for _, t := range changes.Add {
		target, err := notaryTarget(t)
		if err != nil {
			return nil, nil, err
		}
		meta := data.FileMeta{Length: target.Length, Hashes: target.Hashes}
		for _, role := range roleNames(t.Roles) {
			if adds[role] == nil {
				adds[role] = data.Files{}
				order = append(order, role)
			}
			adds[role][t.Tag] = meta
		}
	}
	for _, role := range order {
		if _, err := work.AddTargets(role, adds[role]); err != nil {
			for _, tag := range slices.Sorted(maps.Keys(adds[role])) { // name the tag that failed
				if _, err := work.AddTargets(role, data.Files{tag: adds[role][tag]}); err != nil {
					return nil, nil, fmt.Errorf("staging %s: %w", tag, err)
				}
			}
			return nil, nil, fmt.Errorf("staging targets of %s: %w", role, err)
		}
	}
	// Adding an equal entry leaves a role clean: re-sign it explicitly, as
	// Publish has always done (alreadyRecorded).
	for _, role := range r.alreadyRecorded(changes.Add) {
		if err := witness(work, r.invalid, role); err != nil {
			return nil, nil, fmt.Errorf("staging re-signature: %w", err)
		}
	}
	for _, t := range changes.Remove {
		for _, role := range roleNames(t.Roles) {
			if err := work.RemoveTargets(role, t.Tag); err != nil {
				return nil, nil, fmt.Errorf("staging removal of %s: %w", t.Tag, err)
			}
		}
	}
	for _, role := range roleNames(changes.Witness) {
		if err := witness(work, r.invalid, role); err != nil {
			return nil, nil, fmt.Errorf("staging re-signature: %w", err)
		}
	}

	files := map[string][]byte{}
	add := func(role data.RoleName, s *data.Signed, keys data.BaseRole) error {
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		files[role.String()] = raw
		// Our own signature over the canonical bytes we just made: checked
		// once here (no canonical re-encode), so the view after the publish
		// counts it as verified, as a read back would.
		for i := range s.Signatures {
			if k, ok := keys.Keys[s.Signatures[i].KeyID]; ok {
				_ = signed.VerifySignature(*s.Signed, &s.Signatures[i], k)
			}
		}
		return nil
	}
	// The notary client re-signs a root near expiry (or changed) on every
	// publish; so do we (it needs the root key: without it this fails as
	// the client's publish did).
	if nearExpiry(work.Root.Signed.SignedCommon) || work.Root.Dirty {
		s, err := work.SignRoot(data.DefaultExpires(data.CanonicalRootRole), nil)
		if err != nil {
			return nil, nil, err
		}
		root, _ := work.GetBaseRole(data.CanonicalRootRole)
		if err := add(data.CanonicalRootRole, s, root); err != nil {
			return nil, nil, err
		}
	}
	for _, role := range slices.Sorted(maps.Keys(work.Targets)) {
		st := work.Targets[role]
		if !st.Dirty {
			continue
		}
		s, err := work.SignTargets(role, data.DefaultExpires(data.CanonicalTargetsRole))
		if err != nil {
			return nil, nil, err
		}
		var keys data.BaseRole
		if role == data.CanonicalTargetsRole {
			keys, err = work.GetBaseRole(role)
		} else {
			var d data.DelegationRole
			d, err = work.GetDelegationRole(role)
			keys = d.BaseRole
		}
		if err != nil {
			return nil, nil, err
		}
		if err := add(role, s, keys); err != nil {
			return nil, nil, err
		}
		// The signed copy is now what the server gets; the snapshot (ours
		// or the server's) takes it in.
		st.Dirty = false
	}
	// The server signs the snapshot unless we hold its key (CheckPublish
	// made sure one of us does); the notary client finds that out by trying,
	// after re-serializing every role.
	if snap, ok := r.ourSnapshotKey(work); ok {
		if work.Snapshot == nil {
			if err := work.InitSnapshot(); err != nil {
				return nil, nil, err
			}
		}
		s, err := work.SignSnapshot(data.DefaultExpires(data.CanonicalSnapshotRole))
		if err != nil {
			return nil, nil, err
		}
		if err := add(data.CanonicalSnapshotRole, s, snap); err != nil {
			return nil, nil, err
		}
	}
	return work, files, nil
}

// validChanges checks what the notary client's AddTarget and RemoveTarget
// check before anything is staged: digests, and that targets go into
// targets or a delegation only. (Errors returned as they are, not as the
// server's.)
func validChanges(changes core.Changes) error {
	for _, t := range changes.Add {
		if _, err := notaryTarget(t); err != nil {
			return err
		}
		for _, role := range roleNames(t.Roles) {
			if err := targetsRole(role); err != nil {
				return fmt.Errorf("staging %s: %w", t.Tag, err)
			}
		}
	}
	for _, t := range changes.Remove {
		for _, role := range roleNames(t.Roles) {
			if err := targetsRole(role); err != nil {
				return fmt.Errorf("staging removal of %s: %w", t.Tag, err)
			}
		}
	}
	return nil
}

// targetsRole is the notary client's check of AddTarget and RemoveTarget:
// targets go into targets or a delegation only.
func targetsRole(role data.RoleName) error {
	if role != data.CanonicalTargetsRole && !data.IsDelegation(role) && !data.IsWildDelegation(role) {
		return data.ErrInvalidRole{Role: role, Reason: "cannot add targets to this role"}
	}
	return nil
}

// ourSnapshotKey reports whether we hold a key of the snapshot role.
func (r *Repo) ourSnapshotKey(work *tuf.Repo) (data.BaseRole, bool) {
	role, err := work.GetBaseRole(data.CanonicalSnapshotRole)
	if err != nil {
		return data.BaseRole{}, false
	}
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	for _, id := range role.ListKeyIDs() {
		if r.holds(id, ours) {
			return role, true
		}
	}
	return role, false
}

// nearExpiry is the notary client's rule for re-signing the root on publish.
func nearExpiry(c data.SignedCommon) bool {
	return c.Expires.Before(time.Now().AddDate(0, rootResignMonths, 0))
}

// witness marks role for re-signing as the notary client's witnessTargets
// does: a loaded role is marked; a delegation that failed validation
// (expired) is taken back from the invalid roles, when it has keys enough
// to be signed again.
func witness(work, invalid *tuf.Repo, role data.RoleName) error {
	if st, ok := work.Targets[role]; ok {
		st.Dirty = true
		return nil
	}
	if d, err := work.GetDelegationRole(role); err == nil && invalid != nil {
		if d.Threshold > len(d.Keys) {
			return data.ErrInvalidRole{Role: role, Reason: "role does not specify enough valid signing keys to meet its required threshold"}
		}
		if st, ok := invalid.Targets[role]; ok {
			c := cloneTargets(st)
			c.Dirty = true
			work.Targets[role] = c
			return nil
		}
	}
	return data.ErrInvalidRole{Role: role, Reason: "this role is not known"}
}

// workingCopy copies the loaded trust data deeply enough that staging
// (which edits roles in place) leaves r.tufRepo as loaded: the roles in
// touched, the snapshot and the root are copied, the rest is shared.
func (r *Repo) workingCopy(touched []data.RoleName) *tuf.Repo {
	w := *r.tufRepo
	w.Targets = maps.Clone(r.tufRepo.Targets)
	copied := map[data.RoleName]bool{}
	for _, role := range touched {
		if st := w.Targets[role]; st != nil && !copied[role] {
			copied[role] = true // once: a batch names each role once per tag
			w.Targets[role] = cloneTargets(st)
		}
	}
	root := *w.Root
	w.Root = &root
	if w.Snapshot != nil {
		s := *w.Snapshot
		s.Signed.Meta = maps.Clone(w.Snapshot.Signed.Meta)
		s.Signatures = slices.Clone(w.Snapshot.Signatures)
		w.Snapshot = &s
	}
	return &w
}

func cloneTargets(st *data.SignedTargets) *data.SignedTargets {
	c := *st
	c.Signed.Targets = maps.Clone(st.Signed.Targets)
	c.Signatures = slices.Clone(st.Signatures)
	return &c
}

// adoptPublished makes what we just published the trust data in memory
// (and in the cache), with the server's new timestamp and snapshot,
// downloaded and verified. When the server's snapshot does not list
// exactly our roles and the others as loaded, or anything fails, it falls
// back to the full reload (readBack).
func (r *Repo) adoptPublished(work *tuf.Repo, files map[string][]byte) {
	r.stale = nil
	ts, snap, err := r.serverTimestampSnapshot(work, files)
	if err != nil {
		r.log.Debug("reading the published trust data back in full", "gun", r.gun.String(), "reason", err.Error())
		r.readBack()
		return
	}
	work.Timestamp, work.Snapshot = ts.Timestamp, ts.Snapshot
	cached := maps.Clone(files)
	cached[data.CanonicalTimestampRole.String()] = snap[0]
	cached[data.CanonicalSnapshotRole.String()] = snap[1]
	if err := r.cache.SetMulti(cached); err != nil {
		// The cache feeds Metadata and the next run's rollback check: a
		// full reload rewrites it or says why not.
		r.readBack()
		return
	}
	if r.invalid != nil {
		for role := range files {
			delete(r.invalid.Targets, data.RoleName(role))
		}
	}
	r.tufRepo, r.reader = work, client.NewReadOnly(work)
	if err := r.index(); err != nil {
		r.stale = err
	}
}

// serverTimestampSnapshot downloads the timestamp and the snapshot it
// names and verifies them with notary's RepoBuilder on the root we trust
// (signatures, thresholds, versions no older than loaded, expiry, the
// snapshot's checksum and size), then checks that the snapshot lists the
// roles we sent at the bytes we sent and every other role as loaded.
// It returns a repository holding the new timestamp and snapshot and
// their bytes.
func (r *Repo) serverTimestampSnapshot(work *tuf.Repo, files map[string][]byte) (*tuf.Repo, [2][]byte, error) {
	var raws [2][]byte
	root, ok := files[data.CanonicalRootRole.String()]
	if !ok {
		var err error
		if root, err = r.cache.GetSized(data.CanonicalRootRole.String(), -1); err != nil {
			return nil, raws, err
		}
	}
	cs, err := r.keys.cryptoService(r.gun)
	if err != nil {
		return nil, raws, err
	}
	b := tuf.NewRepoBuilder(r.gun, cs, r.pinning)
	if err := b.Load(data.CanonicalRootRole, root, work.Root.Signed.Version, false); err != nil {
		return nil, raws, err
	}
	oldTS, oldSnap := 1, 1
	if r.tufRepo.Timestamp != nil {
		oldTS = r.tufRepo.Timestamp.Signed.Version
	}
	if r.tufRepo.Snapshot != nil {
		oldSnap = r.tufRepo.Snapshot.Signed.Version
	}
	r.remote.timestampErr = nil
	ts, err := r.remote.GetSized(data.CanonicalTimestampRole.String(), notary.MaxTimestampSize)
	if err != nil {
		return nil, raws, err
	}
	if err := b.Load(data.CanonicalTimestampRole, ts, oldTS, false); err != nil {
		return nil, raws, err
	}
	info := b.GetConsistentInfo(data.CanonicalSnapshotRole)
	// A snapshot we signed and sent need not cross the wire again: b.Load
	// checks it against the new timestamp's checksum, so a server holding
	// another snapshot still fails here (and reads everything back).
	snap, ok := files[data.CanonicalSnapshotRole.String()]
	if !ok {
		if snap, err = r.remote.GetSized(info.ConsistentName(), info.Length()); err != nil {
			return nil, raws, err
		}
	}
	if err := b.Load(data.CanonicalSnapshotRole, snap, oldSnap, false); err != nil {
		return nil, raws, err
	}
	got, _, err := b.Finish()
	if err != nil {
		return nil, raws, err
	}
	listed := got.Snapshot.Signed.Meta
	before := map[string]data.FileMeta{}
	if r.tufRepo.Snapshot != nil {
		before = r.tufRepo.Snapshot.Signed.Meta
	}
	for role, meta := range listed {
		if sent, ok := files[role]; ok {
			sum := sha256.Sum256(sent)
			if meta.Length != int64(len(sent)) || !bytes.Equal(meta.Hashes[notary.SHA256], sum[:]) {
				return nil, raws, fmt.Errorf("the server's snapshot lists another %s than ours", role)
			}
			continue
		}
		if old, ok := before[role]; !ok || !old.Equals(meta) {
			return nil, raws, fmt.Errorf("%s changed on the server since it was read", role)
		}
	}
	for role := range before {
		if _, ok := listed[role]; !ok {
			return nil, raws, fmt.Errorf("the server's snapshot no longer lists %s", role)
		}
	}
	for role := range files {
		if _, ok := listed[role]; !ok && role != data.CanonicalSnapshotRole.String() {
			return nil, raws, fmt.Errorf("the server's snapshot does not list %s", role)
		}
	}
	raws[0], raws[1] = ts, snap
	return got, raws, nil
}
