package notary

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/inspect"
)

// TrustInfo reads what `docker trust inspect` shows for name (the ref string
// as the user typed it) and, when tag != "", only that tag. It follows docker
// CLI 28's lookupTrustInfo (cli/command/trust/common.go):
//
//   - all targets of all roles named tag ("" = every target) are read; a tag
//     is released when it is in targets or targets/releases, and its signers
//     are the other roles holding the same (tag, sha256) pair;
//   - the root and targets roles give the administrative keys;
//   - the delegations other than targets/releases, with canonical key IDs as
//     notary's GetDelegationRoles returns them, give the signers.
//
// On failure the returned Repository carries the error in Err (so it can be
// passed to inspect.JSON or inspect.Pretty as is) and the same error is
// returned. Its message is docker's ("no signatures or cannot access <name>"
// when the targets cannot be read, "no signers for <name>" when the roles
// cannot); it wraps notary's error, so errors.As still finds
// client.ErrRepositoryNotExist, client.ErrRepoNotInitialized, etc.
func TrustInfo(repo client.ReadOnly, name, tag string) (inspect.Repository, error) {
	fail := func(msg string, cause error) (inspect.Repository, error) {
		err := &lookupError{msg: msg + " " + name, err: cause}
		return inspect.Repository{Name: name, Err: err}, err
	}

	targets, err := repo.GetAllTargetMetadataByName(tag)
	// A readable repository without the tag (or without any target) is not
	// an error for docker: it shows "No signatures for ..." instead.
	var noTarget client.ErrNoSuchTarget
	if err != nil && !errors.As(err, &noTarget) {
		return fail("no signatures or cannot access", err)
	}
	roles, err := repo.ListRoles()
	if err != nil {
		return fail("no signers for", err)
	}
	// Docker only logs this error (at debug level) and shows no signers.
	delegations, err := repo.GetDelegationRoles()
	if err != nil {
		delegations = nil
	}

	return inspect.Repository{
		Name:               name,
		SignedTags:         releasedTags(targets),
		Signers:            signers(delegations),
		AdministrativeKeys: adminKeys(roles),
	}, nil
}

// lookupError keeps docker's message while exposing notary's cause.
type lookupError struct {
	msg string
	err error
}

func (e *lookupError) Error() string { return e.msg }
func (e *lookupError) Unwrap() error { return e.err }

func isReleased(role data.RoleName) bool {
	return role == data.CanonicalTargetsRole || role == ReleasesRole
}

// signerName is how docker names a delegation: without "targets/".
func signerName(role data.RoleName) string {
	return strings.TrimPrefix(role.String(), data.CanonicalTargetsRole.String()+"/")
}

// releasedTags pairs each released (tag, digest) with the signers that signed
// the same pair elsewhere, in the order notary walked the roles. Tag order
// does not matter: inspect sorts.
func releasedTags(targets []client.TargetSignedStruct) []inspect.SignedTag {
	type pair struct{ tag, digest string }
	pairOf := func(t client.TargetSignedStruct) pair {
		return pair{t.Target.Name, hex.EncodeToString(t.Target.Hashes["sha256"])}
	}
	index := map[pair]int{}
	var tags []inspect.SignedTag
	for _, t := range targets {
		if p := pairOf(t); isReleased(t.Role.Name) {
			if _, seen := index[p]; !seen {
				index[p] = len(tags)
				tags = append(tags, inspect.SignedTag{Tag: p.tag, Digest: p.digest})
			}
		}
	}
	for _, t := range targets {
		if i, ok := index[pairOf(t)]; ok && !isReleased(t.Role.Name) {
			tags[i].Signers = append(tags[i].Signers, signerName(t.Role.Name))
		}
	}
	return tags
}

// signers lists the delegations docker shows as signers: not
// targets/releases nor a base role. A name seen twice keeps its last keys,
// as docker's map does.
func signers(delegations []data.Role) []inspect.Signer {
	index := map[string]int{}
	var out []inspect.Signer
	for _, d := range delegations {
		if d.Name == ReleasesRole || data.IsBaseRole(d.Name) {
			continue
		}
		s := inspect.Signer{Name: signerName(d.Name), Keys: append([]string(nil), d.KeyIDs...)}
		if i, ok := index[s.Name]; ok {
			out[i] = s
			continue
		}
		index[s.Name] = len(out)
		out = append(out, s)
	}
	return out
}

// adminKeys takes the root and targets roles, key IDs in root.json order.
func adminKeys(roles []client.RoleWithSignatures) []inspect.Signer {
	var out []inspect.Signer
	for _, r := range roles {
		var name string
		switch r.Name {
		case data.CanonicalRootRole:
			name = inspect.AdminRoot
		case data.CanonicalTargetsRole:
			name = inspect.AdminRepository
		default:
			continue
		}
		out = append(out, inspect.Signer{Name: name, Keys: append([]string(nil), r.KeyIDs...)})
	}
	return out
}
