package ci

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/sign"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDetect(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		want System
	}{
		{nil, None},
		{map[string]string{"GITHUB_ACTIONS": "true"}, GitHub},
		{map[string]string{"GITHUB_ACTIONS": "false"}, None},
		{map[string]string{"GITLAB_CI": "true"}, GitLab},
		{map[string]string{"JENKINS_URL": "https://jenkins.example.com/"}, Jenkins},
		{map[string]string{"GITHUB_ACTIONS": "true", "GITLAB_CI": "true"}, GitHub},
	}
	for _, tc := range cases {
		if got := Detect(envOf(tc.env)); got != tc.want {
			t.Errorf("Detect(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestListsAndPaths(t *testing.T) {
	t.Parallel()
	lists := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a:1", []string{"a:1"}},
		{"a:1,b:2", []string{"a:1", "b:2"}},
		{"a:1\n b:2 ,\n\n,c:3\r\n", []string{"a:1", "b:2", "c:3"}},
	}
	for _, tc := range lists {
		if got := SplitList(tc.in); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := SplitLines("a,b\n c \n"); strings.Join(got, "|") != "a,b|c" {
		t.Errorf("SplitLines = %q", got)
	}
	paths := []struct{ ws, path, want string }{
		{"", "/x/out/report.json", "/x/out/report.json"},
		{"/github/workspace", "/github/workspace/sign-step/report.json", "sign-step/report.json"},
		{"/github/workspace/", "/github/workspace/sign-step/report.json", "sign-step/report.json"},
		{"/github/workspace", "/tmp/out/report.json", "/tmp/out/report.json"},
		{"/github/workspace", "/github/workspace2/report.json", "/github/workspace2/report.json"},
	}
	for _, tc := range paths {
		if got := DisplayPath(tc.ws, tc.path); got != tc.want {
			t.Errorf("DisplayPath(%q, %q) = %q, want %q", tc.ws, tc.path, got, tc.want)
		}
	}
	for in, want := range map[string][2]bool{"true": {true, true}, "TRUE": {true, true}, "False": {false, true}, "yes": {false, false}, "": {false, false}} {
		if v, ok := ParseBool(in); v != want[0] || ok != want[1] {
			t.Errorf("ParseBool(%q) = %v, %v", in, v, ok)
		}
	}
}

var now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	dA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func report(refs ...sign.RefResult) *sign.Report {
	return &sign.Report{Command: "sign", Changed: true, Refs: refs, Repositories: []sign.RepoResult{{
		GUN: "reg.example.com/app",
		Metadata: []core.RoleMeta{
			{Role: "root", Expires: now.AddDate(10, 0, 0)},
			{Role: "timestamp", Expires: now.AddDate(0, 0, 14)},
			{Role: "targets/releases", Expires: now.AddDate(0, 0, 20)},
			{Role: "targets/ci", Expires: now.AddDate(0, 0, -1)},
		},
	}}}
}

func ref(tag, digest, result, previous string) sign.RefResult {
	return sign.RefResult{Ref: "reg.example.com/app:" + tag, GUN: "reg.example.com/app", Tag: tag,
		Descriptor: core.Descriptor{Digest: digest, Size: 583, MediaType: "application/vnd.oci.image.index.v1+json"},
		Roles:      []string{"targets/releases", "targets/ci"}, KeyIDs: []string{"0123456789abcdef"}, Result: result, Previous: previous}
}

func outputMap(outs []Output) map[string]string {
	m := map[string]string{}
	for _, o := range outs {
		m[o.Name] = o.Value
	}
	return m
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	files := Files{Report: "sign-step/report.json", TrustInspect: "sign-step/trust-inspect.json", Dotenv: "sign-step/sign.env"}
	cases := []struct {
		name string
		rep  *sign.Report
		want map[string]string
	}{
		{"one image, two tags", report(ref("1", dA, "signed", ""), ref("latest", dA, "signed", "")), map[string]string{
			"digest": dA, "size": "583", "media-type": "application/vnd.oci.image.index.v1+json",
			"signed-tags": "reg.example.com/app:1\nreg.example.com/app:latest",
			"signed-refs": "reg.example.com/app:1@" + dA + "\nreg.example.com/app:latest@" + dA,
			"roles":       "targets/ci\ntargets/releases", "key-id": "0123456789abcdef", "changed": "true", "dry-run": "false",
			"report": "sign-step/report.json", "trust-inspect": "sign-step/trust-inspect.json", "dotenv": "sign-step/sign.env"}},
		{"two images", report(ref("1", dA, "signed", ""), ref("2", dB, "signed", "")), map[string]string{
			"digest": "", "size": "583", "signed-refs": "reg.example.com/app:1@" + dA + "\nreg.example.com/app:2@" + dB}},
		{"dry run", func() *sign.Report {
			r := report(ref("1", dA, "would-sign", ""))
			r.DryRun, r.Changed = true, false
			return r
		}(), map[string]string{"digest": dA, "signed-tags": "", "signed-refs": "", "changed": "false", "dry-run": "true"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			outs := Outputs(tc.rep, files)
			if len(outs) != len(SignOutputNames) {
				t.Fatalf("%d outputs, want %d", len(outs), len(SignOutputNames))
			}
			for i, o := range outs {
				if o.Name != SignOutputNames[i] {
					t.Errorf("output %d is %s, want %s", i, o.Name, SignOutputNames[i])
				}
			}
			got := outputMap(outs)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestDotenv(t *testing.T) {
	t.Parallel()
	small := Dotenv(Outputs(report(ref("1", dA, "signed", ""), ref("2", dA, "signed", "")), Files{Report: "sign-step/report.json"}))
	want := "SIGN_STEP_OUT_SIGNED_REFS=reg.example.com/app:1@" + dA + ",reg.example.com/app:2@" + dA + "\n"
	if !bytes.Contains(small, []byte(want)) || !bytes.Contains(small, []byte("SIGN_STEP_OUT_REPORT=sign-step/report.json\n")) {
		t.Errorf("sign.env:\n%s", small)
	}
	if bytes.Contains(small, []byte("SIGN_STEP_OUT_DOTENV")) || bytes.Contains(small, []byte("TRUNCATED")) {
		t.Errorf("sign.env names itself or is truncated:\n%s", small)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(small)), "\n") {
		if !strings.HasPrefix(line, DotenvPrefix) || strings.Count(line, "=") < 1 {
			t.Errorf("bad dotenv line %q", line)
		}
	}
	var many []sign.RefResult
	for i := range 100 {
		many = append(many, ref(strings.Repeat("t", 10)+string(rune('a'+i%26))+string(rune('a'+i/26)), dA, "signed", ""))
	}
	big := Dotenv(Outputs(report(many...), Files{}))
	if len(big) > dotenvLimit+64 || !bytes.Contains(big, []byte("SIGN_STEP_OUT_TRUNCATED=true\n")) || !bytes.Contains(big, []byte("SIGN_STEP_OUT_DIGEST="+dA+"\n")) {
		t.Errorf("a big sign.env is not truncated (%d bytes):\n%.400s", len(big), big)
	}
}

func TestAnnotations(t *testing.T) {
	t.Parallel()
	got := Annotations(report(ref("1", dB, "signed", dA), ref("2", dA, "signed", dA)), now)
	var text []string
	for _, a := range got {
		text = append(text, a.Level+"|"+a.Title+"|"+a.Message)
	}
	all := strings.Join(text, "\n")
	for _, w := range []string{
		"warning|Signed tag moved|reg.example.com/app:1 moved from " + dA + " to " + dB,
		"warning|Trust metadata expires soon|reg.example.com/app: targets/releases metadata expires on 2026-01-21 (in 20 days)",
		"error|Trust metadata expired|reg.example.com/app: targets/ci metadata expired on 2025-12-31",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("annotations lack %q:\n%s", w, all)
		}
	}
	if strings.Contains(all, "timestamp") || strings.Contains(all, "app:2 moved") || len(got) != 3 {
		t.Errorf("unexpected annotations:\n%s", all)
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	r := ref("1", dB, "signed", dA)
	r.Ref = "reg.example.com/app:a|b" // not a valid tag, but must not break the table
	md := Summary(report(r, ref("2", dA, "signed", "")), now)
	for _, w := range []string{
		"### sign-step sign\n",
		"| tag | digest | roles | signer key ID | result |",
		"| `reg.example.com/app:a\\|b` | `sha256:bbbbbbbbbbbb` | targets/releases, targets/ci | `0123456789ab` | signed (moved from `sha256:aaaaaaaaaaaa`) |",
		"| `reg.example.com/app:2` | `sha256:aaaaaaaaaaaa` | targets/releases, targets/ci | `0123456789ab` | ✅ signed |",
		"| `reg.example.com/app` | 2025-12-31 (**expired**) | targets/ci |",
	} {
		if !strings.Contains(md, w) {
			t.Errorf("summary lacks %q:\n%s", w, md)
		}
	}
}

func newGitHub(t *testing.T, env map[string]string) (*GitHubBackend, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var raw, out bytes.Buffer
	return NewGitHub(GitHubOptions{Getenv: envOf(env), Raw: &raw, Out: &out, Redact: func(s string) string { return strings.ReplaceAll(s, "hunter2-secret", "***") }}), &raw, &out
}

func TestGitHubMask(t *testing.T) {
	t.Parallel()
	g, raw, out := newGitHub(t, nil)
	g.Mask("-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: ci\n\nMIHuMEkGCSqGSIb3\nVg==\n-----END ENCRYPTED PRIVATE KEY-----\n")
	g.Mask("MIHuMEkGCSqGSIb3") // already masked
	g.Mask("ab")               // too short to mask
	// The PEM header names the signer: no secret, and masking it would hide
	// "role: ci" wherever a log prints it.
	want := "::add-mask::MIHuMEkGCSqGSIb3\n::add-mask::Vg==\n"
	if raw.String() != want || out.Len() != 0 {
		t.Errorf("raw:\n%s\nwant:\n%s\nout: %q", raw, want, out)
	}
}

func TestGitHubInputs(t *testing.T) {
	t.Parallel()
	g, _, _ := newGitHub(t, map[string]string{"INPUT_NOTARY-SERVER": " https://notary.example.com \n", "INPUT_KEY": "\n-----BEGIN X-----\n  abc\n-----END X-----\n"})
	if got := g.Input("notary-server"); got != "https://notary.example.com" {
		t.Errorf("Input = %q", got)
	}
	if got := g.RawInput("key"); got != "-----BEGIN X-----\n  abc\n-----END X-----" {
		t.Errorf("RawInput = %q", got)
	}
}

func TestGitHubFileCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	okOut, okSum := filepath.Join(dir, "out"), filepath.Join(dir, "sum")
	cases := []struct {
		name    string
		env     map[string]string
		outputs []Output
		wantErr string
	}{
		{"written", map[string]string{"GITHUB_OUTPUT": okOut, "GITHUB_STEP_SUMMARY": okSum}, []Output{{"digest", dA}, {"refs", "a\nb hunter2-secret"}}, ""},
		{"no env files", nil, []Output{{"digest", dA}}, "GITHUB_OUTPUT is not set"},
		{"unwritable", map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "missing", "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "missing", "sum")}, []Output{{"digest", dA}}, "writing step output digest"},
		{"delimiter injection", map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "inj"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "inj")}, []Output{{"x", "a\n" + fileCommandDelimiter + "\nchanged<<EOF\ntrue\nEOF"}}, "delimiter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, _, _ := newGitHub(t, tc.env)
			err := g.SetOutputs(tc.outputs)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("SetOutputs: %v, want %q", err, tc.wantErr)
			}
			serr := g.Summary("| a | b |\n")
			switch tc.name {
			case "written":
				if serr != nil {
					t.Fatal(serr)
				}
				b, _ := os.ReadFile(okOut)
				want := "digest<<" + fileCommandDelimiter + "\n" + dA + "\n" + fileCommandDelimiter + "\nrefs<<" + fileCommandDelimiter + "\na\nb ***\n" + fileCommandDelimiter + "\n"
				if string(b) != want {
					t.Errorf("GITHUB_OUTPUT:\n%s\nwant:\n%s", b, want)
				}
				if s, _ := os.ReadFile(okSum); string(s) != "| a | b |\n\n" {
					t.Errorf("GITHUB_STEP_SUMMARY: %q", s)
				}
			case "delimiter injection":
				if b, _ := os.ReadFile(filepath.Join(dir, "inj")); bytes.Contains(b, []byte("changed")) {
					t.Errorf("an injected output was written:\n%s", b)
				}
			default:
				if serr == nil {
					t.Errorf("Summary wrote without a usable GITHUB_STEP_SUMMARY")
				}
			}
		})
	}
}

func TestGitHubAnnotationsAndGroups(t *testing.T) {
	t.Parallel()
	g, raw, out := newGitHub(t, nil)
	g.Annotate(Annotation{Level: "warning", Title: "Signed tag moved", Message: "a: moved, 100%"})
	g.Annotate(Annotation{Level: "error", Message: "boom\nsecond line"})
	g.Group("reg/app", []string{"signed reg/app:1"})
	want := "::warning title=Signed tag moved::a: moved, 100%25\n::error::boom%0Asecond line\n::group::reg/app\nsigned reg/app:1\n::endgroup::\n"
	if out.String() != want || raw.Len() != 0 {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
