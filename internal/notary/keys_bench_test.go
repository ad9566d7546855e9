package notary

import (
	"crypto/rand"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
)

// BenchmarkParseKey is the key decrypt of every run: docker's encrypted
// PKCS#8 delegation key (PBKDF2 + AES) and an unencrypted one.
func BenchmarkParseKey(b *testing.B) {
	ec, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, pass string }{{"docker-encrypted-ecdsa", "bench-passphrase"}, {"unencrypted-ecdsa", ""}} {
		m := KeyMaterial{PEM: core.Secret(pkcs8(b, ec, "ci", c.pass)), Passphrase: core.Secret(c.pass), Origin: "bench"}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := ParseKey(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
