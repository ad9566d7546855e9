package ci

import (
	"fmt"
	"strings"
	"time"

	"github.com/sign-step/sign-step/internal/sign"
)

// Result is what one command hands to the CI finishing step: everything it
// shows the CI system, built from its own report by SignResult,
// VerifyResult, ResignResult or RevokeResult. The finishing step only
// delivers it: Dotenv(Outputs) as Dir/<Command>.env everywhere, and on
// GitHub the groups, annotations, step outputs and job summary.
type Result struct {
	Command     string
	Dir         string // the command's artifact directory
	Outputs     []Output
	Summary     string // markdown
	Annotations []Annotation
	Groups      []Group // collapsible log groups
}

// Group is one ::group:: of log lines.
type Group struct {
	Title string
	Lines []string
}

// SignResult is sign's result: the outputs, summary and annotations of its
// report, and one log group per repository.
func SignResult(rep *sign.Report, dir string, files Files, now time.Time) Result {
	res := Result{Command: "sign", Dir: dir, Outputs: Outputs(rep, files), Summary: Summary(rep, now), Annotations: Annotations(rep, now)}
	for _, repo := range rep.Repositories {
		res.Groups = append(res.Groups, Group{Title: repo.GUN, Lines: repoLines(rep, repo, now)})
	}
	return res
}

// repoLines is the content of a repository's log group.
func repoLines(rep *sign.Report, repo sign.RepoResult, now time.Time) []string {
	var lines []string
	for _, r := range rep.Refs {
		if r.GUN != repo.GUN {
			continue
		}
		l := fmt.Sprintf("%s %s@%s (%d bytes) roles=%s keys=%s", r.Result, r.Ref, r.Descriptor.Digest, r.Descriptor.Size, strings.Join(r.Roles, ","), strings.Join(r.KeyIDs, ","))
		if r.Previous != "" && r.Previous != r.Descriptor.Digest {
			l += " previous=" + r.Previous
		}
		lines = append(lines, l)
	}
	for _, m := range repo.Metadata {
		lines = append(lines, fmt.Sprintf("%s version %d expires %s (in %d days)", m.Role, m.Version, m.Expires.Format(time.RFC3339), int(m.Expires.Sub(now).Hours()/24)))
	}
	lines = append(lines, fmt.Sprintf("resolve %.3fs, publish %.3fs", repo.ResolveSeconds, repo.PublishSeconds))
	return lines
}

// VerifyResult is verify's result. verified-refs lists REF@sha256:… of each
// ref that passed (the ref as given, tag kept, with the digest it verified
// at), one per line, in the order given; digest is set when they all pass
// at one digest.
func VerifyResult(rep sign.VerifyReport, dir string, files Files) Result {
	var refs, digests []string
	failed := 0
	var b strings.Builder
	b.WriteString("### sign-step verify\n\n| reference | digest | signed by | result |\n| --- | --- | --- | --- |\n")
	for _, v := range rep.Refs {
		result := "❌ not verified"
		switch {
		case v.Pinned == "":
			failed++
		case v.Unsigned:
			result = "⚠️ digest, no trust data read"
		default:
			result = "✅ verified"
		}
		if v.Pinned != "" {
			refs = append(refs, withDigest(v))
			digests = appendUnique(digests, v.Descriptor.Digest)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", mdEscape(v.Ref), short(v.Descriptor.Digest, 19), mdEscape(strings.Join(v.SignedBy, ", ")), result)
	}
	digest := only(digests)
	if failed > 0 {
		digest = ""
	}
	fmt.Fprintf(&b, "\n%d of %d ref(s) verified. Full details in the `%s` artifact.\n", len(refs), len(rep.Refs), sign.VerifyFile)
	return Result{Command: "verify", Dir: dir, Summary: b.String(), Outputs: []Output{
		{"verified-refs", strings.Join(refs, "\n")},
		{"digest", digest},
		{"report", files.Report},
		{"dotenv", files.Dotenv},
	}}
}

// withDigest is a verified ref with its digest: REPO:TAG@sha256:… (a ref
// given with a digest is that digest already).
func withDigest(v sign.Verified) string {
	if strings.Contains(v.Ref, "@") {
		return v.Ref
	}
	return v.Ref + "@" + v.Descriptor.Digest
}

// ResignResult is resign's result. resigned lists the repositories
// re-signed (would be, in a dry run), one per line. Each piece of metadata
// that expires within warnWithin after the run is a ::warning::, each
// expired one and each repository that failed an ::error::.
func ResignResult(rep sign.ResignReport, dir string, files Files, now time.Time, warnWithin time.Duration) Result {
	res := Result{Command: "resign", Dir: dir}
	var resigned []string
	var b strings.Builder
	title := "sign-step resign"
	if rep.DryRun {
		title += " (dry run: nothing published)"
	}
	fmt.Fprintf(&b, "### %s\n\n| repository | re-signed | skipped | expires first | result |\n| --- | --- | --- | --- | --- |\n", title)
	for _, r := range rep.Repositories {
		final := r.After
		if final == nil {
			final = r.Before
		}
		result := "fresh (nothing due)"
		switch {
		case r.Error != "":
			result = "❌ failed: " + r.Error
			res.Annotations = append(res.Annotations, Annotation{Level: "error", Title: "sign-step resign failed for " + r.GUN, Message: r.Error})
		case len(r.Witnessed) > 0 && rep.DryRun:
			result = "would re-sign"
			resigned = append(resigned, r.GUN)
		case len(r.Witnessed) > 0:
			result = "✅ re-signed"
			resigned = append(resigned, r.GUN)
		}
		if r.Error == "" && warnWithin > 0 {
			res.Annotations = append(res.Annotations, expiryAnnotations(r.GUN, final, now, warnWithin)...)
		}
		first := "unknown"
		if m, ok := earliest(final); ok {
			first = fmt.Sprintf("%s %s (%s)", m.Role, m.Expires.Format(time.DateOnly), inDays(m.Expires.Sub(now)))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", mdEscape(r.GUN), mdEscape(strings.Join(r.Witnessed, ", ")), mdEscape(strings.Join(r.Skipped, ", ")), first, mdEscape(result))
	}
	changed := "nothing was published"
	if rep.Changed {
		changed = "trust data was published"
	}
	fmt.Fprintf(&b, "\n%d repositories, %d re-signed, %s. Full details in the `%s` artifact.\n", len(rep.Repositories), len(resigned), changed, sign.ReportFile)
	res.Summary = b.String()
	res.Outputs = []Output{
		{"resigned", strings.Join(resigned, "\n")},
		{"changed", fmt.Sprint(rep.Changed)},
		{"dry-run", fmt.Sprint(rep.DryRun)},
		{"report", files.Report},
		{"dotenv", files.Dotenv},
	}
	return res
}

// RevokeResult is revoke's result: revoked-refs lists REPOSITORY:TAG of each
// tag removed, one per line.
func RevokeResult(rep sign.RevokeReport, dir string, files Files) Result {
	var b strings.Builder
	b.WriteString("### sign-step revoke\n\n| reference | result |\n| --- | --- |\n")
	for _, r := range rep.Revoked {
		fmt.Fprintf(&b, "| `%s` | revoked |\n", mdEscape(r))
	}
	fmt.Fprintf(&b, "\n%d tag(s) revoked: a trusted pull of them now fails. Full details in the `%s` artifact.\n", len(rep.Revoked), sign.ReportFile)
	return Result{Command: "revoke", Dir: dir, Summary: b.String(), Outputs: []Output{
		{"revoked-refs", strings.Join(rep.Revoked, "\n")},
		{"changed", fmt.Sprint(rep.Changed)},
		{"report", files.Report},
		{"dotenv", files.Dotenv},
	}}
}
