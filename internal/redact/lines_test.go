package redact

import (
	"slices"
	"testing"
)

func TestParts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		v    string
		want []string
	}{
		{name: "one line", v: "hunter22", want: []string{"hunter22"}},
		{name: "short line left out", v: "abc", want: nil},
		{name: "PEM: body lines, not armor or headers", v: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nrole: ci\n\nMIIBvTBX\nBgkqhkiG\n-----END ENCRYPTED PRIVATE KEY-----\n",
			want: []string{"MIIBvTBX", "BgkqhkiG"}},
		{name: "not armored: a line with a colon is secret", v: "user: pass\nsecond-line", want: []string{"user: pass", "second-line"}},
		{name: "CRLF trimmed", v: "line-one\r\nline-two\r\n", want: []string{"line-one", "line-two"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Parts(tc.v); !slices.Equal(got, tc.want) {
				t.Errorf("Parts(%q) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}
