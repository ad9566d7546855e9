package notary

import (
	"bytes"
	"encoding/hex"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/core"
)

// SignedAt implements sign.TrustRepo. Every role must record tag with
// exactly one hash, d's sha256, and d's length, in metadata that loaded and
// verified (an expired or badly signed role is not in tufRepo.Targets, so it
// is signed again); and one of those roles must carry a verified signature
// by one of our keys: in docker's layout our own targets/<signer> (or
// targets), while the shared targets/releases may be signed last by any of
// its signers (requiring ours there would make two signers of one tag
// publish on every run in turn).
// Without the server's current timestamp (the client fell back to its
// cache) nothing counts as unchanged: the publish then checks the server.
func (r *Repo) SignedAt(tag string, d core.Descriptor, roles []string) (bool, error) {
	if err := r.readBackErr(); err != nil {
		return false, err
	}
	if r.remote.timestampErr != nil || r.tufRepo == nil || len(roles) == 0 {
		return false, nil
	}
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	byUs := false
	for _, role := range roles {
		st, ok := r.tufRepo.Targets[data.RoleName(role)]
		if !ok || st == nil || !records(st, tag, d) {
			return false, nil
		}
		for _, sig := range st.Signatures {
			if sig.IsValid && r.holds(sig.KeyID, ours) {
				byUs = true
			}
		}
	}
	return byUs, nil
}

// records reports whether st holds tag at exactly d.
func records(st *data.SignedTargets, tag string, d core.Descriptor) bool {
	want, err := hex.DecodeString(strings.TrimPrefix(d.Digest, "sha256:"))
	if err != nil || len(want) != 32 {
		return false
	}
	meta, ok := st.Signed.Targets[tag]
	return ok && meta.Length == d.Size && len(meta.Hashes) == 1 && bytes.Equal(meta.Hashes["sha256"], want)
}

// alreadyRecorded are the roles of adds that hold their target exactly
// already. Notary leaves such a role untouched (adding an equal entry does
// not mark it for signing), so Publish re-signs them explicitly: a publish
// (with --force, or because another key signed the role last) puts our
// signature on every role it writes.
func (r *Repo) alreadyRecorded(adds []core.Target) []data.RoleName {
	var out []data.RoleName
	seen := map[data.RoleName]bool{}
	for _, t := range adds {
		for _, role := range roleNames(t.Roles) {
			st, ok := r.tufRepo.Targets[role]
			if ok && st != nil && !seen[role] && records(st, t.Tag, t.Descriptor) {
				seen[role] = true
				out = append(out, role)
			}
		}
	}
	return out
}
