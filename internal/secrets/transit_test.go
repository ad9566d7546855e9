package secrets

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
)

func TestParseTransitRef(t *testing.T) {
	for ref, want := range map[string]TransitRef{
		"vault-transit://transit/dct":        {Mount: "transit", Name: "dct"},
		"vault-transit://team/transit/ci-01": {Mount: "team/transit", Name: "ci-01"},
	} {
		got, err := ParseTransitRef(ref)
		if err != nil || got != want || got.String() != ref {
			t.Errorf("%s: %+v %v", ref, got, err)
		}
	}
	for _, ref := range []string{"vault-transit://", "vault-transit://dct", "vault-transit://transit/", "vault-transit:///dct",
		"vault-transit://transit/../dct", "vault-transit://transit/dct#x", "vault://transit/dct"} {
		if _, err := ParseTransitRef(ref); err == nil || !strings.Contains(err.Error(), "vault-transit://<mount>/<key-name>") {
			t.Errorf("%s: error %v", ref, err)
		}
	}
}

// TestTransitKeySigns: against the real Vault, the public key of the latest
// version and a signature over SHA-256(msg) as raw r||s.
func TestTransitKeySigns(t *testing.T) {
	t.Parallel()
	v := realVault(t)
	n := name(t)
	if err := v.CreateTransitKey(n, "ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	if err := v.CreateTransitKey(n+"-rsa", "rsa-2048"); err != nil {
		t.Fatal(err)
	}
	vs := newTestVault(t, v, VaultAuth{Method: VaultToken, Token: readToken(t, v)}, &recorder{}, nil)
	ctx := context.Background()
	k, err := vs.TransitKey(ctx, "vault-transit://transit/"+n)
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != 1 {
		t.Errorf("version %d, want 1", k.Version)
	}
	block, _ := pem.Decode([]byte(k.PublicPEM))
	if block == nil {
		t.Fatalf("public key is not PEM: %q", k.PublicPEM)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"signed":"canonical"}`)
	sig, err := k.Sign(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(msg)
	if len(sig) != 64 || !ecdsa.Verify(pub.(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatalf("signature (%d bytes) does not verify as r||s over SHA-256", len(sig))
	}

	for ref, want := range map[string]string{
		"vault-transit://transit/" + n + "-rsa":  `type "rsa-2048"`,
		"vault-transit://transit/" + n + "-gone": "transit/keys/" + n + "-gone",
		"vault-transit://nomount/" + n:           "nomount/keys/" + n,
	} {
		if _, err := vs.TransitKey(ctx, ref); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", ref, err, want)
		}
	}
}
