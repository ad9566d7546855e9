package secrets

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseVaultRef(t *testing.T) {
	good := []struct {
		in   string
		want VaultRef
	}{
		{"vault://secret/ci/dct#key", VaultRef{Path: "secret/ci/dct", Field: "key"}},
		{"vault://secret/data/ci/dct#key", VaultRef{Path: "secret/data/ci/dct", Field: "key"}},
		{"vault:///secret/ci/dct/#pass_phrase", VaultRef{Path: "secret/ci/dct", Field: "pass_phrase"}},
		{"vault://secret/ci/dct?version=3#key", VaultRef{Path: "secret/ci/dct", Field: "key", Version: 3}},
		{"vault://secret/ci/dct#key?version=2", VaultRef{Path: "secret/ci/dct", Field: "key", Version: 2}},
		{"vault://kv1/ci/dct#ca.pem", VaultRef{Path: "kv1/ci/dct", Field: "ca.pem"}},
	}
	for _, c := range good {
		got, err := ParseVaultRef(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseVaultRef(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, err := ParseVaultRef(got.String()); err != nil || again != got {
			t.Errorf("%q: String() %q does not parse back: %+v, %v", c.in, got.String(), again, err)
		}
	}
	bad := map[string]string{
		"vault://secret/ci/dct":             "no field",
		"vault://secret/ci/dct#":            "no field",
		"vault://#key":                      "no path",
		"vault://secret/../dct#key":         "invalid path",
		"vault://secret//dct#key":           "invalid path",
		"vault://secret/ci/dct?version=0#k": "invalid version",
		"vault://secret/ci/dct?version=x#k": "invalid version",
		"vault://secret/ci/dct?v=1#k":       "only ?version=N",
		"vault://secret/ci/dct#a b":         "invalid field",
		"env://X":                           "not a vault:// reference",
	}
	for in, want := range bad {
		_, err := ParseVaultRef(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseVaultRef(%q) error = %v, want it to say %q", in, err, want)
		}
	}
}

func TestParseVaultSecrets(t *testing.T) {
	got, err := ParseVaultSecrets(`secret/ci/dct key | KEY ; secret/ci/dct passphrase | PASSPHRASE
	  kv1/ci/root key|root_key
	secret/ci/reg?version=2 password | REGISTRY_PASSWORD;;
	secret/ci/dct root_passphrase
	`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"KEY=vault://secret/ci/dct#key",
		"PASSPHRASE=vault://secret/ci/dct#passphrase",
		"ROOT_KEY=vault://kv1/ci/root#key",
		"REGISTRY_PASSWORD=vault://secret/ci/reg?version=2#password",
		"ROOT_PASSPHRASE=vault://secret/ci/dct#root_passphrase",
	}
	var have []string
	for _, s := range got {
		have = append(have, s.Name+"="+s.Ref.String())
	}
	if strings.Join(have, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
	for in, want := range map[string]string{
		"secret/ci/dct | KEY":                   "want",
		"secret/ci/dct key extra | KEY":         "want",
		"secret/ci/dct key | TOKEN":             "unknown name",
		"secret/ci/dct * | KEY":                 "plain field name",
		"secret/ci/dct key | KEY; s/x key|KEY":  "twice",
		"secret/ci/dct?version=x key | KEY":     "invalid version",
		"secret/../dct key | KEY":               "invalid path",
		"secret/ci/dct key | KEY | PASSPHRASE":  "unknown name",
		"secret/ci/dct pass#word | PASSPHRASE":  "plain field name",
		"secret/ci/dct key?version=2 | KEY":     "plain field name",
		"secret/ci/dct key | notary_auth; x y ": "want",
	} {
		_, err := ParseVaultSecrets(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseVaultSecrets(%q) error = %v, want it to say %q", in, err, want)
		}
	}
	if got, err := ParseVaultSecrets(" ;\n ; "); err != nil || len(got) != 0 {
		t.Errorf("blank input: %v, %v", got, err)
	}
}

// FuzzParseVaultSecrets: no panic; every entry it accepts is complete, has a
// known name, and formats back to an input that parses to the same entries.
func FuzzParseVaultSecrets(f *testing.F) {
	for _, seed := range []string{
		"secret/ci/dct key | KEY ; secret/ci/dct passphrase | PASSPHRASE",
		"secret/data/ci/dct key | KEY\nkv1/ci/x passphrase | passphrase\n",
		"secret/ci/dct?version=3 key | ROOT_KEY;",
		"secret/ci/dct key",
		"a b | NOTARY_AUTH ; c d | REGISTRY_PASSWORD ; e f | ROOT_PASSPHRASE",
		"secret/ci/dct * | KEY",
		"|||;;;\n\n",
		"secret/ci/dct key | KEY; secret/ci/dct key | KEY",
		"vault://x#y z | KEY",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseVaultSecrets(in)
		if err != nil {
			return
		}
		var lines []string
		seen := map[string]bool{}
		for _, s := range got {
			if s.Ref.Path == "" || s.Ref.Field == "" || !knownName(s.Name) || seen[s.Name] {
				t.Fatalf("%q: bad entry %+v", in, s)
			}
			seen[s.Name] = true
			path := s.Ref.Path
			if s.Ref.Version > 0 {
				path += "?version=" + strconv.Itoa(s.Ref.Version)
			}
			lines = append(lines, path+" "+s.Ref.Field+" | "+s.Name)
		}
		again, err := ParseVaultSecrets(strings.Join(lines, " ; "))
		if err != nil {
			t.Fatalf("%q: formatted form %q does not parse: %v", in, strings.Join(lines, " ; "), err)
		}
		if len(again) != len(got) {
			t.Fatalf("%q: %d entries, then %d", in, len(got), len(again))
		}
		for i := range got {
			if again[i] != got[i] {
				t.Fatalf("%q: entry %d: %+v, then %+v", in, i, got[i], again[i])
			}
		}
	})
}
