package ci

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sign-step/sign-step/internal/sign"
)

// SystemsResult is the result of verify --require/--policy, with the
// outputs of verify: verified-refs lists REF@sha256:… of each ref that
// passed every system its rule requires; digest is set when they all pass
// at one digest.
func SystemsResult(results []sign.SystemResult, dir string, files Files) Result {
	var refs, digests []string
	failed := 0
	var b strings.Builder
	b.WriteString("### sign-step verify\n\n| reference | digest | systems | result |\n| --- | --- | --- | --- |\n")
	for _, r := range results {
		result := "✅ verified"
		switch {
		case r.Passed:
			ref := r.Ref
			if !strings.Contains(ref, "@") {
				ref += "@" + r.Digest
			}
			refs = append(refs, ref)
			digests = appendUnique(digests, r.Digest)
		case r.Level == sign.LevelAudit:
			failed++
			result = "⚠️ audit: not met"
		default:
			failed++
			result = "❌ not verified"
		}
		names := make([]string, 0, len(r.Systems))
		for n, s := range r.Systems {
			mark := "✅"
			if s != "pass" {
				mark = "❌"
			}
			names = append(names, n+" "+mark)
		}
		sort.Strings(names)
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", mdEscape(r.Ref), short(r.Digest, 19), mdEscape(strings.Join(names, ", ")), result)
	}
	digest := only(digests)
	if failed > 0 {
		digest = ""
	}
	fmt.Fprintf(&b, "\n%d of %d ref(s) verified. Full details in the `%s` artifact.\n", len(refs), len(results), sign.VerifyFile)
	return Result{Command: "verify", Dir: dir, Summary: b.String(), Outputs: []Output{
		{"verified-refs", strings.Join(refs, "\n")},
		{"digest", digest},
		{"report", files.Report},
		{"dotenv", files.Dotenv},
	}}
}
