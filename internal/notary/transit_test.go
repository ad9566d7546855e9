package notary

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
)

// localSigner stands in for Transit: raw r||s over SHA-256(msg).
func localSigner(t *testing.T, curve elliptic.Curve) (*ecdsa.PrivateKey, []byte, RemoteSigner) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	return priv, pemBytes, func(_ context.Context, msg []byte) ([]byte, error) {
		d := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		if err != nil {
			return nil, err
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...), nil
	}
}

func TestRemoteKeySignsWhatNotaryVerifies(t *testing.T) {
	priv, pubPEM, signer := localSigner(t, elliptic.P256())
	k, err := NewRemoteKey(context.Background(), RemoteKey{PublicPEM: pubPEM, Sign: signer, Origin: "vault-transit://transit/t"})
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	want := data.NewECDSAPublicKey(der)
	if k.ID() != want.ID() {
		t.Fatalf("ID %s, want the public key's %s", k.ID(), want.ID())
	}
	msg := []byte(`{"_type":"Targets","version":2}`)
	sig, err := k.priv.Sign(rand.Reader, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := signed.Verifiers[data.ECDSASignature].Verify(want, sig, msg); err != nil {
		t.Fatalf("notary's ECDSA verifier rejects the signature: %v", err)
	}
	if k.priv.Private() != nil || k.priv.SignatureAlgorithm() != data.ECDSASignature || k.priv.Algorithm() != data.ECDSAKey {
		t.Error("remote key: want no private bytes, ecdsa key and signature algorithm")
	}

	// The key goes into notary's crypto service as a delegation key.
	cs, err := (&Keyring{keys: []*Key{k}}).cryptoService("example.com/app")
	if err != nil {
		t.Fatal(err)
	}
	got, role, err := cs.GetPrivateKey(k.ID())
	if err != nil || got != k.priv || role != "delegation" {
		t.Fatalf("crypto service: %v %q %v", got, role, err)
	}
	if ids := cs.ListKeys("delegation"); len(ids) != 1 || ids[0] != k.ID() {
		t.Fatalf("ListKeys(delegation) = %v", ids)
	}
}

func TestRemoteKeyRejects(t *testing.T) {
	_, pubPEM, good := localSigner(t, elliptic.P256())
	ctx := context.Background()
	for label, c := range map[string]struct {
		pem    []byte
		signer RemoteSigner
		want   string // at NewRemoteKey, else at Sign
		atNew  bool
	}{
		"P-384":           {pem: func() []byte { _, p, _ := localSigner(t, elliptic.P384()); return p }(), signer: good, want: "ECDSA P-256", atNew: true},
		"not PEM":         {pem: []byte("nope"), signer: good, want: "PUBLIC KEY", atNew: true},
		"short signature": {pem: pubPEM, signer: func(context.Context, []byte) ([]byte, error) { return make([]byte, 70), nil }, want: "70 bytes"},
		"wrong signature": {pem: pubPEM, signer: func(ctx context.Context, m []byte) ([]byte, error) {
			s, _ := good(ctx, m)
			s[5] ^= 1
			return s, nil
		}, want: "does not verify"},
		"other key":    {pem: pubPEM, signer: func() RemoteSigner { _, _, s := localSigner(t, elliptic.P256()); return s }(), want: "does not verify"},
		"signer error": {pem: pubPEM, signer: func(context.Context, []byte) ([]byte, error) { return nil, errors.New("permission denied") }, want: "permission denied"},
	} {
		k, err := NewRemoteKey(ctx, RemoteKey{PublicPEM: c.pem, Sign: c.signer, Origin: "vault-transit://transit/t"})
		if !c.atNew {
			if err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			_, err = k.priv.Sign(rand.Reader, []byte("m"), nil)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", label, err, c.want)
		}
	}
}
