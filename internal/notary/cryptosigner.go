package notary

import (
	"crypto"

	"github.com/sign-step/sign-step/internal/core"
)

// Signer returns the key as a crypto.Signer over digests, for the cosign
// and Notation signatures made with the same key as the DCT delegation. A
// key held by a key service has none here: its caller builds one from the
// service (secrets.TransitKey.CryptoSigner).
func (k *Key) Signer() (crypto.Signer, error) {
	if _, remote := k.priv.(*remoteECDSAKey); remote {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: k.ID(), Reason: "a remote key signs TUF metadata only here"})
	}
	s := k.priv.CryptoSigner()
	if s == nil {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: k.ID(), Reason: "no signer for this key type"})
	}
	return s, nil
}
