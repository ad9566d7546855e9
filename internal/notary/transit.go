package notary

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/core"
)

// RemoteSigner asks a key service (Vault Transit) to sign msg, the canonical
// TUF bytes notary signs, with an ECDSA P-256 key it never hands out. It
// returns the signature notary verifies: raw r||s (64 bytes) over
// SHA-256(msg), as notary's own ECDSAPrivateKey.Sign makes it.
type RemoteSigner func(ctx context.Context, msg []byte) ([]byte, error)

// RemoteKey is a signing key held by a key service.
type RemoteKey struct {
	// PublicPEM is the key's public half: a PKIX "PUBLIC KEY" PEM block.
	PublicPEM []byte
	Sign      RemoteSigner
	// Origin names the key for messages ("vault-transit://transit/ci").
	Origin string
}

// NewRemoteKey makes a delegation key whose signatures come from k.Sign.
// notary's Sign takes no context: ctx bounds every signing request.
func NewRemoteKey(ctx context.Context, k RemoteKey) (*Key, error) {
	fail := func(reason string) error {
		return core.Classed(core.ClassKey, &KeyError{Origin: k.Origin, Reason: reason})
	}
	if k.Sign == nil {
		return nil, fail("no signer")
	}
	block, _ := pem.Decode(k.PublicPEM)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fail("the public key is not a PEM PUBLIC KEY block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fail("malformed public key: " + err.Error())
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fail(fmt.Sprintf("the key is %s; notary signing needs ECDSA P-256 (Transit type ecdsa-p256)", describePub(pub)))
	}
	rk := &remoteECDSAKey{PublicKey: data.NewECDSAPublicKey(block.Bytes), pub: ec, sign: k.Sign, ctx: ctx, origin: k.Origin}
	return &Key{priv: rk}, nil
}

func describePub(pub any) string {
	if ec, ok := pub.(*ecdsa.PublicKey); ok {
		return "ECDSA " + ec.Curve.Params().Name
	}
	return fmt.Sprintf("%T", pub)
}

// remoteECDSAKey is a data.PrivateKey without private bytes: Sign asks the
// key service. Each signature is checked against the public key before
// notary uses it, so a wrong format fails here, not at the server.
type remoteECDSAKey struct {
	data.PublicKey // *data.ECDSAPublicKey: ID, Algorithm, Public
	pub            *ecdsa.PublicKey
	sign           RemoteSigner
	ctx            context.Context
	origin         string
}

func (k *remoteECDSAKey) Sign(_ io.Reader, msg []byte, _ crypto.SignerOpts) ([]byte, error) {
	sig, err := k.sign(k.ctx, msg)
	if err != nil {
		return nil, err
	}
	if len(sig) != 64 {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: k.origin, Reason: fmt.Sprintf("the signature is %d bytes, want 64 (raw r||s of ECDSA P-256)", len(sig))})
	}
	digest := sha256.Sum256(msg)
	if !ecdsa.Verify(k.pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: k.origin, Reason: "the signature does not verify with the key's public key over SHA-256 of the metadata"})
	}
	return sig, nil
}

// Private is empty: the private key never leaves the key service.
func (k *remoteECDSAKey) Private() []byte { return nil }

// CryptoSigner refuses digests: the key service signs messages only.
func (k *remoteECDSAKey) CryptoSigner() crypto.Signer { return remoteCryptoSigner{k} }

func (k *remoteECDSAKey) SignatureAlgorithm() data.SigAlgorithm { return data.ECDSASignature }

func (k *remoteECDSAKey) String() string   { return "[remote key " + k.ID() + " at " + k.origin + "]" }
func (k *remoteECDSAKey) GoString() string { return k.String() }

type remoteCryptoSigner struct{ k *remoteECDSAKey }

func (s remoteCryptoSigner) Public() crypto.PublicKey { return s.k.pub }
func (s remoteCryptoSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("remote key %s signs TUF metadata only", s.k.origin)
}

// remoteStore is the notary key store of the remote keys: notary's memory
// store cannot hold them (it serialises keys to PKCS#8).
type remoteStore struct {
	mu   sync.Mutex
	keys map[string]*remoteECDSAKey
	info map[string]trustmanager.KeyInfo
}

func newRemoteStore() *remoteStore {
	return &remoteStore{keys: map[string]*remoteECDSAKey{}, info: map[string]trustmanager.KeyInfo{}}
}

func (s *remoteStore) put(info trustmanager.KeyInfo, k *remoteECDSAKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if data.IsDelegation(info.Role) || !data.ValidRole(info.Role) {
		info.Gun = "" // as notary's stores keep delegation keys
	}
	s.keys[k.ID()], s.info[k.ID()] = k, info
}

func (s *remoteStore) AddKey(trustmanager.KeyInfo, data.PrivateKey) error {
	return errors.New("keys cannot be added to remote key store")
}

func (s *remoteStore) GetKey(id string) (data.PrivateKey, data.RoleName, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, "", trustmanager.ErrKeyNotFound{KeyID: id}
	}
	return k, s.info[id].Role, nil
}

func (s *remoteStore) GetKeyInfo(id string) (trustmanager.KeyInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.info[id]
	if !ok {
		return trustmanager.KeyInfo{}, trustmanager.ErrKeyNotFound{KeyID: id}
	}
	return info, nil
}

func (s *remoteStore) ListKeys() map[string]trustmanager.KeyInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]trustmanager.KeyInfo, len(s.info))
	for id, info := range s.info {
		out[id] = info
	}
	return out
}

func (s *remoteStore) RemoveKey(string) error { return nil }

func (s *remoteStore) Name() string { return "remote" }
