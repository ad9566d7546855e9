package secrets

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

const testPEM = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhb\nxyzLINETWOxyzLINETWOxyz\n-----END ENCRYPTED PRIVATE KEY-----\n"

// A bare value that is neither PEM nor a readable file may be the secret
// itself (a base64 PEM in SIGN_STEP_KEY): the error names the flag, never
// the value, and the value is masked.
func TestResolveBareValueNeverEchoed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ci.key")
	if err := os.WriteFile(keyFile, []byte(testPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(testPEM))
	cases := []struct {
		name       string
		ref        string
		want       string // value; "" for an error
		wantOrigin string
		wantErr    string
	}{
		{"base64 PEM", b64, "", "", "--key (or SIGN_STEP_KEY): not a PEM and not a readable file (open: no such file or directory); the value is not shown"},
		{"wrapped base64 PEM", b64[:60] + "\n" + b64[60:], "", "", "--key (or SIGN_STEP_KEY): not a PEM and not a readable file"},
		{"key body without armor", "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhb", "", "", "not a PEM and not a readable file"},
		{"directory", dir, "", "", "not a PEM and not a readable file (read: is a directory)"},
		{"path that reads", keyFile, testPEM, "file://" + keyFile, ""},
		{"inline PEM", testPEM, testPEM, "inline PEM", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := &recorder{}
			r := &Resolver{Getenv: func(string) string { return "" }, Masker: m}
			got, origin, err := r.ResolveFlag(context.Background(), "--key (or SIGN_STEP_KEY)", c.ref, KeyOrPath)
			if c.wantErr == "" {
				if err != nil || string(got) != c.want || origin != c.wantOrigin {
					t.Fatalf("= %q, %q, %v; want %q from %q", string(got), origin, err, c.want, c.wantOrigin)
				}
				if !m.has(c.want) {
					t.Error("value read not masked")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
			if core.ClassOf(err) != core.ClassSecrets {
				t.Errorf("class %d, want %d", core.ClassOf(err), core.ClassSecrets)
			}
			if strings.Contains(origin, c.ref) {
				t.Errorf("origin %q holds the value", origin)
			}
			for _, line := range strings.Split(c.ref, "\n") {
				for i := 0; i+8 <= len(line); i += 4 {
					if strings.Contains(err.Error(), line[i:i+8]) {
						t.Fatalf("error %q holds part of the value (%q)", err, line[i:i+8])
					}
				}
				if !m.has(strings.TrimSpace(line)) {
					t.Errorf("line %q of the value not masked", line)
				}
			}
		})
	}
}

// Passphrases and passwords read from a file or a variable lose exactly one
// line ending; inline values and keys are taken as given.
func TestResolveLiteralLineEnding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(content string) string {
		f, err := os.CreateTemp(dir, "p")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return "file://" + f.Name()
	}
	env := map[string]string{"PASS_LF": "env-pass\n", "PASS_PLAIN": "env-pass"}
	cases := []struct {
		name string
		ref  string
		kind Kind
		want string
	}{
		{"file with newline", file("pass-word\n"), Literal, "pass-word"},
		{"file with CRLF", file("pass-word\r\n"), Literal, "pass-word"},
		{"file with two newlines", file("pass-word\n\n"), Literal, "pass-word\n"},
		{"file with trailing space", file("pass-word \n"), Literal, "pass-word "},
		{"file without newline", file("pass-word"), Literal, "pass-word"},
		{"variable with newline", "env://PASS_LF", Literal, "env-pass"},
		{"variable without", "env://PASS_PLAIN", Literal, "env-pass"},
		{"inline value kept", "inline-pass\n", Literal, "inline-pass\n"},
		{"key file kept", file(testPEM), KeyOrPath, testPEM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := &recorder{}
			r := &Resolver{Getenv: func(k string) string { return env[k] }, Masker: m}
			got, _, err := r.Resolve(context.Background(), c.ref, c.kind)
			if err != nil || string(got) != c.want {
				t.Fatalf("Resolve(%q) = %q, %v; want %q", c.ref, string(got), err, c.want)
			}
			if !m.has(c.want) && !m.has(strings.TrimSpace(c.want)) {
				t.Errorf("%q not masked (masked %q)", c.want, m.got)
			}
		})
	}
}

// Only the field a reference reads is masked: a registry: or username:
// field next to it would otherwise turn references and artifacts into ***.
func TestVaultFieldMasksOnlyItsField(t *testing.T) {
	t.Parallel()
	data := map[string]any{"key": testPEM, "passphrase": "pass-0123456789", "registry": "registry.example.com", "username": "ci-bot", "port": 5000}
	cases := []struct {
		field      string
		wantMasked []string
		wantErr    string
	}{
		{"key", []string{testPEM, "xyzLINETWOxyzLINETWOxyz"}, ""},
		{"passphrase", []string{"pass-0123456789"}, ""},
		{"missing", nil, `has no field "missing" (its fields: key, passphrase, port, registry, username)`},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			t.Parallel()
			m := &recorder{}
			v := &Vault{opts: VaultOptions{Masker: m}}
			ref, err := ParseVaultRef("vault://secret/ci/dct#" + c.field)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.field(ref, "secret/data/ci/dct", data)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				if len(m.got) != 0 {
					t.Errorf("masked %q for a missing field", m.got)
				}
				return
			}
			if err != nil || string(got) != data[c.field] {
				t.Fatalf("= %q, %v", string(got), err)
			}
			for _, s := range c.wantMasked {
				if !m.has(s) {
					t.Errorf("%q not masked", s)
				}
			}
			for _, s := range []string{"registry.example.com", "ci-bot", "5000"} {
				if m.has(s) {
					t.Errorf("%q masked: only the field read may be", s)
				}
			}
		})
	}
}

// A Vault address with credentials is refused without printing them, also
// when it does not parse.
func TestNewVaultRefusesUserinfo(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"https://ci:S3cretVaultPw@vault:8200", "https://ci:S3cretVaultPw@vault:bad-port", "https://S3cretVaultPw@vault"} {
		_, err := NewVault(VaultOptions{Addr: addr, Auth: VaultAuth{Token: "t"}})
		if err == nil || core.ClassOf(err) != core.ClassUsage || !strings.Contains(err.Error(), "with credentials (user:password@) is refused") {
			t.Errorf("%s: %v, want a usage error refusing credentials", addr, err)
		} else if strings.Contains(err.Error(), "S3cretVaultPw") {
			t.Errorf("%s: error shows the password: %v", addr, err)
		}
	}
}

// Plain http to Vault would carry the login and the keys in clear: refused
// unless asked for by name.
func TestVaultPlainHTTPNeedsOptIn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"https://vault.example.com:8200", false, true},
		{"http://vault.example.com:8200", false, false},
		{"http://127.0.0.1:8200", false, false},
		{"http://127.0.0.1:8200", true, true},
	} {
		_, err := NewVault(VaultOptions{Addr: c.addr, AllowHTTP: c.allow, Auth: VaultAuth{Method: VaultToken, Token: "t-123456"}})
		if (err == nil) != c.ok {
			t.Errorf("%s allow=%v: err %v, want ok=%v", c.addr, c.allow, err, c.ok)
		}
		if err != nil && (core.ClassOf(err) != core.ClassUsage || !strings.Contains(err.Error(), "--vault-allow-http")) {
			t.Errorf("%s: %v: want a usage error naming --vault-allow-http", c.addr, err)
		}
	}
}
