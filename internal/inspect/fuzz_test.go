package inspect

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzRepos builds two repositories from fuzzed strings; sep splits lists.
func fuzzRepos(name, tags, digest, signers, keys string) []Repository {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	r := Repository{Name: name, AdministrativeKeys: []Signer{{Name: AdminRoot, Keys: split(keys)}, {Name: AdminRepository, Keys: split(digest)}}}
	for _, tag := range split(tags) {
		r.SignedTags = append(r.SignedTags, SignedTag{Tag: tag, Digest: digest, Signers: split(signers)})
	}
	for _, s := range split(signers) {
		r.Signers = append(r.Signers, Signer{Name: s, Keys: split(keys)})
	}
	return []Repository{r, {Name: name + "2", Signers: r.Signers}}
}

var fuzzSeeds = [][5]string{
	{"signed-repo", "red,blue,green", "72656421", "alice,bob", "A,B"},
	{"reg/img:unsigned-tag", "", "", "", "rootID"},
	{"r<&>\u2028", "v10,v9,v9", "", "a,a", ""},
	{"\xff\xfe", "\t,\n", "\x00", "é,ß", "sha256:0123456789abcdef"},
}

func FuzzJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, name, tags, digest, signers, keys string) {
		repos := fuzzRepos(name, tags, digest, signers, keys)
		var a, b bytes.Buffer
		if err := JSON(&a, repos); err != nil {
			t.Fatal(err)
		}
		if err := JSON(&b, repos); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("not deterministic:\n%s\n%s", a.String(), b.String())
		}
		if !strings.HasSuffix(a.String(), "]\n") {
			t.Fatalf("missing trailing newline: %q", a.String())
		}
		var back []jsonRepo
		if err := json.Unmarshal(a.Bytes(), &back); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, a.String())
		}
		if len(back) != len(repos) {
			t.Fatalf("got %d repositories back, want %d", len(back), len(repos))
		}
		if utf8.ValidString(name) && back[0].Name != name {
			t.Errorf("name %q came back as %q", name, back[0].Name)
		}
		if len(back[0].SignedTags) != len(repos[0].SignedTags) {
			t.Errorf("got %d tags back, want %d", len(back[0].SignedTags), len(repos[0].SignedTags))
		}
		for _, tag := range back[0].SignedTags {
			if len(tag.Signers) == 0 {
				t.Errorf("tag %q has no signers; docker shows %q", tag.SignedTag, RepoAdmin)
			}
		}
		if back[1].SignedTags == nil || back[1].AdministrativeKeys == nil {
			t.Errorf("empty lists must print as [], got %s", a.String())
		}
	})
}

func FuzzPretty(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	f.Fuzz(func(t *testing.T, name, tags, digest, signers, keys string) {
		repos := fuzzRepos(name, tags, digest, signers, keys)
		var a, b bytes.Buffer
		if err := Pretty(&a, repos); err != nil {
			t.Fatal(err)
		}
		if err := Pretty(&b, repos); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("not deterministic:\n%s\n%s", a.String(), b.String())
		}
		out := a.String()
		for _, want := range []string{"\nAdministrative keys for " + name + "\n\n", "  Root Key:\t", "  Repository Key:\t", "\nNo signatures for " + name + "2\n\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if !strings.HasSuffix(out, "\n") {
			t.Errorf("output does not end with a newline: %q", out)
		}
	})
}
