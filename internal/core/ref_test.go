package core

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		in      string
		want    Ref
		wantErr string
	}{
		{in: "alpine", want: Ref{Registry: "docker.io", Repository: "library/alpine"}},
		{in: "alpine:3.20", want: Ref{Registry: "docker.io", Repository: "library/alpine", Tag: "3.20"}},
		{in: "org/app:v1", want: Ref{Registry: "docker.io", Repository: "org/app", Tag: "v1"}},
		{in: "index.docker.io/alpine", want: Ref{Registry: "docker.io", Repository: "library/alpine"}},
		{in: "localhost/app", want: Ref{Registry: "localhost", Repository: "app"}},
		{in: "localhost:5000/team/app:1.0", want: Ref{Registry: "localhost:5000", Repository: "team/app", Tag: "1.0"}},
		{in: "127.0.0.1:5443/a/b/c:x_y-z.1", want: Ref{Registry: "127.0.0.1:5443", Repository: "a/b/c", Tag: "x_y-z.1"}},
		{in: "reg.example.com/app@" + digest, want: Ref{Registry: "reg.example.com", Repository: "app", Digest: digest}},
		{in: "reg.example.com/app:v1@" + digest, want: Ref{Registry: "reg.example.com", Repository: "app", Tag: "v1", Digest: digest}},
		{in: "Upper.example.com/app", want: Ref{Registry: "Upper.example.com", Repository: "app"}},
		{in: "[::1]:5000/app:v1", want: Ref{Registry: "[::1]:5000", Repository: "app", Tag: "v1"}},
		{in: "", wantErr: "empty reference"},
		{in: "Alpine", wantErr: "must be lowercase"},
		{in: "org/App:v1", wantErr: "must be lowercase"},
		{in: "app:", wantErr: "invalid tag"},
		{in: "app:-bad", wantErr: "invalid tag"},
		{in: "app@sha256:abc", wantErr: "digest must be"},
		{in: "reg.example.com/", wantErr: "missing repository name"},
		{in: "reg.example.com/a//b", wantErr: "invalid repository path component"},
		{in: "-bad.example.com/app", wantErr: "invalid registry host"},
		{in: "app:" + strings.Repeat("t", 129), wantErr: "invalid tag"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tc.in)
			if tc.wantErr != "" {
				var re *RefError
				if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRef(%q) error = %v, want RefError containing %q", tc.in, err, tc.wantErr)
				}
				if ClassOf(err) != ClassUsage {
					t.Fatalf("class = %d, want usage", ClassOf(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRef(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseRef(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRefNameAndString(t *testing.T) {
	t.Parallel()
	r, err := ParseRef("alpine:3")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Name(), "docker.io/library/alpine"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := r.String(), "docker.io/library/alpine:3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := r.WithTag("4").String(), "docker.io/library/alpine:4"; got != want {
		t.Errorf("WithTag = %q, want %q", got, want)
	}
}

// FuzzParseRef checks that parsing never panics and that a parsed reference
// re-parses to itself from its String form.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"alpine", "a/b:c", "localhost:5000/x@sha256:" + strings.Repeat("0", 64), "[::1]:1/a", "A/b", ":", "@", "a:b:c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		again, err := ParseRef(r.String())
		if err != nil {
			t.Fatalf("ParseRef(%q) ok but its String %q fails: %v", s, r.String(), err)
		}
		if again != r {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
		}
	})
}
