package ci

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sign-step/sign-step/internal/sign"
)

// SystemsOutputNames are the outputs of the other signature systems (sign
// --also-sign, migrate): cosign-refs lists REPO:sha256-<hex>.sig, the tag
// under which cosign 2.x stores a digest's signatures.
var SystemsOutputNames = []string{"cosign-refs"}

// MigrateOutputNames are migrate's step outputs.
var MigrateOutputNames = []string{"migrated-refs", "cosign-refs", "changed", "dry-run", "report", "dotenv"}

// hasSignature says a status means the signature exists (a dry run's
// "missing" does not: its .sig tag is not there).
func hasSignature(status string) bool {
	return status == sign.StatusAdded || status == sign.StatusPresent
}

// cosignRef (mirroring cosign.SignatureTag, as a string: ci imports no
// registry client) is where cosign 2.x keeps the signatures of REPO@sha256:HEX.
func cosignRef(pinned string) string {
	repo, digest, ok := strings.Cut(pinned, "@")
	if !ok {
		return ""
	}
	return repo + ":" + strings.Replace(digest, ":", "-", 1) + ".sig"
}

// WithSystems adds to sign's result what --also-sign did: the cosign-refs
// output and a summary table with one column per system, per digest.
// status maps REPO@DIGEST to system to present|added|missing.
func WithSystems(res Result, names []string, status map[string]map[string]string) Result {
	if len(names) == 0 {
		return res
	}
	pinned := make([]string, 0, len(status))
	for p := range status {
		pinned = append(pinned, p)
	}
	slices.Sort(pinned)
	var refs []string
	var b strings.Builder
	b.WriteString("\n#### Other signatures\n\n| image |")
	for _, n := range names {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(names)) + "\n")
	for _, p := range pinned {
		fmt.Fprintf(&b, "| `%s` |", mdEscape(p))
		for _, n := range names {
			s := status[p][n]
			fmt.Fprintf(&b, " %s |", cell(s))
			if n == sign.SystemCosign && hasSignature(s) {
				refs = append(refs, cosignRef(p))
			}
		}
		b.WriteString("\n")
	}
	if slices.Contains(names, sign.SystemCosign) {
		b.WriteString("\ncosign signatures carry no transparency-log entry: verify with `cosign verify --key PUB --insecure-ignore-tlog=true REF@DIGEST`.\n")
	}
	res.Summary += b.String()
	res.Outputs = append(res.Outputs, Output{"cosign-refs", strings.Join(refs, "\n")})
	return res
}

func cell(status string) string {
	if status == "" {
		return "—"
	}
	return status
}

// MigrateResult is migrate's result: per tag the digest and each system's
// status in a summary table with a column per system; migrated-refs lists
// REPO:TAG@DIGEST of each tag a signature was added for (in a dry run:
// would be), cosign-refs where its cosign signatures are; a failed
// repository is an ::error:: annotation.
func MigrateResult(results []sign.MigrateResult, names []string, dryRun bool, dir string, files Files) Result {
	var b strings.Builder
	b.WriteString("### sign-step migrate\n\n| tag | digest | DCT signers |")
	for _, n := range names {
		fmt.Fprintf(&b, " %s |", n)
	}
	b.WriteString("\n| --- | --- | --- |" + strings.Repeat(" --- |", len(names)) + "\n")
	var migrated, cosignRefs []string
	var notes []Annotation
	changed := false
	for _, r := range results {
		if r.Error != "" {
			notes = append(notes, Annotation{Level: "error", Title: "migrate failed", Message: r.GUN + ": " + r.Error})
		}
		for _, t := range r.Tags {
			ref := r.GUN + ":" + t.Tag
			if t.Error != "" || t.Skipped != "" {
				why := t.Error
				if why == "" {
					why = "skipped: " + t.Skipped
				}
				fmt.Fprintf(&b, "| `%s` | | | %s |\n", mdEscape(ref), mdEscape(why))
				continue
			}
			fmt.Fprintf(&b, "| `%s` | `%s` | %s |", mdEscape(ref), short(t.Digest, 19), mdEscape(strings.Join(t.Signers, ", ")))
			added := false
			for _, n := range names {
				s := t.Systems[n]
				fmt.Fprintf(&b, " %s |", cell(s))
				if s == sign.StatusAdded || s == sign.StatusMissing {
					added = true
				}
				if n == sign.SystemCosign && hasSignature(s) {
					cosignRefs = appendUnique(cosignRefs, cosignRef(r.GUN+"@"+t.Digest))
				}
			}
			b.WriteString("\n")
			if added {
				migrated = append(migrated, ref+"@"+t.Digest)
				changed = changed || !dryRun
			}
		}
	}
	fmt.Fprintf(&b, "\n%d tag(s) %s. Full details in the `%s` artifact.\n", len(migrated), map[bool]string{true: "would get a signature (dry run)", false: "got a new signature"}[dryRun], sign.ReportFile)
	return Result{Command: "migrate", Dir: dir, Summary: b.String(), Annotations: notes, Outputs: []Output{
		{"migrated-refs", strings.Join(migrated, "\n")},
		{"cosign-refs", strings.Join(cosignRefs, "\n")},
		{"changed", fmt.Sprint(changed)},
		{"dry-run", fmt.Sprint(dryRun)},
		{"report", files.Report},
		{"dotenv", files.Dotenv},
	}}
}
