package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// The JSON shapes docker marshals (cli/command/trust/common.go). Field names
// and order are the output format; omitempty on signer and key fields is
// docker's too (a role without keys prints no "Keys").
type (
	jsonRepo struct {
		Name               string
		SignedTags         []jsonTag
		Signers            []jsonSigner
		AdministrativeKeys []jsonSigner
	}
	jsonTag struct {
		SignedTag string
		Digest    string
		Signers   []string
	}
	jsonSigner struct {
		Name string    `json:",omitempty"`
		Keys []jsonKey `json:",omitempty"`
	}
	jsonKey struct {
		ID string `json:",omitempty"`
	}
)

// JSON writes what `docker trust inspect REF...` writes to stdout: a JSON
// array of the repositories that were read, indented with 4 spaces, and a
// newline; "[]\n" when none was. Repositories with Err are left out of the
// array, and the returned error joins their errors in order, one per line,
// which is what docker prints to stderr (before exiting 1). An error writing
// to w is returned alone.
func JSON(w io.Writer, repos []Repository) error {
	// Like docker, marshal each repository compactly (with encoding/json's
	// HTML escaping), join them into one array, then re-indent the whole.
	var raw bytes.Buffer
	var errs []error
	raw.WriteByte('[')
	n := 0
	for _, r := range repos {
		if r.Err != nil {
			errs = append(errs, r.Err)
			continue
		}
		b, err := json.Marshal(toJSON(r))
		if err != nil {
			return fmt.Errorf("inspect: encoding %s: %w", r.Name, err)
		}
		if n > 0 {
			raw.WriteByte(',')
		}
		raw.Write(b)
		n++
	}
	raw.WriteByte(']')

	var out bytes.Buffer
	if n == 0 {
		out.WriteString("[]") // docker's fixed output for "nothing found"
	} else if err := json.Indent(&out, raw.Bytes(), "", "    "); err != nil {
		return fmt.Errorf("inspect: indenting JSON: %w", err)
	}
	out.WriteByte('\n')
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("inspect: writing JSON: %w", err)
	}
	return errors.Join(errs...)
}

func toJSON(r Repository) jsonRepo {
	// Empty lists print as [] in docker, never null: start from non-nil.
	out := jsonRepo{
		Name:               r.Name,
		SignedTags:         []jsonTag{},
		Signers:            jsonSigners(r.Signers),
		AdministrativeKeys: jsonSigners(r.AdministrativeKeys),
	}
	for _, t := range sortedTags(r.SignedTags) {
		signers := append([]string(nil), t.Signers...)
		if len(signers) == 0 {
			signers = []string{RepoAdmin}
		}
		out.SignedTags = append(out.SignedTags, jsonTag{SignedTag: t.Tag, Digest: t.Digest, Signers: signers})
	}
	return out
}

// jsonSigners converts roles sorted by name descending, as docker sorts both
// Signers and AdministrativeKeys (so "Root" precedes "Repository"); key IDs
// keep their order.
func jsonSigners(in []Signer) []jsonSigner {
	out := []jsonSigner{}
	for _, s := range in {
		js := jsonSigner{Name: s.Name}
		for _, k := range s.Keys {
			js.Keys = append(js.Keys, jsonKey{ID: k})
		}
		out = append(out, js)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name > out[j].Name })
	return out
}
