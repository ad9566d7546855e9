package secrets

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// keyPEMs returns a private key PEM and its public key PEM.
func keyPEMs(t *testing.T) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"role": "ci"}, Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

// wrap76 is base64 as `base64` without -w0 prints it.
func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return b.String() + s + "\n"
}

// Every shape a CI variable gives a key in resolves to the same PEM; every
// shape that is no key fails with a message naming the reference and the
// forms tried, never the value, and the value is masked.
func TestResolvePEMShapes(t *testing.T) {
	t.Parallel()
	keyPEM, pubPEM := keyPEMs(t)
	crlf := strings.ReplaceAll(keyPEM, "\n", "\r\n")
	literal := strings.ReplaceAll(strings.TrimSuffix(keyPEM, "\n"), "\n", `\n`)
	b64 := base64.StdEncoding.EncodeToString([]byte(keyPEM))
	b64CRLF := base64.StdEncoding.EncodeToString([]byte(crlf))
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyFile, b64File, junkFile := write("ci.key", keyPEM), write("ci.key.b64", wrap76(b64)), write("junk", "not a key at all")
	vars := map[string]string{
		"KEY_PEM": keyPEM, "KEY_CRLF": crlf, "KEY_LITERAL": literal, "KEY_B64": b64, "KEY_B64_WRAPPED": wrap76(b64),
		"KEY_B64_CRLF": b64CRLF, "KEY_FILE_VAR": keyFile, "JUNK": "sOmEjUnKvAlUe-0123456789", "B64_JUNK": "bm90IGEgcGVt",
	}
	cases := []struct {
		name       string
		ref        string
		wantOrigin string
		wantErr    string // "" for success
		wantClass  core.Class
		secret     string // must not appear in the error and must be masked
	}{
		{"inline PEM", keyPEM, "inline PEM", "", 0, ""},
		{"inline PEM with CRLF", crlf, "inline PEM", "", 0, ""},
		{"inline PEM with literal \\n", literal, "inline PEM", "", 0, ""},
		{"inline base64", b64, "inline base64 PEM", "", 0, ""},
		{"inline base64 wrapped", wrap76(b64), "inline base64 PEM", "", 0, ""},
		{"env PEM", "env://KEY_PEM", "env://KEY_PEM", "", 0, ""},
		{"env CRLF", "env://KEY_CRLF", "env://KEY_CRLF", "", 0, ""},
		{"env literal \\n", "env://KEY_LITERAL", "env://KEY_LITERAL", "", 0, ""},
		{"env base64 detected", "env://KEY_B64", "env://KEY_B64", "", 0, ""},
		{"env base64 wrapped", "env://KEY_B64_WRAPPED", "env://KEY_B64_WRAPPED", "", 0, ""},
		{"env base64 of a CRLF PEM", "env://KEY_B64_CRLF", "env://KEY_B64_CRLF", "", 0, ""},
		{"base64:// named", "base64://KEY_B64", "base64://KEY_B64", "", 0, ""},
		{"base64:// wrapped", "base64://KEY_B64_WRAPPED", "base64://KEY_B64_WRAPPED", "", 0, ""},
		{"file:// PEM", "file://" + keyFile, "file://" + keyFile, "", 0, ""},
		{"file:// of a GitLab File variable's path", "file://" + vars["KEY_FILE_VAR"], "file://" + keyFile, "", 0, ""},
		{"file:// base64", "file://" + b64File, "file://" + b64File, "", 0, ""},
		{"bare path", keyFile, "file://" + keyFile, "", 0, ""},
		{"bare path to base64", b64File, "file://" + b64File, "", 0, ""},

		{"env holds a path (GitLab File variable)", "env://KEY_FILE_VAR", "", "resolving env://KEY_FILE_VAR: the variable holds the path of a file, not a PEM (a GitLab File-type variable?): pass file://$KEY_FILE_VAR", core.ClassKey, ""},
		{"env holds junk", "env://JUNK", "", "resolving env://JUNK: no PEM found: tried PEM (-----BEGIN ..., with LF, CRLF or literal \\n line breaks) and base64 of a PEM", core.ClassKey, vars["JUNK"]},
		{"env holds base64 of no PEM", "env://B64_JUNK", "", "resolving env://B64_JUNK: no PEM found: tried PEM", core.ClassKey, vars["B64_JUNK"]},
		{"base64:// holds a raw PEM", "base64://KEY_PEM", "", "resolving base64://KEY_PEM: the variable is not base64 of a PEM", core.ClassKey, ""},
		{"base64:// holds junk", "base64://JUNK", "", "resolving base64://JUNK: the variable is not base64 of a PEM", core.ClassKey, vars["JUNK"]},
		{"base64:// unset", "base64://NOPE", "", "resolving base64://NOPE: environment variable NOPE is empty or unset", core.ClassSecrets, ""},
		{"env unset", "env://NOPE", "", "resolving env://NOPE: environment variable NOPE is empty or unset", core.ClassSecrets, ""},
		{"file holds junk", "file://" + junkFile, "", "resolving file://" + junkFile + ": no PEM found: tried PEM", core.ClassKey, "not a key at all"},
		{"bare junk", "sOmEjUnKvAlUe-0123456789", "", "--key: not a PEM and not a readable file, nor base64 of a PEM (open: no such file or directory); the value is not shown", core.ClassSecrets, "sOmEjUnKvAlUe-0123456789"},
		{"bare base64 of no PEM", "bm90IGEgcGVtIGF0IGFsbA==", "", "--key: not a PEM and not a readable file, nor base64 of a PEM", core.ClassSecrets, "bm90IGEgcGVtIGF0IGFsbA=="},
		{"missing file", "file://" + filepath.Join(dir, "nope"), "", "no such file or directory", core.ClassSecrets, ""},
		{"public key is fine for the resolver", pubPEM, "inline PEM", "", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := &recorder{}
			r := &Resolver{Getenv: func(k string) string { return vars[k] }, Masker: m}
			got, origin, err := r.ResolvePEM(context.Background(), "--key", c.ref, PrivatePEM)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				if cl := core.ClassOf(err); cl != c.wantClass {
					t.Errorf("class %d, want %d", cl, c.wantClass)
				}
				if c.secret != "" {
					if strings.Contains(err.Error(), c.secret) {
						t.Errorf("error shows the value: %v", err)
					}
					if !m.has(c.secret) {
						t.Errorf("value %q not masked", c.secret)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if origin != c.wantOrigin {
				t.Errorf("origin %q, want %q", origin, c.wantOrigin)
			}
			want := keyPEM
			if c.ref == pubPEM {
				want = pubPEM
			}
			if string(got) != want {
				t.Errorf("resolved\n%q\nwant\n%q", got, want)
			}
			if !m.has(string(got)) {
				t.Error("the PEM used is not masked")
			}
			for _, line := range strings.Split(strings.TrimSpace(string(got)), "\n") {
				header := strings.Contains(line, ": ")
				switch {
				case line == "" || strings.HasPrefix(line, "-----"):
				case header && m.has(line):
					t.Errorf("PEM header %q masked: it names the signer, it is no secret", line)
				case !header && !m.has(line):
					t.Errorf("PEM line %q not masked", line)
				}
			}
		})
	}
}

// Public material (a signer's public key, a CA) is not masked: GitHub would
// announce it as a secret. A private key given there is masked all the same.
func TestResolvePEMPublicNotMasked(t *testing.T) {
	t.Parallel()
	keyPEM, pubPEM := keyPEMs(t)
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "ci.pub")
	if err := os.WriteFile(pubFile, []byte(pubPEM), 0o644); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PUB": pubPEM, "PUB_B64": base64.StdEncoding.EncodeToString([]byte(pubPEM)), "PRIV": keyPEM}
	cases := []struct {
		name       string
		ref        string
		want       string
		wantMasked bool
	}{
		{"inline", pubPEM, pubPEM, false},
		{"env", "env://PUB", pubPEM, false},
		{"base64 env", "env://PUB_B64", pubPEM, false},
		{"base64://", "base64://PUB_B64", pubPEM, false},
		{"file://", "file://" + pubFile, pubPEM, false},
		{"path", pubFile, pubPEM, false},
		{"a private key given as public", "env://PRIV", keyPEM, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := &recorder{}
			r := &Resolver{Getenv: func(k string) string { return vars[k] }, Masker: m}
			got, _, err := r.ResolvePEM(context.Background(), "--public-key", c.ref, PublicPEM)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("resolved %q, want %q", got, c.want)
			}
			if masked := len(m.got) > 0; masked != c.wantMasked {
				t.Errorf("masked %q, want masked=%v", m.got, c.wantMasked)
			}
		})
	}
}

// A private key inside what a public PEM flag reads (a combined cert and
// key file given as base64 to --vault-client-cert) is masked in the form
// it was given, not only once decoded.
func TestResolvePEMPublicHoldingPrivateKey(t *testing.T) {
	t.Parallel()
	combined := "-----BEGIN CERTIFICATE-----\r\nMIIBcert\r\n-----END CERTIFICATE-----\r\n-----BEGIN PRIVATE KEY-----\r\nMIIBkeymaterial\r\n-----END PRIVATE KEY-----\r\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(combined))
	var m maskList
	r := &Resolver{Getenv: func(k string) string { return map[string]string{"CERT_B64": b64}[k] }, Masker: &m}
	if _, _, err := r.ResolvePEM(context.Background(), "--vault-client-cert", "base64://CERT_B64", PublicPEM); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m, b64) {
		t.Errorf("the base64 value holding a private key was not masked (masked %d values)", len(m))
	}
}
