// Package notation writes and verifies Notary Project (Notation 1.x)
// signatures: a JWS envelope over the image's descriptor, signed by a key
// whose X.509 certificate chain travels in the envelope, stored as an OCI
// referrer of the image (artifactType application/vnd.cncf.notary.signature).
// oras-go stores it through the referrers API where the registry has one and
// through the referrers tag schema (tag sha256-<hex>) where it does not.
package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/jws" // also registers the JWS envelope
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// Media types of the Notary Project signature specification.
const (
	ArtifactType     = "application/vnd.cncf.notary.signature"
	JWSMediaType     = jws.MediaTypeEnvelope // application/jose+json
	payloadMediaType = "application/vnd.cncf.notary.payload.v1+json"
)

// signingAgent names us in the envelope's io.cncf.notary.signingAgent.
const signingAgent = "sign-step"

// Client talks to registries through oras-go.
type Client struct {
	transport http.RoundTripper
	keychain  authn.Keychain
	// PlainHTTP says which registries are reached over plain HTTP
	// (--insecure-registry); nil: none.
	PlainHTTP func(host string) bool
}

// New returns a Client; registry credentials come from keychain (nil:
// anonymous), the same keychain the image side uses.
func New(transport http.RoundTripper, keychain authn.Keychain) *Client {
	if transport == nil {
		transport = http.DefaultTransport
	}
	return &Client{transport: transport, keychain: keychain}
}

func (c *Client) repository(ref string) (registry.Repository, *remote.Repository, error) {
	r, err := remote.NewRepository(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing %q: %w", ref, err)
	}
	ac := &auth.Client{Client: &http.Client{Transport: c.transport}, Cache: auth.NewCache()}
	if c.keychain != nil {
		ac.Credential = func(_ context.Context, host string) (auth.Credential, error) {
			reg, err := name.NewRegistry(host)
			if err != nil {
				return auth.EmptyCredential, err
			}
			a, err := c.keychain.Resolve(reg)
			if err != nil {
				return auth.EmptyCredential, err
			}
			cfg, err := a.Authorization()
			if err != nil {
				return auth.EmptyCredential, err
			}
			return auth.Credential{Username: cfg.Username, Password: cfg.Password, RefreshToken: cfg.IdentityToken, AccessToken: cfg.RegistryToken}, nil
		}
	}
	r.Client = ac
	r.PlainHTTP = c.PlainHTTP != nil && c.PlainHTTP(r.Reference.Registry)
	return registry.NewRepository(r), r, nil
}

// Signer signs with a crypto.Signer (a local key or a key service such as
// Vault Transit) and carries the certificate chain whose leaf certifies it.
type Signer struct {
	key   crypto.Signer
	chain []*x509.Certificate
	spec  signature.KeySpec
}

// NewSigner checks that chain's leaf certifies key's public half.
func NewSigner(key crypto.Signer, chain []*x509.Certificate) (*Signer, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate: Notation needs an X.509 chain whose leaf certifies the key (--notation-cert)")
	}
	type eq interface{ Equal(crypto.PublicKey) bool }
	if p, ok := key.Public().(eq); !ok || !p.Equal(chain[0].PublicKey) {
		return nil, errors.New("the certificate's key is not the signing key: the leaf of --notation-cert must certify the key that signs")
	}
	spec, err := signature.ExtractKeySpec(chain[0])
	if err != nil {
		return nil, fmt.Errorf("reading the certificate's key: %w", err)
	}
	return &Signer{key: key, chain: chain, spec: spec}, nil
}

// ParseCertChain reads PEM CERTIFICATE blocks, leaf first.
func ParseCertChain(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing a certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	return certs, nil
}

// primitive is notation-core-go's remote signer form: it returns the raw
// JWS signature (ECDSA r||s, RSA PSS) and the chain.
type primitive struct{ s *Signer }

func (p primitive) KeySpec() (signature.KeySpec, error) { return p.s.spec, nil }

func (p primitive) Sign(payload []byte) ([]byte, []*x509.Certificate, error) {
	h := p.s.spec.SignatureAlgorithm().Hash()
	var digest []byte
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(payload)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(payload)
		digest = d[:]
	case crypto.SHA512:
		d := sha512.Sum512(payload)
		digest = d[:]
	default:
		return nil, nil, fmt.Errorf("unsupported hash %v", h)
	}
	switch pub := p.s.key.Public().(type) {
	case *ecdsa.PublicKey:
		der, err := p.s.key.Sign(rand.Reader, digest, h)
		if err != nil {
			return nil, nil, err
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			return nil, nil, fmt.Errorf("the signer's ECDSA answer is not ASN.1 DER: %w", err)
		}
		n := (pub.Curve.Params().BitSize + 7) / 8
		raw := make([]byte, 2*n)
		rs.R.FillBytes(raw[:n])
		rs.S.FillBytes(raw[n:])
		return raw, p.s.chain, nil
	case *rsa.PublicKey:
		sig, err := p.s.key.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		return sig, p.s.chain, err
	}
	return nil, nil, fmt.Errorf("unsupported key type %T", p.s.key.Public())
}

// Sign implements notation-go's notation.Signer: the same envelope
// notation-go's GenericSigner makes, with our primitive signer.
func (s *Signer) Sign(ctx context.Context, desc ocispec.Descriptor, opts notationgo.SignerSignOptions) ([]byte, *signature.SignerInfo, error) {
	body, err := json.Marshal(struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}{ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, Annotations: desc.Annotations}})
	if err != nil {
		return nil, nil, err
	}
	req := &signature.SignRequest{
		Payload:       signature.Payload{ContentType: payloadMediaType, Content: body},
		Signer:        primitive{s},
		SigningTime:   time.Now(),
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  signingAgent,
	}
	if opts.ExpiryDuration != 0 {
		req.Expiry = req.SigningTime.Add(opts.ExpiryDuration)
	}
	env, err := signature.NewEnvelope(opts.SignatureMediaType)
	if err != nil {
		return nil, nil, err
	}
	sig, err := env.Sign(req.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("signing the Notation envelope: %w", err)
	}
	content, err := env.Verify()
	if err != nil {
		return nil, nil, fmt.Errorf("the signed Notation envelope does not verify: %w", err)
	}
	return sig, &content.SignerInfo, nil
}

// Result says what Sign did for one digest.
type Result struct {
	Signature string // repo@digest of the signature manifest; empty when nothing was added
	Added     bool
}

// Sign adds a Notation signature for img ("host/repo@sha256:…") unless a
// signature envelope whose leaf certificate holds s's key already signs
// img's digest (idempotent re-runs).
func (c *Client) Sign(ctx context.Context, img string, s *Signer) (Result, error) {
	repo, _, err := c.repository(img)
	if err != nil {
		return Result{}, err
	}
	desc, err := repo.Resolve(ctx, referenceOf(img))
	if err != nil {
		return Result{}, fmt.Errorf("resolving %s: %w", img, err)
	}
	has, err := c.signedBy(ctx, repo, desc, s.key.Public())
	if err != nil {
		return Result{}, err
	}
	if has {
		return Result{}, nil
	}
	_, err = notationgo.Sign(ctx, s, repo, notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: JWSMediaType, SigningAgent: signingAgent},
		ArtifactReference: img,
	})
	if err != nil {
		return Result{}, fmt.Errorf("signing %s with Notation: %w", img, err)
	}
	return Result{Added: true}, nil
}

// SignedBy reports whether a Notation signature of img already has pub as
// its leaf key (and verifies, and names img's digest).
func (c *Client) SignedBy(ctx context.Context, img string, pub crypto.PublicKey) (bool, error) {
	repo, _, err := c.repository(img)
	if err != nil {
		return false, err
	}
	desc, err := repo.Resolve(ctx, referenceOf(img))
	if err != nil {
		return false, fmt.Errorf("resolving %s: %w", img, err)
	}
	return c.signedBy(ctx, repo, desc, pub)
}

// signedBy reports whether one of desc's Notation signatures verifies
// cryptographically, names desc's digest and has pub as its leaf key.
func (c *Client) signedBy(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, pub crypto.PublicKey) (bool, error) {
	type eq interface{ Equal(crypto.PublicKey) bool }
	found := false
	err := repo.ListSignatures(ctx, desc, func(mans []ocispec.Descriptor) error {
		for _, m := range mans {
			blob, bdesc, err := repo.FetchSignatureBlob(ctx, m)
			if err != nil {
				return fmt.Errorf("reading signature %s: %w", m.Digest, err)
			}
			env, err := signature.ParseEnvelope(bdesc.MediaType, blob)
			if err != nil {
				continue // not ours to judge; notation.Verify would refuse it
			}
			content, err := env.Verify()
			if err != nil || len(content.SignerInfo.CertificateChain) == 0 {
				continue
			}
			var p struct {
				TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
			}
			if json.Unmarshal(content.Payload.Content, &p) != nil || p.TargetArtifact.Digest != desc.Digest {
				continue
			}
			if k, ok := pub.(eq); ok && k.Equal(content.SignerInfo.CertificateChain[0].PublicKey) {
				found = true
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("listing Notation signatures of %s: %w", desc.Digest, err)
	}
	return found, nil
}

var errStop = errors.New("stop")

// Verify runs notation-go's verifier over img with a trust policy document
// and a trust store directory laid out as Notation's
// (<dir>/x509/{ca,signingAuthority}/<name>/*.pem).
func (c *Client) Verify(ctx context.Context, img string, policy *trustpolicy.Document, trustStoreDir string) ([]*notationgo.VerificationOutcome, error) {
	repo, _, err := c.repository(img)
	if err != nil {
		return nil, err
	}
	store := truststore.NewX509TrustStore(storeFS{dir.NewSysFS(trustStoreDir)})
	v, err := verifier.New(policy, store, nil)
	if err != nil {
		return nil, fmt.Errorf("loading the Notation trust policy: %w", err)
	}
	_, outcomes, err := notationgo.Verify(ctx, v, repo, notationgo.VerifyOptions{ArtifactReference: img, MaxSignatureAttempts: 50})
	if err != nil {
		return outcomes, fmt.Errorf("verifying %s with Notation: %w", img, err)
	}
	return outcomes, nil
}

// storeFS roots notation-go's "truststore/x509/..." paths at a directory
// that holds x509/ itself, the layout notation-action's trust_store takes.
type storeFS struct{ dir.SysFS }

func (s storeFS) SysPath(items ...string) (string, error) {
	if len(items) > 0 {
		items[0] = strings.TrimPrefix(strings.TrimPrefix(items[0], dir.TrustStoreDir), "/")
	}
	return s.SysFS.SysPath(items...)
}

// referenceOf returns the tag or digest part of host/repo:tag or host/repo@digest.
func referenceOf(ref string) string {
	r, err := remote.NewRepository(ref)
	if err != nil {
		return ref
	}
	return r.Reference.Reference
}
