package notary

import (
	"bytes"
	"encoding/hex"
	"strings"

	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/sign"
)

// SignedAt implements sign.TrustRepo. A role counts only when its metadata
// loaded and verified (an expired or badly signed role is not in tufRepo.
// Targets, so it is signed again), it records tag with exactly one hash,
// d's sha256, and d's length, and one of the signatures that verified is
// by one of our keys: a role another signer last signed is ours to sign.
// Without the server's current timestamp (the client fell back to its
// cache) nothing counts as unchanged: the publish then checks the server.
func (r *Repo) SignedAt(tag string, d sign.Descriptor, roles []string) (bool, error) {
	if err := r.readBackErr(); err != nil {
		return false, err
	}
	if r.remote.timestampErr != nil || r.tufRepo == nil {
		return false, nil
	}
	want, err := hex.DecodeString(strings.TrimPrefix(d.Digest, "sha256:"))
	if err != nil || len(want) != 32 || len(roles) == 0 {
		return false, nil
	}
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	for _, role := range roles {
		st, ok := r.tufRepo.Targets[data.RoleName(role)]
		if !ok || st == nil {
			return false, nil
		}
		meta, ok := st.Signed.Targets[tag]
		if !ok || meta.Length != d.Size || len(meta.Hashes) != 1 || !bytes.Equal(meta.Hashes["sha256"], want) {
			return false, nil
		}
		byUs := false
		for _, sig := range st.Signatures {
			if sig.IsValid && r.holds(sig.KeyID, ours) {
				byUs = true
				break
			}
		}
		if !byUs {
			return false, nil
		}
	}
	return true, nil
}
