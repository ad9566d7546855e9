// Package registry adapts github.com/google/go-containerregistry to
// sign-step: it resolves what tags point to and pushes images (OCI layouts,
// docker save tarballs, or another registry's image) without a Docker daemon.
package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/sign"
)

// Registry implements sign.Registry.
type Registry struct {
	opts options

	pullerOnce sync.Once
	puller     *remote.Puller // shares one challenge, and one token per repository, across Resolve calls
	pullerErr  error

	insecureOnce   sync.Once
	insecurePuller *remote.Puller // for --insecure-registry hosts: ggcr's ping picks https or http
	insecureErr    error
}

var _ sign.Registry = (*Registry)(nil)

type options struct {
	transport http.RoundTripper
	keychain  authn.Keychain
	jobs      int
	userAgent string
	insecure  map[string]bool // registries allowed over plain HTTP (insecure.go)
	progress  Progress        // push progress lines (progress.go)
	realms    httpx.RealmPolicy
}

// Option configures a Registry.
type Option func(*options)

// WithTransport sets the base transport (TLS, retries, logging). Default: http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithKeychain sets where registry credentials come from. Default: anonymous.
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithJobs sets how many blobs upload at once. Default 4.
func WithJobs(n int) Option { return func(o *options) { o.jobs = n } }

// WithUserAgent sets the User-Agent header. Default "sign-step".
func WithUserAgent(ua string) Option { return func(o *options) { o.userAgent = ua } }

// New returns a Registry.
func New(opts ...Option) *Registry {
	o := options{transport: http.DefaultTransport, keychain: authn.NewMultiKeychain(), jobs: 4, userAgent: "sign-step"}
	for _, opt := range opts {
		opt(&o)
	}
	o.transport = &realmTransport{next: &httpsOnly{next: o.transport, insecure: o.insecure}, policy: o.realms}
	return &Registry{opts: o}
}

func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx)}, r.ggcrOptions()...)
}

// pullerFor returns the Registry's puller, made on first use. Every Resolve
// of one repository then shares one challenge and one token exchange
// instead of making its own: 50 tags cost 50 GETs (and with token auth a
// 401 and a token), not 50 pings more. The challenge comes from the first
// 401 (challenge.go), not from a ping of /v2/, except for an
// --insecure-registry host, where ggcr's ping chooses the scheme.
func (r *Registry) pullerFor(insecure bool) (*remote.Puller, error) {
	if insecure {
		r.insecureOnce.Do(func() {
			r.insecurePuller, r.insecureErr = remote.NewPuller(r.ggcrOptions()...)
		})
		return r.insecurePuller, r.insecureErr
	}
	r.pullerOnce.Do(func() {
		rt := newChallengeAuth(r.opts.transport, r.opts.keychain, r.opts.userAgent)
		r.puller, r.pullerErr = remote.NewPuller(remote.WithTransport(rt), remote.WithJobs(r.opts.jobs))
	})
	return r.puller, r.pullerErr
}

// Resolve implements sign.Registry: a GET of the manifest, whose bytes are
// hashed here. Never a HEAD: its Docker-Content-Digest header is only the
// registry's claim, and what is signed must be the digest of the bytes a
// pull gets. It is safe for concurrent use; calls share one authenticated
// transport per repository.
func (r *Registry) Resolve(ctx context.Context, ref core.Ref) (core.Descriptor, error) {
	nref, err := r.reference(ref)
	if err != nil {
		return core.Descriptor{}, core.Classed(core.ClassUsage, err)
	}
	p, err := r.pullerFor(r.isInsecure(ref.Registry))
	if err != nil {
		return core.Descriptor{}, explain(ref, err)
	}
	full, err := p.Get(ctx, nref)
	if err != nil {
		return core.Descriptor{}, explain(ref, err)
	}
	h, n, err := v1.SHA256(bytes.NewReader(full.Manifest))
	if err != nil {
		return core.Descriptor{}, fmt.Errorf("hashing the manifest of %s: %w", ref, err)
	}
	// ggcr takes a schema 1 manifest's digest from the header; a pin by
	// digest must match the bytes too.
	if full.Digest != h || (ref.Digest != "" && h.String() != ref.Digest) {
		claim := full.Digest.String()
		if ref.Digest != "" {
			claim = ref.Digest
		}
		return core.Descriptor{}, core.Classedf(core.ClassRegistry, "registry %s sent a manifest for %s that hashes to %s, not %s (possible attack)", ref.Registry, ref, h, claim)
	}
	return core.Descriptor{Digest: h.String(), Size: n, MediaType: string(full.MediaType)}, nil
}

// Push implements sign.Registry. source is an OCI image layout directory, a
// `docker save` tarball or a registry reference. The image (or index, with
// all its children) goes to every ref; blobs the registry has are not sent
// again and layers stream from disk.
func (r *Registry) Push(ctx context.Context, source string, refs []core.Ref) (core.Descriptor, error) {
	img, err := r.open(ctx, source)
	if err != nil {
		return core.Descriptor{}, err
	}
	pushed := img
	if p := newProgress(r.opts.progress); p != nil {
		pushed = p.taggable(img)
	}
	todo := make(map[name.Reference]remote.Taggable, len(refs))
	for _, ref := range refs {
		nref, err := r.reference(ref)
		if err != nil {
			return core.Descriptor{}, core.Classed(core.ClassUsage, err)
		}
		todo[nref] = pushed
	}
	if err := remote.MultiWrite(todo, r.remoteOptions(ctx)...); err != nil {
		return core.Descriptor{}, explain(refs[0], err)
	}
	return describe(img)
}

// Describe implements sign.Registry: the descriptor of source, read locally
// (or from its registry), with nothing pushed.
func (r *Registry) Describe(ctx context.Context, source string) (core.Descriptor, error) {
	img, err := r.open(ctx, source)
	if err != nil {
		return core.Descriptor{}, err
	}
	return describe(img)
}

func describe(t remote.Taggable) (core.Descriptor, error) {
	raw, err := t.RawManifest()
	if err != nil {
		return core.Descriptor{}, fmt.Errorf("reading manifest: %w", err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return core.Descriptor{}, err
	}
	mt := ""
	if m, ok := t.(interface {
		MediaType() (types.MediaType, error)
	}); ok {
		if v, err := m.MediaType(); err == nil {
			mt = string(v)
		}
	}
	// What was pushed is exactly raw, so its digest and length are the target.
	return core.Descriptor{Digest: h.String(), Size: int64(len(raw)), MediaType: mt}, nil
}

// open reads source as an OCI layout, a tarball or a registry reference.
func (r *Registry) open(ctx context.Context, source string) (remote.Taggable, error) {
	source = strings.TrimPrefix(source, "oci:")
	if fi, err := os.Stat(source); err == nil {
		if fi.IsDir() {
			return openLayout(source)
		}
		img, err := tarball.ImageFromPath(source, nil)
		if err != nil {
			return nil, core.Classedf(core.ClassUsage, "reading %s as a docker save tarball: %w", source, err)
		}
		return img, nil
	}
	src, err := core.ParseRef(source)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "source %q is neither a file, a directory nor an image reference", source)
	}
	if src.Tag == "" && src.Digest == "" {
		src.Tag = "latest"
	}
	nref, err := r.reference(src)
	if err != nil {
		return nil, core.Classed(core.ClassUsage, err)
	}
	d, err := remote.Get(nref, r.remoteOptions(ctx)...)
	if err != nil {
		return nil, explainSource(src, err)
	}
	if d.MediaType.IsIndex() {
		return d.ImageIndex()
	}
	return d.Image()
}

func openLayout(dir string) (remote.Taggable, error) {
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, core.Classedf(core.ClassUsage, "%s is not an OCI image layout (no oci-layout file)", dir)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "reading OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "reading OCI layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "reading OCI layout %s index.json: %w", dir, err)
	}
	if len(m.Manifests) != 1 {
		return nil, core.Classedf(core.ClassUsage, "OCI layout %s lists %d manifests in index.json; sign-step pushes a layout holding exactly one image or index", dir, len(m.Manifests))
	}
	desc := m.Manifests[0]
	if desc.MediaType.IsIndex() {
		return idx.ImageIndex(desc.Digest)
	}
	return idx.Image(desc.Digest)
}

// explain classes registry errors and names the tag or the URL.
func explain(ref core.Ref, err error) error {
	// TLS first: for loopback hosts ggcr also tries plain http, whose 400
	// would hide the real failure.
	if core.IsCertificateError(err) {
		return core.TLSError(fmt.Errorf("registry https://%s: TLS certificate not trusted (%v); %s", ref.Registry, certCause(err), certHint(err)))
	}
	var realm *httpx.RealmError
	if errors.As(err, &realm) {
		return core.Classed(core.ClassRegistry, realm)
	}
	if perr := explainPlainHTTP(ref, err); perr != nil {
		return perr
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusNotFound:
			if ref.Digest != "" {
				return core.Classedf(core.ClassRegistry, "manifest %s not found in %s", ref.Digest, ref.Name())
			}
			return core.Classedf(core.ClassRegistry, "tag %q not found in %s; push it first or pass --source", ref.Tag, ref.Name())
		case http.StatusUnauthorized, http.StatusForbidden:
			return core.Classedf(core.ClassRegistry, "registry %s refused %s (%d): check --registry-username/--registry-password or docker login", ref.Registry, ref.Name(), terr.StatusCode)
		}
		return core.Classedf(core.ClassRegistry, "registry %s: %v", ref.Registry, err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("registry https://%s: %w", ref.Registry, err)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return core.Classedf(core.ClassRegistry, "cannot reach registry https://%s: %v", ref.Registry, uerr.Err)
	}
	return core.Classedf(core.ClassRegistry, "registry %s: %v", ref.Registry, err)
}

// DockerConfigKeychain reads docker's config.json from dir, as `docker
// login` left it, and runs the credential helpers it names
// (docker-credential-<name>, looked up in path, sign-step's PATH).
func DockerConfigKeychain(dir, path string, opts ...ConfigOption) (authn.Keychain, error) {
	cf, err := config.Load(dir)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "reading docker config in %s: %w", dir, err)
	}
	k := &configKeychain{cf: cf, path: path, mask: func(string) {}}
	for _, o := range opts {
		o(k)
	}
	return k, nil
}

// ConfigOption configures DockerConfigKeychain.
type ConfigOption func(*configKeychain)

// WithMask has every credential the keychain reads (password, identity
// token, registry token, and the user:password and Basic values made of
// them) given to mask before it is used, so output can hide it.
func WithMask(mask func(string)) ConfigOption {
	return func(k *configKeychain) { k.mask = mask }
}

type configKeychain struct {
	cf   *configfile.ConfigFile
	path string
	mask func(string)
}

func (k *configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	key := target.RegistryStr()
	if key == name.DefaultRegistry || key == core.DockerHub {
		key = authn.DefaultAuthKey
	}
	cfg, err := authConfig(k.cf, key, k.path)
	if err != nil {
		return nil, err
	}
	if cfg.Username == "" && cfg.Password == "" && cfg.Auth == "" && cfg.IdentityToken == "" && cfg.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	for _, v := range []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken} {
		k.mask(v)
	}
	if cfg.Password != "" {
		k.mask(cfg.Username + ":" + cfg.Password)
		k.mask(base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password)))
	}
	return authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
		IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken}), nil
}

// Credentials returns the login the keychain holds for a registry host, for
// the notary server's token challenge: a username and password, or an
// identity token (`az acr login`, `docker login` to some registries). A host
// that is not a registry name gets no login; a keychain that fails (a
// credential helper) returns its error.
func Credentials(k authn.Keychain) func(host string) (authn.AuthConfig, error) {
	return func(host string) (authn.AuthConfig, error) {
		reg, err := name.NewRegistry(host, name.StrictValidation)
		if err != nil {
			return authn.AuthConfig{}, nil
		}
		a, err := k.Resolve(reg)
		if err != nil {
			return authn.AuthConfig{}, err
		}
		cfg, err := a.Authorization()
		if err != nil || cfg == nil {
			return authn.AuthConfig{}, err
		}
		return *cfg, nil
	}
}
