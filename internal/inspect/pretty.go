package inspect

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// shortKeyLen is how many characters of a signer key ID docker's pretty
// table shows (formatter.TruncateID).
const shortKeyLen = 12

// Pretty writes what `docker trust inspect --pretty REF...` writes to stdout.
// Repositories are separated by "\n\n". Docker stops at the first ref it
// cannot read: Pretty likewise writes the repositories before the first one
// with Err (each followed by the separator, since more refs were given) and
// returns that Err, whose message docker prints to stderr before exiting 1.
// Later repositories are not written. An error writing to w is returned as is.
func Pretty(w io.Writer, repos []Repository) error {
	for i, r := range repos {
		if r.Err != nil {
			return r.Err
		}
		var b bytes.Buffer
		writePretty(&b, r)
		if i < len(repos)-1 {
			b.WriteString("\n\n")
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return fmt.Errorf("inspect: writing pretty output: %w", err)
		}
	}
	return nil
}

func writePretty(b *bytes.Buffer, r Repository) {
	if len(r.SignedTags) > 0 {
		fmt.Fprintf(b, "\nSignatures for %s\n\n", r.Name)
		rows := [][]string{{"SIGNED TAG", "DIGEST", "SIGNERS"}}
		for _, t := range sortedTags(r.SignedTags) {
			signers := sortedCopy(t.Signers)
			if len(signers) == 0 {
				signers = []string{"(" + RepoAdmin + ")"}
			}
			rows = append(rows, []string{t.Tag, t.Digest, strings.Join(signers, ", ")})
		}
		writeTable(b, rows)
	} else {
		fmt.Fprintf(b, "\nNo signatures for %s\n\n", r.Name)
	}

	// Docker omits the whole section when there are no delegated signers.
	if len(r.Signers) > 0 {
		fmt.Fprintf(b, "\nList of signers and their keys for %s\n\n", r.Name)
		signers := append([]Signer(nil), r.Signers...)
		sort.SliceStable(signers, func(i, j int) bool { return naturalLess(signers[i].Name, signers[j].Name) })
		rows := [][]string{{"SIGNER", "KEYS"}}
		for _, s := range signers {
			// Docker sorts the full IDs, then truncates each.
			keys := sortedCopy(s.Keys)
			for k, id := range keys {
				keys[k] = truncateID(id)
			}
			rows = append(rows, []string{s.Name, strings.Join(keys, ", ")})
		}
		writeTable(b, rows)
	}

	// Docker sorts all TUF roles by name descending (targets before root) and
	// prints only these two, with a literal tab (no column alignment).
	fmt.Fprintf(b, "\nAdministrative keys for %s\n\n", r.Name)
	for _, role := range []struct{ name, label string }{
		{AdminRepository, "Repository Key"},
		{AdminRoot, "Root Key"},
	} {
		for _, a := range r.AdministrativeKeys {
			if a.Name == role.name {
				fmt.Fprintf(b, "  %s:\t%s\n", role.label, strings.Join(sortedCopy(a.Keys), ", "))
			}
		}
	}
}

// writeTable aligns rows as docker's table formatter does: a tabwriter with
// minimum cell width 10, padding 3, space padding; the last column is not
// padded. (Docker's tabwriter fork measures display width with go-runewidth
// where text/tabwriter counts runes; the two only differ on non-ASCII text,
// which tags, hex digests and notary role names cannot contain.)
func writeTable(b *bytes.Buffer, rows [][]string) {
	tw := tabwriter.NewWriter(b, 10, 1, 3, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush() // writes to a bytes.Buffer cannot fail
}

// truncateID shortens a key ID like docker's formatter.TruncateID: drop any
// "algo:" prefix, keep the first 12 bytes.
func truncateID(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > shortKeyLen {
		id = id[:shortKeyLen]
	}
	return id
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
