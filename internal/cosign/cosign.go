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
	"bytes"
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
	"net/url"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
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

// Client reads and writes .sig images. Reads go through go-containerregistry;
// writes are the registry API's two-request blob upload (POST, then PUT
// with the body) and a manifest PUT, which ggcr's writer would make six
// to eight requests of (ping, HEADs, PATCH).
type Client struct {
	base      http.RoundTripper
	keychain  authn.Keychain
	userAgent string

	mu       sync.Mutex
	repos    map[string]*repoTransport // by registry, repository and scope, for the Client's life
	sessions map[string]*sessionPool   // upload sessions Prepare opened, by repository
}

type repoTransport struct {
	mu sync.Mutex
	rt http.RoundTripper
}

// sessionPool holds upload sessions opened ahead of need: promised counts
// those opened or being opened, each of which sends one location (nil
// when opening failed) on ready.
type sessionPool struct {
	repo     name.Repository
	mu       sync.Mutex
	promised int
	ready    chan *url.URL
}

// sessionsPerImage is what one signature uploads: its config and its layer.
const sessionsPerImage = 2

// New returns a Client over rt (TLS, https-only, retries: the caller's),
// with credentials from kc.
func New(rt http.RoundTripper, kc authn.Keychain, userAgent string) *Client {
	return &Client{base: rt, keychain: kc, userAgent: userAgent, repos: map[string]*repoTransport{}, sessions: map[string]*sessionPool{}}
}

// Prepare starts, in the background, what a Stage in repo begins with and
// needs no digest for: the authenticated transport (ping, token) and the
// two blob upload sessions of one signature. Sessions are invisible to
// pulls; Release closes those no Stage took. Failures are left to Stage,
// which opens its own sessions then.
func (c *Client) Prepare(ctx context.Context, repo name.Repository) {
	p := c.pool(repo)
	p.mu.Lock()
	p.promised += sessionsPerImage
	p.mu.Unlock()
	go func() {
		rt, err := c.transport(ctx, repo, true)
		var wg sync.WaitGroup
		for range sessionsPerImage {
			wg.Go(func() {
				var loc *url.URL
				if err == nil {
					loc, _ = openUpload(ctx, rt, repo)
				}
				p.ready <- loc
			})
		}
		wg.Wait()
	}()
}

func (c *Client) pool(repo name.Repository) *sessionPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.sessions[repo.Name()]
	if !ok {
		p = &sessionPool{repo: repo, ready: make(chan *url.URL, 64)}
		c.sessions[repo.Name()] = p
	}
	return p
}

// session is an upload session of repo: one Prepare opened (waiting for it
// if it is still being opened), else a new one.
func (c *Client) session(ctx context.Context, rt http.RoundTripper, repo name.Repository) (*url.URL, error) {
	p := c.pool(repo)
	p.mu.Lock()
	promised := p.promised > 0
	if promised {
		p.promised--
	}
	p.mu.Unlock()
	if promised {
		if loc := <-p.ready; loc != nil {
			return loc, nil
		}
	}
	return openUpload(ctx, rt, repo)
}

// Release cancels the upload sessions Prepare opened that no Stage took,
// once they are open, so that none is left for the registry to purge.
func (c *Client) Release(ctx context.Context) {
	c.mu.Lock()
	pools := make([]*sessionPool, 0, len(c.sessions))
	for _, p := range c.sessions {
		pools = append(pools, p)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range pools {
		p.mu.Lock()
		n := p.promised
		p.promised = 0
		p.mu.Unlock()
		for range n {
			loc := <-p.ready
			if loc == nil {
				continue
			}
			wg.Go(func() {
				rt, err := c.transport(ctx, p.repo, true)
				if err != nil {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil)
				if err != nil {
					return
				}
				if resp, err := rt.RoundTrip(req); err == nil {
					drain(resp) // best effort: the registry purges stale sessions anyway
				}
			})
		}
	}
	wg.Wait()
}

// transport is an authenticated transport for repo: one ping and token
// exchange per repository and scope, shared by every later call. It is a
// transport.Wrapper, so ggcr adds no ping or retries of its own under it.
func (c *Client) transport(ctx context.Context, repo name.Repository, push bool) (http.RoundTripper, error) {
	scope := repo.Scope(transport.PullScope)
	if push {
		scope = repo.Scope(transport.PushScope)
	}
	key := repo.Name() + " " + scope // a scope names no registry
	c.mu.Lock()
	e, ok := c.repos[key]
	if !ok {
		e = &repoTransport{}
		c.repos[key] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt != nil {
		return e.rt, nil
	}
	auth, err := authn.Resolve(ctx, c.keychain, repo)
	if err != nil {
		return nil, fmt.Errorf("resolving credentials for %s: %w", repo, err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, transport.NewUserAgent(c.base, c.userAgent), []string{scope})
	if err != nil {
		return nil, fmt.Errorf("authenticating to %s: %w", repo, err)
	}
	e.rt = rt // errors are not kept: a later call tries again
	return rt, nil
}

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
	st, err := c.stage(ctx, img, s, false)
	if err != nil {
		return SignResult{Tag: st.Tag}, err
	}
	if st.Present() {
		return SignResult{Tag: st.Tag}, nil
	}
	if err := st.Commit(ctx); err != nil {
		return SignResult{Tag: st.Tag}, err
	}
	return SignResult{Tag: st.Tag, Added: true}, nil
}

// Staged is a signature ready to be published: its blobs are in the
// registry, where nothing names them until Commit writes the .sig manifest.
type Staged struct {
	Tag string // repo:sha256-<hex>.sig

	rt        http.RoundTripper
	tag       name.Tag
	manifest  []byte
	mediaType types.MediaType
	// base is the digest of the .sig manifest Stage appended to ("" when
	// there was none); redo signs again on the .sig image as it is now.
	// Both are set when Commit comes long after Stage (a staged run).
	base string
	redo func(ctx context.Context) error
}

// Present reports whether our key had signed the image already: Commit
// then writes nothing.
func (st *Staged) Present() bool { return st.manifest == nil }

// Commit writes the .sig manifest that makes the signature visible. The
// manifest appends to the .sig image Stage read; when Stage ran long
// before (beside a DCT publish) and another writer has changed the tag
// since, Commit signs again on what is there now instead of replacing
// that writer's signature.
func (st *Staged) Commit(ctx context.Context) error {
	if st.Present() {
		return nil
	}
	if st.redo != nil {
		now, err := manifestDigest(ctx, st.rt, st.tag)
		if err != nil {
			return err
		}
		if now != st.base {
			return st.redo(ctx)
		}
	}
	u := registryURL(st.tag.Context(), "manifests/"+st.tag.TagStr())
	if err := put(ctx, st.rt, u, string(st.mediaType), st.manifest, http.StatusCreated); err != nil {
		return fmt.Errorf("writing %s: %w", st.tag, err)
	}
	return nil
}

// Stage does all of Sign but the manifest write: it reads the .sig image,
// returns a Present result when a layer already verifies with s's key for
// img, and otherwise signs the payload and uploads the new config and
// layer blobs. Blobs are content-addressed: until Commit names them, no
// verifier sees anything, and a run that never commits leaves at most
// two unreferenced blobs the registry's garbage collection removes.
func (c *Client) Stage(ctx context.Context, img name.Digest, s crypto.Signer) (*Staged, error) {
	return c.stage(ctx, img, s, true)
}

// stage is Stage; early (a staged run) uploads the blobs while the .sig
// image is read, and has Commit check the tag again. Sign, which writes
// right after, uploads only what a new signature needs.
func (c *Client) stage(ctx context.Context, img name.Digest, s crypto.Signer, early bool) (*Staged, error) {
	tag, err := SignatureTag(img)
	if err != nil {
		return &Staged{}, err
	}
	st := &Staged{Tag: tag.String(), tag: tag}
	repo := img.Context()
	rt, err := c.transport(ctx, repo, true)
	if err != nil {
		return st, err
	}
	body, err := Payload(img)
	if err != nil {
		return st, fmt.Errorf("encoding the cosign payload: %w", err)
	}
	// The layer and, when there is no .sig image yet (the usual case), the
	// config depend on the digest alone: they go up while the .sig image
	// is read. When our key had signed already, both blobs were there and
	// the uploads changed nothing; when another key had, the config is
	// made again and the guess is left unreferenced.
	guess, err := configOf(emptySigImage(), body)
	if err != nil {
		return st, err
	}
	uploads := make(chan error, 3)
	started := 0
	upload := func(b []byte) {
		started++
		go func() { uploads <- c.uploadBlob(ctx, rt, repo, b) }()
	}
	wait := func() error {
		var errs []error
		for ; started > 0; started-- {
			errs = append(errs, <-uploads)
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("uploading the signature of %s: %w", img.DigestStr(), err)
		}
		return nil
	}
	if early {
		upload(body)
		upload(guess)
	}
	fail := func(err error) (*Staged, error) {
		_ = wait() // no upload outlives Stage
		return st, err
	}

	base, err := sigImage(ctx, rt, tag)
	if err != nil {
		return fail(err)
	}
	if base != nil {
		d, err := base.Digest()
		if err != nil {
			return fail(fmt.Errorf("reading %s: %w", tag, err))
		}
		st.base = d.String()
		found, err := verifyLayers(base, img, []crypto.PublicKey{s.Public()})
		if err != nil && !errors.Is(err, ErrNoSignature) {
			return fail(err)
		}
		if found != nil {
			return fail(nil)
		}
	} else {
		base = emptySigImage()
	}
	next, err := appendSignature(base, body, s)
	if err != nil {
		return fail(err)
	}
	manifest, err := next.RawManifest()
	if err != nil {
		return fail(fmt.Errorf("encoding the signature manifest: %w", err))
	}
	mt, err := next.MediaType()
	if err != nil {
		return fail(fmt.Errorf("encoding the signature manifest: %w", err))
	}
	config, err := next.RawConfigFile()
	if err != nil {
		return fail(fmt.Errorf("encoding the signature config: %w", err))
	}
	// The layers the base image had are in this repository already: only
	// the new config and layer go up. A blob the registry may have is sent
	// again rather than asked for (a HEAD costs as much as the upload of a
	// few hundred bytes).
	if !early {
		upload(body)
	}
	if !early || !bytes.Equal(config, guess) {
		upload(config)
	}
	if err := wait(); err != nil {
		return st, err
	}
	st.rt, st.manifest, st.mediaType = rt, manifest, mt
	if early {
		st.redo = func(ctx context.Context) error {
			again, err := c.stage(ctx, img, s, false)
			if err != nil {
				return err
			}
			return again.Commit(ctx) // Present when our key signed meanwhile
		}
	}
	return st, nil
}

// emptySigImage is cosign's empty signatures image: OCI manifest and OCI config.
func emptySigImage() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// configOf is the config of base with the payload layer body appended:
// the signature is an annotation of the manifest, not part of it.
func configOf(base v1.Image, body []byte) ([]byte, error) {
	img, err := mutate.Append(base, mutate.Addendum{Layer: static.NewLayer(body, SimpleSigningMediaType)})
	if err != nil {
		return nil, fmt.Errorf("appending the signature layer: %w", err)
	}
	b, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("encoding the signature config: %w", err)
	}
	return b, nil
}

// appendSignature signs body with s and appends it to base as cosign does.
func appendSignature(base v1.Image, body []byte, s crypto.Signer) (v1.Image, error) {
	sig, err := signPayload(s, body)
	if err != nil {
		return nil, err
	}
	next, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(body, SimpleSigningMediaType),
		Annotations: map[string]string{SignatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return nil, fmt.Errorf("appending the signature layer: %w", err)
	}
	return next, nil
}

// registryURL is repo's /v2/<repo>/<path> URL. The scheme is ggcr's guess;
// the authenticated transport replaces it with the one its ping found.
func registryURL(repo name.Repository, path string) *url.URL {
	return &url.URL{Scheme: repo.Registry.Scheme(), Host: repo.RegistryStr(), Path: "/v2/" + repo.RepositoryStr() + "/" + path}
}

// uploadBlob is the registry API's monolithic upload: POST opens a session
// (or Prepare did), PUT ?digest= with the whole body closes it.
func (c *Client) uploadBlob(ctx context.Context, rt http.RoundTripper, repo name.Repository, b []byte) error {
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return err
	}
	loc, err := c.session(ctx, rt, repo)
	if err != nil {
		return fmt.Errorf("starting the upload of %s: %w", h, err)
	}
	q := loc.Query()
	q.Set("digest", h.String())
	loc.RawQuery = q.Encode()
	if err := put(ctx, rt, loc, "application/octet-stream", b, http.StatusCreated); err != nil {
		return fmt.Errorf("uploading %s: %w", h, err)
	}
	return nil
}

// openUpload opens a blob upload session and returns where it goes on.
func openUpload(ctx context.Context, rt http.RoundTripper, repo name.Repository) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, registryURL(repo, "blobs/uploads/").String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return nil, err
	}
	return resp.Location()
}

// put sends body to u and wants one of codes back.
func put(ctx context.Context, rt http.RoundTripper, u *url.URL, contentType string, body []byte, codes ...int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	return transport.CheckError(resp, codes...)
}

// manifestDigest is the digest the registry gives for tag's manifest (a
// HEAD), or "" when the tag does not exist.
func manifestDigest(ctx context.Context, rt http.RoundTripper, tag name.Tag) (string, error) {
	u := registryURL(tag.Context(), "manifests/"+tag.TagStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", string(types.OCIManifestSchema1)+","+string(types.DockerManifestSchema2))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", tag, err)
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return "", nil
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return "", fmt.Errorf("reading %s: %w", tag, err)
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// drain reads what is left of a small answer so the connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
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

// sigImage fetches the .sig image through rt, or nil when the tag does not exist.
func sigImage(ctx context.Context, rt http.RoundTripper, tag name.Tag) (v1.Image, error) {
	img, err := remote.Image(tag, remote.WithTransport(rt), remote.WithContext(ctx))
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
	rt, err := c.transport(ctx, img.Context(), false)
	if err != nil {
		return nil, err
	}
	sigImg, err := sigImage(ctx, rt, tag)
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
