package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sethvargo/go-githubactions"
)

// tricky holds every character JSON, Go quoting, URL encoding and GitHub's
// command escaping change.
const tricky = "p<a\"s%s\\w:1,&>\n\r\t\x01 /?#@+=é\u2028"

// set returns a Set holding the given secrets.
func set(secrets ...string) *Set {
	s := &Set{}
	for _, v := range secrets {
		s.Mask(v)
	}
	return s
}

// The output of the real encoders is the oracle: each case prints the secret
// the way some path of sign-step (or a library it uses) prints it, and the
// redacted text must be exactly want.
func TestRedactEncodedForms(t *testing.T) {
	t.Parallel()
	marshal := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	slogText := func(v string) string {
		var b bytes.Buffer
		slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})).Info("m", "v", v, "err", errors.New("failed: "+v))
		return b.String()
	}
	slogJSON := func(v string) string {
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})).Info("m", "v", v)
		return b.String()
	}
	github := func(v string) string {
		var b bytes.Buffer
		githubactions.New(githubactions.WithWriter(&b), githubactions.WithGetenv(func(string) string { return "" })).
			WithFieldsMap(map[string]string{"title": "t " + v}).Errorf("boom %s end", v)
		return b.String()
	}
	userinfo := func(v string) string {
		return (&url.URL{Scheme: "https", User: url.UserPassword("ci", v), Host: "h", Path: "/x"}).String()
	}
	cases := []struct {
		name   string
		secret string
		print  func(string) string
		want   string
	}{
		{"raw", "s3cret-value", func(v string) string { return "a " + v + " b" }, "a *** b"},
		{"raw twice", "s3cret-value", func(v string) string { return v + v + " " + v }, "*** ***"},
		{"json html escapes", tricky, func(v string) string { return marshal("x" + v + "y") }, `"x***y"`},
		{"json control char", "ab\x01\x1fcd", func(v string) string { return marshal(v) }, `"***"`},
		{"json no html escape", tricky, func(v string) string {
			var b bytes.Buffer
			e := json.NewEncoder(&b)
			e.SetEscapeHTML(false)
			_ = e.Encode(map[string]string{"k": v})
			return b.String()
		}, "{\"k\":\"***\"}\n"},
		{"go %q", tricky, func(v string) string { return fmt.Sprintf("bad %q", v) }, `bad "***"`},
		{"go %+q", tricky, func(v string) string { return fmt.Sprintf("bad %+q", v) }, `bad "***"`},
		{"strconv quote", `pa"ss\word`, strconv.Quote, `"***"`},
		{"slog text", tricky, slogText, "level=INFO msg=m v=\"***\" err=\"failed: ***\"\n"},
		{"slog json", tricky, slogJSON, "{\"level\":\"INFO\",\"msg\":\"m\",\"v\":\"***\"}\n"},
		{"query escape", tricky, func(v string) string { return "https://h/?token=" + url.QueryEscape(v) + "&x=1" }, "https://h/?token=***&x=1"},
		{"url values", tricky, func(v string) string { return url.Values{"a": {v}}.Encode() }, "a=***"},
		{"path escape", tricky, func(v string) string { return "/v2/" + url.PathEscape(v) + "/tags" }, "/v2/***/tags"},
		{"userinfo password", tricky, userinfo, "https://ci:***@h/x"},
		{"userinfo user", "us:er@name", func(v string) string { return url.User(v).String() }, "***"},
		{"github annotation", tricky, github, "::error title=t ***::boom *** end\n"},
		{"base64 std", tricky, func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }, "***"},
		{"base64 url", "\xfb\xff\xfe-url-secret", func(v string) string { return "k=" + base64.URLEncoding.EncodeToString([]byte(v)) }, "k=***"},
		{"base64 raw std", "abcd-ef", func(v string) string { return base64.RawStdEncoding.EncodeToString([]byte(v)) + "." }, "***."},
		{"base64 raw url", "\xfb\xff\xfe-raw", func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }, "***"},
		{"utf-8 untouched by json", "pässwörd", func(v string) string { return marshal(v) }, `"***"`},
		{"json inside json", tricky, func(v string) string { return marshal(marshal(v)) }, `"\"***\""`},
		{"json in a slog line", tricky, func(v string) string { return slogText(marshal(v)) }, "level=INFO msg=m v=\"\\\"***\\\"\" err=\"failed: \\\"***\\\"\"\n"},
		{"%q of %q", tricky, func(v string) string { return fmt.Sprintf("%q", fmt.Sprintf("%q", v)) }, `"\"***\""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := c.print(c.secret)
			if got := set(c.secret).String(in); got != c.want {
				t.Errorf("Redact(%q)\n = %q\nwant %q", in, got, c.want)
			}
		})
	}
}

// A secret inside longer base64 text (a Basic authorization value, a
// base64-encoded key file) is hidden at any offset: only the characters
// that mix its bits with the neighbours' stay.
func TestRedactBase64AtAnyOffset(t *testing.T) {
	t.Parallel()
	const secret = "correct-horse-battery"
	for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "url": base64.URLEncoding, "rawstd": base64.RawStdEncoding} {
		for pre := 0; pre < 6; pre++ {
			for post := 0; post < 4; post++ {
				prefix, suffix := strings.Repeat("u", pre), strings.Repeat("z", post)
				t.Run(fmt.Sprintf("%s %d+%d", name, pre, post), func(t *testing.T) {
					t.Parallel()
					in := enc.EncodeToString([]byte(prefix + secret + suffix))
					got := set(secret).String(in)
					// Characters whose 6 bits are all the secret's must be gone.
					first := (8*pre + 5) / 6
					last := (8*(pre+len(secret)))/6 - 1
					i := strings.Index(got, Replacement)
					if i < 0 || i > first || len(got)-i-len(Replacement) > len(in)-last-1 {
						t.Errorf("Redact(%s of %q+secret+%q) = %q: secret characters %d..%d of %q not all hidden", name, prefix, suffix, got, first, last, in)
					}
				})
			}
		}
	}
	// The Basic header value for a password.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ci-user:"+secret))
	if got := set(secret).String(basic); !strings.Contains(got, Replacement) || strings.Contains(got, base64.StdEncoding.EncodeToString([]byte("ci-user:" + secret))[12:20]) {
		t.Errorf("Basic value not redacted: %q", got)
	}
}

// Secrets that overlap or contain each other are hidden whole, whatever the
// order they were registered in.
func TestRedactOverlappingSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"tail of an overlapping secret", []string{"abcdef", "defghi"}, "x abcdefghi y", "x *** y"},
		{"head of an overlapping secret", []string{"defghi", "abcdefgh"}, "abcdefghi!", "***!"},
		{"longer first leaves no tail", []string{"abcdefgh", "ghijk"}, "abcdefghijk", "***"},
		{"contained", []string{"secret", "my-secret-value"}, "my-secret-value and secret", "*** and ***"},
		{"adjacent", []string{"aaaa1", "bbbb2"}, "aaaa1bbbb2", "***"},
		{"apart", []string{"aaaa1", "bbbb2"}, "aaaa1 bbbb2", "*** ***"},
		{"self overlap", []string{"abab-abab"}, "abab-abab-abab", "***"},
		{"shared anchor", []string{"same-1111", "same-2222"}, "same-2222 same-1111 same-3", "*** *** same-3"},
		{"short values ignored", []string{"abc", ""}, "abc abc", "abc abc"},
		{"four bytes masked", []string{"abcd"}, "abcd", "***"},
		{"nothing registered", nil, "plain", "plain"},
		{"shorter input than any secret", []string{"abcdef"}, "abc", "abc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, order := range [][]string{c.secrets, reversed(c.secrets)} {
				if got := set(order...).String(c.in); got != c.want {
					t.Errorf("secrets %q: Redact(%q) = %q, want %q", order, c.in, got, c.want)
				}
			}
		})
	}
}

func reversed(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}

// Redact returns clean input as is (no copy per write) and never changes
// the caller's buffer.
func TestRedactDoesNotCopyOrModify(t *testing.T) {
	t.Parallel()
	s := set("top-secret")
	clean := []byte("nothing to hide here")
	if got := s.Redact(clean); &got[0] != &clean[0] {
		t.Error("clean input was copied")
	}
	dirty := []byte("a top-secret b")
	got := s.Redact(dirty)
	if string(dirty) != "a top-secret b" || string(got) != "a *** b" {
		t.Errorf("Redact modified its input or missed: in %q, out %q", dirty, got)
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	s := set("top-secret")
	t.Run("redacts each write and reports the input length", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		w := s.Writer(&b)
		for _, line := range []string{"one top-secret\n", "two\n", fmt.Sprintf("%q\n", "top-secret")} {
			n, err := w.Write([]byte(line))
			if err != nil || n != len(line) {
				t.Errorf("Write(%q) = %d, %v; want %d, nil", line, n, err, len(line))
			}
		}
		if got, want := b.String(), "one ***\ntwo\n\"***\"\n"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
	t.Run("returns the underlying error", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("disk full")
		n, err := s.Writer(failWriter{boom}).Write([]byte("x top-secret"))
		if n != 0 || !errors.Is(err, boom) {
			t.Errorf("Write = %d, %v; want 0, %v", n, err, boom)
		}
	})
	t.Run("a secret masked later is hidden from then on", func(t *testing.T) {
		t.Parallel()
		s := &Set{}
		var b bytes.Buffer
		w := s.Writer(&b)
		fmt.Fprintln(w, "late-secret before")
		s.Mask("late-secret")
		fmt.Fprintln(w, "late-secret after")
		if got, want := b.String(), "late-secret before\n*** after\n"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
	t.Run("whole writes only: a secret split across two writes is not seen", func(t *testing.T) {
		// The documented contract (callers write whole lines): this pins it,
		// so a change to buffering is a decision, not an accident.
		t.Parallel()
		var b bytes.Buffer
		w := s.Writer(&b)
		_, _ = w.Write([]byte("top-"))
		_, _ = w.Write([]byte("secret\n"))
		if b.String() != "top-secret\n" {
			t.Errorf("written %q", b.String())
		}
	})
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

// OnMask hooks get each new value once, as given, never its encoded forms
// (the runner derives its own).
func TestOnMask(t *testing.T) {
	t.Parallel()
	s := &Set{}
	var got []string
	s.OnMask(func(v string) { got = append(got, v) })
	for _, v := range []string{"first-secret", "abc", "first-secret", "second<&>"} {
		s.Mask(v)
	}
	if want := []string{"first-secret", "second<&>"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("hooks got %q, want %q", got, want)
	}
}

func TestConcurrentMaskAndRedact(t *testing.T) {
	t.Parallel()
	s := &Set{}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			s.Mask(fmt.Sprintf("secret-number-%d", i))
		}()
		go func() {
			defer wg.Done()
			_ = s.String(fmt.Sprintf("x secret-number-%d y", i))
		}()
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		if got := s.String(fmt.Sprintf("secret-number-%d", i)); got != Replacement {
			t.Errorf("secret %d not hidden after the race: %q", i, got)
		}
	}
}

// FuzzRedact checks, for any secret in any context, that no output of the
// real encoders still holds the encoded secret, and that text without the
// secret is left alone.
func FuzzRedact(f *testing.F) {
	f.Add("p<a\"s%s\\w:1,", "before ", " after")
	f.Add("abcd", "", "")
	f.Add("pässwörd\n\r", "€", "\x00")
	f.Fuzz(func(t *testing.T, secret, prefix, suffix string) {
		// "***" in a secret could be rebuilt by the replacement itself;
		// invalid UTF-8 at the edges changes how encoders treat neighbours.
		if len(secret) < minLen || strings.Contains(secret, "*") || !validUTF8(secret, prefix, suffix) {
			return
		}
		s := set(secret)
		if got := s.String(prefix); !strings.Contains(prefix, secret) && got != prefix && !overlapsForm(prefix, secret) {
			t.Fatalf("text without the secret changed: %q -> %q", prefix, got)
		}
		in := prefix + secret + suffix
		for name, enc := range map[string]func(string) string{
			"raw":    func(v string) string { return v },
			"json":   func(v string) string { b, _ := json.Marshal(v); return string(b) },
			"quote":  strconv.Quote,
			"query":  url.QueryEscape,
			"path":   url.PathEscape,
			"github": githubData,
		} {
			out := s.String(enc(in))
			if strings.Contains(out, enc(secret)) {
				t.Fatalf("%s: %q still holds %q", name, out, enc(secret))
			}
		}
		if out := s.String(base64.StdEncoding.EncodeToString([]byte(secret))); out != Replacement {
			t.Fatalf("base64: %q", out)
		}
		// A second secret overlapping the first anywhere: neither shows.
		other := suffix + prefix
		if len(other) >= minLen && !strings.Contains(other, "*") {
			s.Mask(other)
			for _, in := range []string{prefix + secret + suffix + prefix, suffix + prefix + secret, secret + suffix + prefix + secret} {
				if out := s.String(in); strings.Contains(out, secret) || strings.Contains(out, other) {
					t.Fatalf("secrets %q and %q: Redact(%q) = %q", secret, other, in, out)
				}
			}
		}
	})
}

func validUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// overlapsForm reports text holding some encoded form of the secret (which
// is rightly hidden even though the raw secret is absent).
func overlapsForm(text, secret string) bool {
	for _, f := range Forms(secret) {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

func BenchmarkRedact(b *testing.B) {
	s := &Set{}
	for i := 0; i < 20; i++ {
		s.Mask(fmt.Sprintf("secret-%02d-%s", i, strings.Repeat("x", i)))
	}
	clean := []byte(`level=INFO msg="signed" ref=registry.example.com/team/app:1.2.3 digest=sha256:0123456789abcdef roles=targets/releases`)
	dirty := append(append([]byte{}, clean[:40]...), "secret-07-xxxxxxx"...)
	b.Run("clean line, 20 secrets", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Redact(clean)
		}
	})
	b.Run("line with a secret, 20 secrets", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Redact(dirty)
		}
	})
	// A run's real load: two keys and a CA certificate masked line by line
	// (64-character base64 lines), passphrases and a token.
	for k := 0; k < 40; k++ {
		s.Mask(base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("key material line %02d of a PEM body", k))))
	}
	b.Run("clean line, 60 secrets with PEM lines", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Redact(clean)
		}
	})
}

// A shape filter runs after the registered values, on every path (String,
// Writer), and leaves its input alone.
func TestAlsoHide(t *testing.T) {
	t.Parallel()
	var s Set
	s.Mask("secret-value")
	s.AlsoHide(func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("sig=abc"), []byte("sig=***")) })
	in := []byte("GET https://h/x?sig=abc with secret-value")
	keep := string(in)
	if got, want := string(s.Redact(in)), "GET https://h/x?sig=*** with ***"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if string(in) != keep {
		t.Errorf("input modified: %q", in)
	}
	var buf bytes.Buffer
	_, _ = s.Writer(&buf).Write([]byte("sig=abc\n"))
	if buf.String() != "sig=***\n" {
		t.Errorf("Writer wrote %q", buf.String())
	}
}
