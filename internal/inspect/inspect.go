// Package inspect renders what `docker trust inspect [--pretty] REF...`
// (docker CLI 28) prints, byte for byte, from a small model of one
// repository's trust data. Gathering the model from notary is done elsewhere
// (internal/notary.TrustInfo); this package only formats, with the standard
// library.
//
// Ordering rules live here, not in the model: callers may pass signed tags,
// signers and administrative keys in any order, and JSON and Pretty sort them
// the way docker does. Two orders are not sorted by docker in its JSON output
// and are kept as given: the key IDs of a signer or administrative role
// (docker shows them in metadata order) and the signers of a tag (docker shows
// them in delegation-walk order).
//
// Exit behaviour, as docker's main does it: when JSON or Pretty return a
// non-nil error, docker writes err.Error() followed by "\n" to stderr and
// exits with status 1.
package inspect

import (
	"sort"
	"strings"
)

// Names docker uses for the two administrative roles (root and targets).
const (
	AdminRoot       = "Root"
	AdminRepository = "Repository"
)

// RepoAdmin is the signer docker reports for a tag that no delegated signer
// signed (it is only in the targets or targets/releases role). Pretty shows it
// in parentheses.
const RepoAdmin = "Repo Admin"

// Repository is what docker shows for one ref given on its command line.
type Repository struct {
	// Name is the ref exactly as the user typed it (docker echoes it).
	Name string
	// SignedTags are the released tags: those in targets or targets/releases.
	SignedTags []SignedTag
	// Signers are the delegations other than targets/releases, named
	// without the "targets/" prefix, with canonical key IDs.
	Signers []Signer
	// AdministrativeKeys are the root and targets roles, named AdminRoot and
	// AdminRepository, with key IDs as listed in root.json. Entries with other
	// names appear in JSON but not in Pretty, as docker would treat them.
	AdministrativeKeys []Signer
	// Err, when set, means the ref could not be read; its message is what
	// docker prints to stderr (e.g. "no signatures or cannot access <Name>").
	// The other fields are then ignored.
	Err error
}

// SignedTag is one released (tag, digest) pair.
type SignedTag struct {
	Tag string
	// Digest is the hex SHA-256 of the manifest, without "sha256:".
	Digest string
	// Signers are the delegated signers that signed the same pair, in walk
	// order. Empty means RepoAdmin.
	Signers []string
}

// Signer is a named role and its key IDs.
type Signer struct {
	Name string
	Keys []string
}

// sortedTags returns the tags in docker's order: natural order of the tag
// name. Docker's sort is unstable, so two rows for one tag (different
// digests) come out in any order there; we order them by digest to stay
// deterministic.
func sortedTags(tags []SignedTag) []SignedTag {
	out := append([]SignedTag(nil), tags...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Tag != out[j].Tag {
			return naturalLess(out[i].Tag, out[j].Tag)
		}
		return out[i].Digest < out[j].Digest
	})
	return out
}

// naturalLess orders strings the way github.com/fvbommel/sortorder v1.1.0
// NaturalLess does, which docker uses for tags and signer names: runs of
// ASCII digits compare by numeric value (then fewer leading zeros first),
// a digit sorts before a non-digit, other bytes compare bytewise, and a
// prefix sorts first.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da != db:
			return da
		case !da:
			if a[0] != b[0] {
				return a[0] < b[0]
			}
			a, b = a[1:], b[1:]
		default:
			var na, nb string
			na, a = leadingDigits(a)
			nb, b = leadingDigits(b)
			va, vb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(va) != len(vb) {
				return len(va) < len(vb)
			}
			if va != vb {
				return va < vb
			}
			if len(na) != len(nb) { // same value: fewer leading zeros first
				return len(na) < len(nb)
			}
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// leadingDigits splits s into its leading run of digits and the rest.
func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
