package secrets

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"

	"github.com/sign-step/sign-step/internal/core"
)

// CryptoSigner returns the Transit key as a crypto.Signer over SHA-256
// digests (cosign and Notation sign digests, not messages): Vault signs the
// digest with prehashed=true and the answer is ASN.1 DER, as crypto/ecdsa
// returns it. The private key never leaves Vault. ctx bounds every request.
func (k *TransitKey) CryptoSigner(ctx context.Context) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(k.PublicPEM))
	if block == nil {
		return nil, core.Classedf(core.ClassKey, "the Transit key %s: the public key is not PEM", k.Ref)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, core.Classedf(core.ClassKey, "the Transit key %s: malformed public key: %w", k.Ref, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, core.Classedf(core.ClassKey, "the Transit key %s is not ECDSA P-256", k.Ref)
	}
	return &transitSigner{k: k, pub: ec, ctx: ctx}, nil
}

type transitSigner struct {
	k   *TransitKey
	pub *ecdsa.PublicKey
	ctx context.Context
}

func (s *transitSigner) Public() crypto.PublicKey { return s.pub }

func (s *transitSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil || opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("signing with %s: only SHA-256 digests are signed", s.k.Ref)
	}
	raw, err := s.k.signPrehashed(s.ctx, digest)
	if err != nil {
		return nil, err
	}
	if len(raw) != 64 {
		return nil, core.Classedf(core.ClassKey, "signing with %s: the signature is %d bytes, want 64 (r||s)", s.k.Ref, len(raw))
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		return nil, err
	}
	if !ecdsa.VerifyASN1(s.pub, digest, der) {
		return nil, core.Classedf(core.ClassKey, "signing with %s: Vault's signature does not verify with the key's public key", s.k.Ref)
	}
	return der, nil
}

// signPrehashed asks Transit to sign a SHA-256 digest (prehashed=true,
// marshaling_algorithm=jws: raw r||s), pinned to the key version read.
func (k *TransitKey) signPrehashed(ctx context.Context, digest []byte) ([]byte, error) {
	return k.transitSign(ctx, map[string]any{"input": base64.StdEncoding.EncodeToString(digest), "prehashed": true})
}
