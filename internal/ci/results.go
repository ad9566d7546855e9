package ci

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

// Files are the artifacts of a run, as later steps should name them (see
// DisplayPath).
type Files struct {
	Report       string
	TrustInspect string
	Dotenv       string
}

// Output is one step output.
type Output struct {
	Name  string
	Value string
}

// SignOutputNames are sign's step outputs, in the order they are set.
var SignOutputNames = []string{"digest", "size", "media-type", "signed-tags", "signed-refs", "roles", "key-id", "changed", "dry-run", "report", "trust-inspect", "dotenv"}

// The other commands' step outputs (command.go), in the order they are set.
var (
	VerifyOutputNames = []string{"verified-refs", "digest", "report", "dotenv"}
	ResignOutputNames = []string{"resigned", "changed", "dry-run", "report", "dotenv"}
	RevokeOutputNames = []string{"revoked-refs", "changed", "report", "dotenv"}
)

// OutputNames are every command's step outputs: sign's, then the others'
// new names. action.yml declares exactly these, in this order.
var OutputNames = union(SignOutputNames, VerifyOutputNames, ResignOutputNames, RevokeOutputNames, SystemsOutputNames, MigrateOutputNames)

func union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, n := range l {
			out = appendUnique(out, n)
		}
	}
	return out
}

// Outputs turns a report into step outputs. Lists are one item per line.
// digest, size and media-type are set when every ref points to the same
// manifest (the usual case: one image, several tags) and empty otherwise;
// signed-refs always has each ref's digest. signed-tags and signed-refs list
// the refs that are signed at that digest after the run (result signed or
// unchanged): a dry run's would-sign refs are not, its plan is in the report.
func Outputs(rep *sign.Report, files Files) []Output {
	var digests, sizes, mediaTypes, signedTags, signedRefs, roles, keyIDs []string
	for _, r := range rep.Refs {
		digests = appendUnique(digests, r.Descriptor.Digest)
		sizes = appendUnique(sizes, fmt.Sprint(r.Descriptor.Size))
		mediaTypes = appendUnique(mediaTypes, r.Descriptor.MediaType)
		if isSigned(r.Result) {
			signedTags = append(signedTags, r.Ref)
			signedRefs = append(signedRefs, r.Ref+"@"+r.Descriptor.Digest)
		}
		for _, role := range r.Roles {
			roles = appendUnique(roles, role)
		}
		for _, id := range r.KeyIDs {
			keyIDs = appendUnique(keyIDs, id)
		}
	}
	sort.Strings(roles)
	sort.Strings(keyIDs)
	return []Output{
		{"digest", only(digests)},
		{"size", only(sizes)},
		{"media-type", only(mediaTypes)},
		{"signed-tags", strings.Join(signedTags, "\n")},
		{"signed-refs", strings.Join(signedRefs, "\n")},
		{"roles", strings.Join(roles, "\n")},
		{"key-id", strings.Join(keyIDs, "\n")},
		{"changed", fmt.Sprint(rep.Changed)},
		{"dry-run", fmt.Sprint(rep.DryRun)},
		{"report", files.Report},
		{"trust-inspect", files.TrustInspect},
		{"dotenv", files.Dotenv},
	}
}

// DotenvFile is the name of sign's dotenv artifact in the output directory;
// every command writes its own, DotenvFileOf.
const DotenvFile = "sign.env"

// DotenvFileOf is command's dotenv artifact: <command>.env.
func DotenvFileOf(command string) string { return command + ".env" }

// refLists are the outputs a too-big dotenv file leaves empty.
var refLists = map[string]bool{"signed-tags": true, "signed-refs": true, "verified-refs": true, "resigned": true, "revoked-refs": true,
	"migrated-refs": true, "cosign-refs": true}

// DotenvPrefix starts every dotenv name. It is not SIGN_STEP_ alone: those
// names are sign-step's own inputs (SIGN_STEP_DRY_RUN is --dry-run), and a
// later job that receives the dotenv must not have its flags set by it.
const DotenvPrefix = "SIGN_STEP_OUT_"

// dotenvLimit keeps sign.env under GitLab's dotenv report limit (5 KB).
const dotenvLimit = 4096

// Dotenv renders the outputs as a dotenv file for GitLab's
// artifacts:reports:dotenv (and anyone who sources it): a fixed short list of
// SIGN_STEP_OUT_<OUTPUT> names, lists joined with commas (dotenv values are
// one line). When the ref lists would make the file too big for GitLab they
// are left empty and SIGN_STEP_OUT_TRUNCATED=true says to read the report.
func Dotenv(outputs []Output) []byte {
	render := func(skip map[string]bool) []byte {
		var b bytes.Buffer
		for _, o := range outputs {
			if o.Name == "dotenv" {
				continue
			}
			v := strings.Join(strings.Split(o.Value, "\n"), ",")
			if skip[o.Name] {
				v = ""
			}
			fmt.Fprintf(&b, "%s%s=%s\n", DotenvPrefix, envSuffix(o.Name), v)
		}
		return b.Bytes()
	}
	b := render(nil)
	if len(b) > dotenvLimit {
		b = render(refLists)
		b = append(b, DotenvPrefix+"TRUNCATED=true\n"...)
	}
	return b
}

// DotenvName is the dotenv variable of an output.
func DotenvName(output string) string { return DotenvPrefix + envSuffix(output) }

func envSuffix(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// ExpiryWarning is how close a metadata expiry must be to be annotated.
const ExpiryWarning = 30 * 24 * time.Hour

// Annotation is a GitHub ::warning:: / ::error:: / ::notice::.
type Annotation struct {
	Level   string // warning, error or notice
	Title   string
	Message string
}

// Annotations are the warnings a report deserves:
//   - a tag that was signed for another digest before (it moved);
//   - TUF metadata we can renew that expires within 30 days (timestamp is
//     renewed by the server and not counted).
//
// Trust on first use is the command's own warning (without --pin-root or
// --pin-ca), annotated with the command's other warnings.
func Annotations(rep *sign.Report, now time.Time) []Annotation {
	var out []Annotation
	for _, r := range rep.Refs {
		if r.Previous != "" && r.Previous != r.Descriptor.Digest {
			verb := "moved"
			if !isSigned(r.Result) {
				verb = "would move"
			}
			out = append(out, Annotation{Level: "warning", Title: "Signed tag moved",
				Message: fmt.Sprintf("%s %s from %s to %s: pulls with content trust now get the new image", r.Ref, verb, r.Previous, r.Descriptor.Digest)})
		}
	}
	for _, repo := range rep.Repositories {
		out = append(out, expiryAnnotations(repo.GUN, repo.Metadata, now, ExpiryWarning)...)
	}
	return out
}

// expiryAnnotations are an error for each expired piece of gun's metadata
// and a warning for each that expires within warn (timestamp is renewed by
// the server and not counted).
func expiryAnnotations(gun string, meta []core.RoleMeta, now time.Time, warn time.Duration) []Annotation {
	var out []Annotation
	for _, m := range meta {
		if m.Role == "timestamp" || m.Expires.IsZero() {
			continue
		}
		left := m.Expires.Sub(now)
		switch {
		case left <= 0:
			out = append(out, Annotation{Level: "error", Title: "Trust metadata expired",
				Message: fmt.Sprintf("%s: %s metadata expired on %s; pulls with content trust fail until it is re-signed", gun, m.Role, m.Expires.Format(time.DateOnly))})
		case left < warn:
			out = append(out, Annotation{Level: "warning", Title: "Trust metadata expires soon",
				Message: fmt.Sprintf("%s: %s metadata expires on %s (in %d days); re-sign it (sign-step resign) before then", gun, m.Role, m.Expires.Format(time.DateOnly), int(left.Hours()/24))})
		}
	}
	return out
}

// Summary renders a report as the job summary: a table of tag, digest,
// roles, signer key ID and result, then each repository's earliest metadata
// expiry.
func Summary(rep *sign.Report, now time.Time) string {
	var b strings.Builder
	title := "sign-step " + rep.Command
	if rep.DryRun {
		title += " (dry run: nothing pushed or published)"
	}
	fmt.Fprintf(&b, "### %s\n\n", mdEscape(title))
	b.WriteString("| tag | digest | roles | signer key ID | result |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rep.Refs {
		var ids []string
		for _, id := range r.KeyIDs {
			ids = append(ids, "`"+short(id, 12)+"`")
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", mdEscape(r.Ref), short(r.Descriptor.Digest, 19),
			mdEscape(strings.Join(r.Roles, ", ")), strings.Join(ids, ", "), resultCell(r))
	}
	if len(rep.Repositories) > 0 {
		b.WriteString("\n| repository | metadata expires first | role |\n| --- | --- | --- |\n")
		for _, repo := range rep.Repositories {
			first, ok := earliest(repo.Metadata)
			if !ok {
				fmt.Fprintf(&b, "| `%s` | unknown | |\n", mdEscape(repo.GUN))
				continue
			}
			fmt.Fprintf(&b, "| `%s` | %s (%s) | %s |\n", mdEscape(repo.GUN), first.Expires.Format(time.DateOnly), inDays(first.Expires.Sub(now)), first.Role)
		}
		b.WriteString("\nThe timestamp role is renewed by the notary server and not listed.\n")
	}
	changed := "nothing was published"
	if rep.Changed {
		changed = "trust data was published"
	}
	fmt.Fprintf(&b, "\n%d ref(s), %s, %.1f s. Full details in the `report.json` artifact.\n", len(rep.Refs), changed, rep.Seconds)
	return b.String()
}

// FailureSummary is the job summary of a failed run.
func FailureSummary(command, message string, code int) string {
	return fmt.Sprintf("### sign-step %s failed\n\n%s\n\nExit code %d; nothing was published unless the log says so.\n", mdEscape(command), mdEscape(message), code)
}

func resultCell(r sign.RefResult) string {
	switch {
	case r.Previous != "" && r.Previous != r.Descriptor.Digest:
		return mdEscape(r.Result) + " (moved from `" + short(r.Previous, 19) + "`)"
	case r.Result == sign.ResultSigned:
		return "✅ signed"
	case r.Result == sign.ResultUnchanged:
		return "✅ unchanged (already signed)"
	}
	return mdEscape(r.Result)
}

func earliest(meta []core.RoleMeta) (core.RoleMeta, bool) {
	var first core.RoleMeta
	found := false
	for _, m := range meta {
		if m.Role == "timestamp" || m.Expires.IsZero() {
			continue
		}
		if !found || m.Expires.Before(first.Expires) {
			first, found = m, true
		}
	}
	return first, found
}

func inDays(d time.Duration) string {
	days := int(d.Hours() / 24)
	switch {
	case d <= 0:
		return "**expired**"
	case d < ExpiryWarning:
		return fmt.Sprintf("**in %d days**", days)
	}
	return fmt.Sprintf("in %d days", days)
}

func isSigned(result string) bool {
	return result == sign.ResultSigned || result == sign.ResultUnchanged
}

func appendUnique(list []string, v string) []string {
	for _, have := range list {
		if have == v {
			return list
		}
	}
	return append(list, v)
}

func only(values []string) string {
	if len(values) == 1 {
		return values[0]
	}
	return ""
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// mdEscape keeps a value inside its table cell.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

// mdEscaper is built once: building a Replacer per cell cost 6 ms for a
// 1000-tag summary.
var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "`", "'")
