package notary

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
)

func pkcs8(t testing.TB, k data.PrivateKey, role, pass string) []byte {
	t.Helper()
	b, err := utils.ConvertPrivateKeyToPKCS8(k, data.RoleName(role), "", pass)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	ec, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed, err := utils.GenerateED25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	plainEC := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	pubDER, _ := x509.MarshalPKIXPublicKey(&raw.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	cases := []struct {
		name     string
		pem      []byte
		pass     string
		wantID   string
		wantRole string
		wantErr  string
		wrongPw  bool
	}{
		{name: "docker encrypted delegation key", pem: pkcs8(t, ec, "ci-bot", "s3cret-pass"), pass: "s3cret-pass", wantID: ec.ID(), wantRole: "ci-bot"},
		{name: "unencrypted pkcs8", pem: pkcs8(t, ed, "", ""), wantID: ed.ID()},
		{name: "unencrypted pkcs8 ignores passphrase", pem: pkcs8(t, ec, "targets", ""), pass: "unused", wantID: ec.ID(), wantRole: "targets"},
		{name: "plain EC key", pem: plainEC},
		{name: "wrong passphrase", pem: pkcs8(t, ec, "ci-bot", "s3cret-pass"), pass: "not-it", wantErr: "wrong passphrase", wrongPw: true},
		{name: "missing passphrase", pem: pkcs8(t, ec, "ci-bot", "s3cret-pass"), wantErr: "encrypted and no passphrase"},
		{name: "public key", pem: pub, wantErr: "public key, not a private key"},
		{name: "garbage", pem: []byte("not a key"), wantErr: "no PEM block"},
		{name: "unknown PEM type", pem: pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte{1}}), wantErr: "unsupported PEM type"},
		{name: "corrupt body", pem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3}}), wantErr: "malformed or unsupported"},
		{name: "two keys in one value", pem: append(pkcs8(t, ec, "", ""), pkcs8(t, ed, "", "")...), wantErr: "more than one private key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKey(KeyMaterial{PEM: tc.pem, Passphrase: core.Secret(tc.pass), Origin: "env://KEY"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "env://KEY") {
					t.Errorf("error does not name the key's origin: %v", err)
				}
				if core.ClassOf(err) != core.ClassKey {
					t.Errorf("class = %d, want key", core.ClassOf(err))
				}
				if errors.Is(err, ErrWrongPassphrase) != tc.wrongPw {
					t.Errorf("errors.Is(ErrWrongPassphrase) = %v", !tc.wrongPw)
				}
				if tc.pass != "" && strings.Contains(err.Error(), tc.pass) {
					t.Errorf("error shows the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID != "" && k.ID() != tc.wantID {
				t.Errorf("ID = %s, want %s", k.ID(), tc.wantID)
			}
			if k.Role() != tc.wantRole {
				t.Errorf("Role = %q, want %q", k.Role(), tc.wantRole)
			}
			if s := k.String(); strings.Contains(s, "PRIVATE") || !strings.Contains(s, "redacted") {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

// FuzzParseKey: arbitrary input never panics and a failure never echoes
// the passphrase.
func FuzzParseKey(f *testing.F) {
	ec, _ := utils.GenerateECDSAKey(rand.Reader)
	f.Add(pkcs8(f, ec, "ci", "pw-123456"), "pw-123456")
	f.Add(pkcs8(f, ec, "", ""), "")
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), "x")
	f.Fuzz(func(t *testing.T, b []byte, pass string) {
		_, err := ParseKey(KeyMaterial{PEM: b, Passphrase: core.Secret(pass), Origin: "fuzz"})
		if err != nil && len(pass) >= 6 && strings.Contains(err.Error(), pass) && !strings.Contains("loading key fuzz: ", pass) {
			t.Fatalf("error contains passphrase: %v", err)
		}
	})
}

// TestKeyringSharedAcrossRepositories: repositories open side by side and
// each builds its crypto service from the same keys. Under -race this
// failed while notary computed a key's ID lazily on first use.
func TestKeyringSharedAcrossRepositories(t *testing.T) {
	t.Parallel()
	ec, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := NewKeyring(KeyMaterial{PEM: pkcs8(t, ec, "ci", "pw"), Passphrase: core.Secret("pw"), Origin: "env://KEY"})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := kr.cryptoService(data.GUN(strings.Repeat("r", i+1)))
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
