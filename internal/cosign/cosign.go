// Package cosign writes and verifies cosign 2.x key-based image signatures:
// a simple-signing payload stored as a layer of an OCI image tagged
// sha256-<hex>.sig in the image's own repository, the layout `cosign sign
// --key` writes and `cosign verify --key` reads by default. No transparency
// log is written or read: CI on private networks reaches none, so verifiers
// run `cosign verify --key PUB --insecure-ignore-tlog=true`.
//
// Only go-containerregistry and sigstore's payload type are used; the cosign
// module itself is not imported (it brings in every KMS SDK).
package cosign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// Media type and annotation cosign 2.x uses for a signature layer.
const (
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	SignatureAnnotation                    = "dev.cosignproject.cosign/signature"
)

// maxLayers bounds how many signature layers are read from one .sig image,
// as cosign bounds it, so a hostile registry cannot make us fetch forever.
const maxLayers = 1000

// maxPayload bounds one payload blob: real ones are a few hundred bytes.
const maxPayload = 1 << 20

// SignatureTag is the tag cosign stores the signatures of digest under:
// <repo>:sha256-<hex>.sig.
func SignatureTag(img name.Digest) (name.Tag, error) {
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return name.Tag{}, fmt.Errorf("parsing digest %q: %w", img.DigestStr(), err)
	}
	return img.Context().Tag(h.Algorithm + "-" + h.Hex + ".sig"), nil
}

// Payload is the simple-signing payload cosign 2.x writes for img: the
// repository as docker-reference, the digest, the cosign type.
func Payload(img name.Digest) ([]byte, error) {
	return json.Marshal(payload.Cosign{Image: img}.SimpleContainerImage())
}

// Client reads and writes .sig images through go-containerregistry.
type Client struct {
	opts []remote.Option
}

// New returns a Client; opts carry the transport, keychain and context.
func New(opts ...remote.Option) *Client { return &Client{opts: opts} }

// SignResult says what Sign did for one digest.
type SignResult struct {
	Tag   string // repo:sha256-<hex>.sig
	Added bool   // false: a layer our key signed was already there
}

// Sign adds a signature by s over img to img's .sig image, creating the
// image if needed and appending to it otherwise. It is idempotent: when a
// layer of the .sig image already verifies with s's public key for img, it
// writes nothing. s must sign SHA-256 digests (ECDSA: ASN.1 DER, as
// crypto/ecdsa does; RSA: PKCS #1 v1.5).
func (c *Client) Sign(ctx context.Context, img name.Digest, s crypto.Signer) (SignResult, error) {
	tag, err := SignatureTag(img)
	if err != nil {
		return SignResult{}, err
	}
	res := SignResult{Tag: tag.String()}
	base, err := c.sigImage(ctx, tag)
	if err != nil {
		return res, err
	}
	if base != nil {
		found, err := verifyLayers(base, img, []crypto.PublicKey{s.Public()})
		if err != nil && !errors.Is(err, ErrNoSignature) {
			return res, err
		}
		if found != nil {
			return res, nil
		}
	} else {
		// cosign's empty signatures image: OCI manifest and OCI config.
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}

	body, err := Payload(img)
	if err != nil {
		return res, fmt.Errorf("encoding the cosign payload: %w", err)
	}
	sig, err := signPayload(s, body)
	if err != nil {
		return res, err
	}
	next, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return res, fmt.Errorf("appending the signature layer: %w", err)
	}
	if err := remote.Write(tag, next, append(c.opts, remote.WithContext(ctx))...); err != nil {
		return res, fmt.Errorf("writing %s: %w", tag, err)
	}
	res.Added = true
	return res, nil
}

// signPayload signs SHA-256(body) and checks the result against the public
// key, so a key service answering in the wrong format fails here and not
// at a verifier.
func signPayload(s crypto.Signer, body []byte) ([]byte, error) {
	pub := s.Public()
	if _, ok := pub.(ed25519.PublicKey); ok {
		return nil, errors.New("signing the cosign payload: ed25519 keys are not supported (cosign signs ECDSA and RSA keys over SHA-256)")
	}
	d := sha256.Sum256(body)
	sig, err := s.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing the cosign payload: %w", err)
	}
	if err := verifySig(pub, body, sig); err != nil {
		return nil, fmt.Errorf("signing the cosign payload: the signer's answer does not verify with its public key: %w", err)
	}
	return sig, nil
}

// sigImage fetches the .sig image, or nil when the tag does not exist.
func (c *Client) sigImage(ctx context.Context, tag name.Tag) (v1.Image, error) {
	img, err := remote.Image(tag, append(c.opts, remote.WithContext(ctx))...)
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", tag, err)
	}
	return img, nil
}

// ErrNoSignature is matched by errors.Is when no signature verifies.
var ErrNoSignature = errors.New("no cosign signature verifies")

// Verified is one layer that verified.
type Verified struct {
	Tag     string
	Key     crypto.PublicKey // the key that verified it
	Payload []byte
}

// Verify finds img's .sig image and returns the first layer whose signature
// verifies with one of pubs over a payload that names img's digest and
// cosign's type, as `cosign verify --key` checks. Errors wrap ErrNoSignature
// when nothing verifies (no .sig tag included).
func (c *Client) Verify(ctx context.Context, img name.Digest, pubs []crypto.PublicKey) (*Verified, error) {
	if len(pubs) == 0 {
		return nil, errors.New("verifying cosign signatures: no public key given")
	}
	tag, err := SignatureTag(img)
	if err != nil {
		return nil, err
	}
	sigImg, err := c.sigImage(ctx, tag)
	if err != nil {
		return nil, err
	}
	if sigImg == nil {
		return nil, fmt.Errorf("%w: no %s", ErrNoSignature, tag)
	}
	v, err := verifyLayers(sigImg, img, pubs)
	if err != nil {
		return nil, fmt.Errorf("verifying %s: %w", tag, err)
	}
	v.Tag = tag.String()
	return v, nil
}

// verifyLayers checks every simple-signing layer of sigImg against pubs.
func verifyLayers(sigImg v1.Image, img name.Digest, pubs []crypto.PublicKey) (*Verified, error) {
	m, err := sigImg.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the signature manifest: %w", err)
	}
	if len(m.Layers) > maxLayers {
		return nil, fmt.Errorf("the signature image has %d layers, more than %d", len(m.Layers), maxLayers)
	}
	var reasons []string
	for i, l := range m.Layers {
		if l.MediaType != SimpleSigningMediaType {
			continue
		}
		b64 := l.Annotations[SignatureAnnotation]
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) == 0 {
			reasons = append(reasons, fmt.Sprintf("layer %d: no base64 signature annotation", i))
			continue
		}
		if l.Size > maxPayload {
			reasons = append(reasons, fmt.Sprintf("layer %d: payload of %d bytes", i, l.Size))
			continue
		}
		body, err := layerBytes(sigImg, l.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		for _, pub := range pubs {
			if verifySig(pub, body, sig) != nil {
				continue
			}
			if err := checkClaims(body, img); err != nil {
				reasons = append(reasons, fmt.Sprintf("layer %d: %v", i, err))
				break
			}
			return &Verified{Key: pub, Payload: body}, nil
		}
	}
	if len(reasons) == 0 {
		return nil, fmt.Errorf("%w with the given key(s)", ErrNoSignature)
	}
	return nil, fmt.Errorf("%w with the given key(s) (%s)", ErrNoSignature, strings.Join(reasons, "; "))
}

// layerBytes reads a layer blob and checks it against its digest: the
// registry serves it, the manifest (by digest) names it.
func layerBytes(img v1.Image, d v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(d)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("payload larger than %d bytes", maxPayload)
	}
	if got := sha256.Sum256(b); d.Algorithm != "sha256" || fmt.Sprintf("%x", got) != d.Hex {
		return nil, fmt.Errorf("payload does not match its digest %s", d)
	}
	return b, nil
}

// checkClaims is cosign's claim check: the payload is of cosign's type and
// names img's manifest digest.
func checkClaims(body []byte, img name.Digest) error {
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("payload is not simple-signing JSON: %w", err)
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return fmt.Errorf("payload type %q, want %q", p.Critical.Type, payload.CosignSignatureType)
	}
	if p.Critical.Image.DockerManifestDigest != img.DigestStr() {
		return fmt.Errorf("payload signs digest %s, not %s", p.Critical.Image.DockerManifestDigest, img.DigestStr())
	}
	return nil
}

// verifySig checks sig over SHA-256(body) as sigstore's verifiers do for
// cosign keys: ECDSA ASN.1 DER, RSA PKCS #1 v1.5.
func verifySig(pub crypto.PublicKey, body, sig []byte) error {
	d := sha256.Sum256(body)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d[:], sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig)
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}
