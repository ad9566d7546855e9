package inspect

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Fixtures mirroring docker's notary test fakes (see testdata/README.md).
var (
	dockerAdmin   = []Signer{{Name: AdminRepository, Keys: []string{"targetsID"}}, {Name: AdminRoot, Keys: []string{"rootID"}}}
	dockerSigners = []Signer{{Name: "alice", Keys: []string{"A"}}, {Name: "bob", Keys: []string{"B"}}}
	green         = SignedTag{Tag: "green", Digest: hexOf("green-digest")}
	// Given out of order on purpose: the formatters sort tags.
	dockerTags = []SignedTag{
		{Tag: "red", Digest: hexOf("red-digest"), Signers: []string{"alice", "bob"}},
		green,
		{Tag: "blue", Digest: hexOf("blue-digest"), Signers: []string{"alice"}},
	}
	fullRepo     = Repository{Name: "signed-repo", SignedTags: dockerTags, Signers: dockerSigners, AdministrativeKeys: dockerAdmin}
	noSignerRepo = Repository{Name: "signed-repo", SignedTags: []SignedTag{green}, AdministrativeKeys: dockerAdmin}
	oneTagRepo   = Repository{Name: "signed-repo:green", SignedTags: []SignedTag{green}, AdministrativeKeys: dockerAdmin}
	emptyRepo    = Repository{Name: "reg/img:unsigned-tag", AdministrativeKeys: dockerAdmin}
	unsignedTag  = Repository{Name: "signed-repo:unsigned", Signers: dockerSigners, AdministrativeKeys: dockerAdmin}
	uninitRepo   = Repository{Name: "reg/unsigned-img", Err: errors.New("no signatures or cannot access reg/unsigned-img")}
	offlineRepo  = Repository{Name: "nonexistent-reg-name.io/image:tag", Err: errors.New("no signatures or cannot access nonexistent-reg-name.io/image:tag")}
)

func hexOf(s string) string { return hex.EncodeToString([]byte(s)) }

func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type formatCase struct {
	name    string
	repos   []Repository
	want    func(t *testing.T) string
	wantErr string
}

func file(name string) func(*testing.T) string {
	return func(t *testing.T) string { return golden(t, name) }
}

func text(s string) func(*testing.T) string { return func(*testing.T) string { return s } }

func runFormat(t *testing.T, format func(*bytes.Buffer, []Repository) error, cases []formatCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := format(&out, tc.repos)
			if got, want := out.String(), tc.want(t); got != want {
				t.Errorf("stdout mismatch\n got: %q\nwant: %q", got, want)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	runFormat(t, func(b *bytes.Buffer, r []Repository) error { return JSON(b, r) }, []formatCase{
		{name: "empty repo", repos: []Repository{emptyRepo}, want: file("json-empty-repo.golden")},
		{name: "repo admin only", repos: []Repository{noSignerRepo}, want: file("json-full-repo-no-signers.golden")},
		{name: "one tag", repos: []Repository{oneTagRepo}, want: file("json-one-tag-no-signers.golden")},
		{name: "several tags and signers", repos: []Repository{fullRepo}, want: file("json-full-repo-with-signers.golden")},
		{name: "several repos", repos: []Repository{fullRepo, fullRepo}, want: file("json-multiple-repos-with-signers.golden")},
		{name: "unsigned tag with signers", repos: []Repository{unsignedTag}, want: file("json-unsigned-tag-with-signers.golden")},
		{
			name: "uninitialized", repos: []Repository{uninitRepo},
			want: file("json-uninitialized.golden"), wantErr: "no signatures or cannot access reg/unsigned-img",
		},
		{
			// docker prints what it could read and joins the errors, one per line.
			name: "some refs fail", repos: []Repository{uninitRepo, fullRepo, offlineRepo},
			want: file("json-full-repo-with-signers.golden"),
			wantErr: "no signatures or cannot access reg/unsigned-img\n" +
				"no signatures or cannot access nonexistent-reg-name.io/image:tag",
		},
		{name: "no refs", want: text("[]\n")},
		{
			// HTML-escaped strings (json.Marshal), key-less roles without
			// "Keys", empty key ID as {}, natural tag order, signer names
			// descending, key and tag-signer order kept.
			name: "escaping, omitempty and ordering",
			repos: []Repository{{
				Name: "r<&>",
				SignedTags: []SignedTag{
					{Tag: "v10", Digest: "aa", Signers: []string{"z", "a"}},
					{Tag: "v9", Digest: "bb"},
				},
				Signers: []Signer{{Name: "a"}, {Name: "b", Keys: []string{"k2", "", "k1"}}},
			}},
			want: text(`[
    {
        "Name": "r\u003c\u0026\u003e",
        "SignedTags": [
            {
                "SignedTag": "v9",
                "Digest": "bb",
                "Signers": [
                    "Repo Admin"
                ]
            },
            {
                "SignedTag": "v10",
                "Digest": "aa",
                "Signers": [
                    "z",
                    "a"
                ]
            }
        ],
        "Signers": [
            {
                "Name": "b",
                "Keys": [
                    {
                        "ID": "k2"
                    },
                    {},
                    {
                        "ID": "k1"
                    }
                ]
            },
            {
                "Name": "a"
            }
        ],
        "AdministrativeKeys": []
    }
]
`),
		},
	})
}

func TestPretty(t *testing.T) {
	t.Parallel()
	const emptyPretty = "\nNo signatures for reg/img:unsigned-tag\n\n" +
		"\nAdministrative keys for reg/img:unsigned-tag\n\n" +
		"  Repository Key:\ttargetsID\n  Root Key:\trootID\n"
	full := func(t *testing.T) string { return golden(t, "pretty-full-repo-with-signers.golden") }
	runFormat(t, func(b *bytes.Buffer, r []Repository) error { return Pretty(b, r) }, []formatCase{
		{name: "empty repo", repos: []Repository{emptyRepo}, want: text(emptyPretty)},
		{name: "repo admin only", repos: []Repository{noSignerRepo}, want: file("pretty-full-repo-no-signers.golden")},
		{name: "one tag", repos: []Repository{oneTagRepo}, want: file("pretty-one-tag-no-signers.golden")},
		{name: "several tags and signers", repos: []Repository{fullRepo}, want: full},
		{name: "unsigned tag with signers", repos: []Repository{unsignedTag}, want: file("pretty-unsigned-tag-with-signers.golden")},
		{
			name: "several repos", repos: []Repository{fullRepo, emptyRepo},
			want: func(t *testing.T) string { return full(t) + "\n\n" + emptyPretty },
		},
		{
			name: "uninitialized", repos: []Repository{uninitRepo},
			want: text(""), wantErr: "no signatures or cannot access reg/unsigned-img",
		},
		{
			// docker stops at the first failing ref, after the separator.
			name: "stops at first failure", repos: []Repository{fullRepo, uninitRepo, emptyRepo},
			want:    func(t *testing.T) string { return full(t) + "\n\n" },
			wantErr: "no signatures or cannot access reg/unsigned-img",
		},
		{
			name: "alignment, truncation and natural order",
			repos: []Repository{{
				Name: "example.com/app",
				SignedTags: []SignedTag{
					{Tag: "v10", Digest: "aa", Signers: []string{"zed", "amy"}},
					{Tag: "a-rather-long-tag-name", Digest: "bb"},
					{Tag: "v9", Digest: "cc", Signers: []string{"amy"}},
				},
				Signers: []Signer{
					{Name: "ci10", Keys: []string{"ffffffffffffffffff", "0123456789abcdef"}},
					{Name: "ci9", Keys: []string{"sha256:abcdef0123456789"}},
				},
				AdministrativeKeys: []Signer{{Name: AdminRoot, Keys: []string{"r2", "r1"}}, {Name: AdminRepository, Keys: []string{"t"}}},
			}},
			want: text("\nSignatures for example.com/app\n\n" +
				"SIGNED TAG               DIGEST    SIGNERS\n" +
				"a-rather-long-tag-name   bb        (Repo Admin)\n" +
				"v9                       cc        amy\n" +
				"v10                      aa        amy, zed\n" +
				"\nList of signers and their keys for example.com/app\n\n" +
				"SIGNER    KEYS\n" +
				"ci9       abcdef012345\n" +
				"ci10      0123456789ab, ffffffffffff\n" +
				"\nAdministrative keys for example.com/app\n\n" +
				"  Repository Key:\tt\n  Root Key:\tr1, r2\n"),
		},
	})
}

func TestFormattersDoNotModifyInput(t *testing.T) {
	t.Parallel()
	r := Repository{
		Name:       "x",
		SignedTags: []SignedTag{{Tag: "b", Signers: []string{"z", "a"}}, {Tag: "a"}},
		Signers:    []Signer{{Name: "a", Keys: []string{"2", "1"}}, {Name: "b"}},
	}
	var b bytes.Buffer
	if err := JSON(&b, []Repository{r}); err != nil {
		t.Fatal(err)
	}
	if err := Pretty(&b, []Repository{r}); err != nil {
		t.Fatal(err)
	}
	if r.SignedTags[0].Tag != "b" || r.SignedTags[0].Signers[0] != "z" || r.Signers[0].Keys[0] != "2" || r.Signers[0].Name != "a" {
		t.Errorf("input modified: %+v", r)
	}
}

func TestNaturalLess(t *testing.T) {
	t.Parallel()
	// Each list is in strictly increasing natural order.
	for _, seq := range [][]string{
		{"", "0", "00", "1", "01", "2", "10", "a"},
		{"v1", "v1.2", "v1.10", "v2", "v10", "va"},
		{"ab1", "abc", "abc1"},
		{"1.0.0", "1.0.0-rc1", "1.0.1", "1.1"},
		{"latest", "stable"},
		{"x9y", "x09y", "x10"},
	} {
		for i := range seq {
			for j := range seq {
				if got, want := naturalLess(seq[i], seq[j]), i < j; got != want {
					t.Errorf("naturalLess(%q, %q) = %v, want %v", seq[i], seq[j], got, want)
				}
			}
		}
	}
}

func TestTruncateID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                          "",
		"abc":                       "abc",
		"0123456789ab":              "0123456789ab",
		"0123456789abcdef":          "0123456789ab",
		"sha256:0123456789abcdef00": "0123456789ab",
	} {
		if got := truncateID(in); got != want {
			t.Errorf("truncateID(%q) = %q, want %q", in, got, want)
		}
	}
}
