// Package notary adapts the Notary v1 (TUF) client of
// github.com/theupdateframework/notary to sign-step: it opens repositories
// with keys held in memory, decides roles exactly as docker does, publishes
// targets and reads trust data back. It is the only package that imports notary.
package notary

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/distribution/registry/client/auth"
	"github.com/docker/distribution/registry/client/auth/challenge"
	"github.com/docker/distribution/registry/client/transport"
	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary/client"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/inspect"
	"github.com/sign-step/sign-step/internal/sign"
)

// DockerHubNotary is where docker sends trust requests for docker.io images.
const DockerHubNotary = "https://notary.docker.io"

// ReleasesRole is the delegation docker treats as the released tags.
const ReleasesRole = data.RoleName("targets/releases")

func init() {
	// The notary client logs through the global logrus logger; its warnings
	// are turned into our own errors, so keep it quiet.
	logrus.SetOutput(io.Discard)
}

// Credentials returns the registry login for host (empty when anonymous);
// the notary server gets it through its token challenge, as docker sends it.
// An error (a credential helper that fails) fails the repository's opening.
type Credentials func(registryHost string) (Credential, error)

// Credential is a registry login: a username and password, or an identity
// token (a refresh token from `docker login` or `az acr login`), which is
// exchanged through the OAuth2 refresh_token grant as docker does.
type Credential struct {
	Username, Password string
	IdentityToken      string
}

// Client opens notary repositories.
type Client struct {
	opts   options
	tofu   sync.Once
	warned onceWarnings // serializes and dedupes warnings (root.go)
}

type options struct {
	server      string // fixed notary URL; "" follows docker's rule per registry
	transport   http.RoundTripper
	keys        *Keyring
	credentials Credentials
	pinRoot     []string // root certificate key IDs
	pinCA       string   // CA file the root certificate must chain to
	cacheDir    string
	warn        func(string)
	retries     int
	userAgent   string
	log         *slog.Logger
	now         func() time.Time // decides notary.docker.io's retirement (retired.go)
	access      Access
	realms      httpx.RealmPolicy
}

// Option configures a Client.
type Option func(*options) error

// WithServer fixes the notary server URL (docker's DOCKER_CONTENT_TRUST_SERVER).
// It must be https.
func WithServer(u string) Option {
	return func(o *options) error {
		p, err := url.Parse(u)
		if strings.Contains(u, "@") || (err == nil && p.User != nil) {
			// Every message naming the server would print a password.
			return core.Classedf(core.ClassUsage, "a trust server URL with credentials (user:password@) is refused and not shown")
		}
		if err != nil || p.Scheme != "https" || p.Host == "" {
			return core.Classedf(core.ClassUsage, "valid https URL required for trust server, got %s", u)
		}
		o.server = strings.TrimSuffix(u, "/")
		return nil
	}
}

// WithTransport sets the base transport (TLS, retries, logging). Default: http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option {
	return func(o *options) error { o.transport = rt; return nil }
}

// WithKeys sets the signing keys. Default: none (read-only use).
func WithKeys(kr *Keyring) Option {
	return func(o *options) error { o.keys = kr; return nil }
}

// WithCredentials sets the registry login lookup. Default: anonymous.
func WithCredentials(c Credentials) Option {
	return func(o *options) error { o.credentials = c; return nil }
}

// WithPublishRetries sets how often a publish rejected for a concurrent
// update is rebased and retried. Default 5.
func WithPublishRetries(n int) Option {
	return func(o *options) error { o.retries = n; return nil }
}

// WithRootPin requires each repository's root to be one of keyIDs (the
// "Root" key IDs docker trust inspect shows) instead of trusting it on
// first use.
func WithRootPin(keyIDs []string) Option {
	return func(o *options) error { o.pinRoot = keyIDs; return nil }
}

// WithCAPin requires each repository's root certificate to chain to the CA
// in caFile instead of trusting it on first use.
func WithCAPin(caFile string) Option {
	return func(o *options) error { o.pinCA = caFile; return nil }
}

// WithTrustCache keeps verified metadata in dir between runs (docker keeps
// it in ~/.docker/trust/tuf): the first root seen is then trusted across
// runs, and a server replaying older metadata is caught (rollback). Default:
// memory only.
func WithTrustCache(dir string) Option {
	return func(o *options) error { o.cacheDir = dir; return nil }
}

// WithWarnings receives warnings such as trust on first use. Default: dropped.
func WithWarnings(fn func(string)) Option {
	return func(o *options) error { o.warn = fn; return nil }
}

// WithLogger receives what a publish did beyond the plain case: a lost
// race that was rebased, a lost answer. Default: dropped.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.log = l; return nil }
}

// WithUserAgent sets the User-Agent header. Default "sign-step".
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// New returns a Client.
func New(opts ...Option) (*Client, error) {
	o := options{transport: http.DefaultTransport, keys: &Keyring{}, retries: 5, userAgent: "sign-step", warn: func(string) {},
		log:         slog.New(slog.DiscardHandler),
		access:      Write,
		credentials: func(string) (Credential, error) { return Credential{}, nil }}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	c := &Client{opts: o}
	c.opts.warn = c.warned.wrap(o.warn) // repositories load concurrently
	return c, nil
}

// cacheFor is the metadata cache of gun: on disk under the trust cache, in
// docker's layout, or in memory.
func (c *Client) cacheFor(gun string) (store.MetadataStore, error) {
	if c.opts.cacheDir == "" {
		return store.NewMemoryStore(nil), nil
	}
	fs, err := store.NewFileStore(filepath.Join(c.opts.cacheDir, "tuf", filepath.FromSlash(gun), "metadata"), "json")
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "trust cache: %v", err)
	}
	return fs, nil
}

// pinning is notary's trust pinning for gun: pinned when asked, else TOFU
// with a warning (every CI run starts with an empty cache, so each run
// trusts whatever root the server sends first).
func (c *Client) pinning(gun string) trustpinning.TrustPinConfig {
	if len(c.opts.pinRoot) == 0 && c.opts.pinCA == "" {
		if c.opts.cacheDir == "" {
			c.tofu.Do(func() {
				c.opts.warn("trusting each repository's root key on first use: pin it with --pin-root or --pin-ca")
			})
		}
		return trustpinning.TrustPinConfig{}
	}
	cfg := trustpinning.TrustPinConfig{DisableTOFU: true}
	if len(c.opts.pinRoot) > 0 {
		cfg.Certs = map[string][]string{gun: c.opts.pinRoot}
	}
	if c.opts.pinCA != "" {
		cfg.CA = map[string]string{gun: c.opts.pinCA}
	}
	return cfg
}

// ServerFor returns the notary URL for a GUN: the fixed server, else docker's
// rule (notary.docker.io for docker.io, else https://<registry host>).
func (c *Client) ServerFor(gun string) string {
	if c.opts.server != "" {
		return c.opts.server
	}
	host, _, _ := strings.Cut(gun, "/")
	if host == core.DockerHub {
		return DockerHubNotary
	}
	return "https://" + host
}

// Repo is one opened repository: trust data loaded once, keys in memory.
type Repo struct {
	gun    data.GUN
	server string

	remote   *freshness
	cache    store.MetadataStore
	pinning  trustpinning.TrustPinConfig
	retries  int
	tufRepo  *tuf.Repo
	invalid  *tuf.Repo // roles that failed validation, e.g. expired delegations
	reader   client.ReadOnly
	delegs   []data.Role
	released map[string]core.Descriptor
	keys     *Keyring
	posts    *postSpy
	auth     *challengeTransport
	log      *slog.Logger
	stale    error // why the trust data could not be read back after a publish
	warn     func(string)
}

var _ sign.Trust = (*Client)(nil)
var _ sign.TrustRepo = (*Repo)(nil)

// Open implements sign.Trust: it loads the repository's trust data (one
// update) and fails if the repository has none.
func (c *Client) Open(ctx context.Context, gun string) (sign.TrustRepo, error) {
	r, err := c.open(ctx, gun)
	if err != nil {
		return nil, err
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Client) open(ctx context.Context, gun string) (*Repo, error) {
	if err := c.CheckServer(gun); err != nil {
		return nil, err
	}
	server := c.ServerFor(gun)
	host, _, _ := strings.Cut(gun, "/")
	ctxRT := &contextTransport{ctx: ctx, base: c.opts.transport}
	spy := &postSpy{next: ctxRT}
	rt, err := c.authTransport(spy, server, gun, host)
	if err != nil {
		return nil, err
	}
	remote, err := store.NewNotaryServerStore(server, data.GUN(gun), rt)
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "notary server URL %q: %w", server, err)
	}
	cache, err := c.cacheFor(gun)
	if err != nil {
		return nil, err
	}
	return &Repo{gun: data.GUN(gun), server: server, remote: &freshness{RemoteStore: remote}, cache: cache,
		pinning: c.pinning(gun), retries: c.opts.retries, keys: c.opts.keys, posts: spy, auth: rt, log: c.opts.log,
		warn: c.opts.warn}, nil
}

// load fetches and verifies the current trust data.
func (r *Repo) load() error {
	cs, err := r.keys.cryptoService(r.gun)
	if err != nil {
		return err
	}
	repo, invalid, err := client.LoadTUFRepo(client.TUFLoadOptions{
		GUN: r.gun, TrustPinning: r.pinning, CryptoService: cs, Cache: r.cache, RemoteStore: r.remote,
	})
	if err != nil {
		return r.explain(err)
	}
	r.tufRepo, r.invalid, r.reader = repo, invalid, client.NewReadOnly(repo)
	if err := r.checkRoot(); err != nil {
		return err
	}
	return r.index()
}

// index lists the delegations and the released tags of the trust data in
// memory.
func (r *Repo) index() (err error) {
	if r.delegs, err = r.reader.GetDelegationRoles(); err != nil {
		return r.explain(err)
	}
	targets, err := r.reader.ListTargets(ReleasesRole, data.CanonicalTargetsRole)
	if err != nil {
		return r.explain(err)
	}
	r.released = make(map[string]core.Descriptor, len(targets))
	for _, t := range targets {
		if t.Role != ReleasesRole && t.Role != data.CanonicalTargetsRole {
			continue // docker resolves tags through these two roles only
		}
		if h, ok := t.Hashes["sha256"]; ok {
			r.released[t.Name] = core.Descriptor{Digest: "sha256:" + hex.EncodeToString(h), Size: t.Length}
		}
	}
	return nil
}

// SignableRoles implements sign.TrustRepo with docker's GetSignableRoles rule.
func (r *Repo) SignableRoles(tag string) ([]string, []string, error) {
	held := r.rolesHeld(tag)
	if len(r.delegs) == 0 {
		// docker signs into targets when there are no delegations; that needs the targets key.
		if _, err := r.tufRepo.GetBaseRole(data.CanonicalTargetsRole); err != nil {
			return nil, nil, r.explain(err)
		}
		if held.targetsKey == "" {
			return nil, nil, r.noRole()
		}
		return []string{data.CanonicalTargetsRole.String()}, []string{held.targetsKey}, nil
	}
	var roles, keyIDs []string
	for _, d := range held.delegations {
		roles = append(roles, d.role)
		if !slices.Contains(keyIDs, d.keyID) {
			keyIDs = append(keyIDs, d.keyID)
		}
	}
	if len(roles) == 0 {
		return nil, nil, r.noRole()
	}
	if err := r.unusable(roles); err != nil {
		return nil, nil, err
	}
	return roles, keyIDs, nil
}

// heldRole is a direct child delegation of targets that lists one of our keys.
type heldRole struct{ role, keyID string }

// heldRoles is what our keys can sign in this repository: targets (the key ID
// root lists for it, "" when none is ours) and each direct child
// delegation of targets listing one of our keys with the first such key.
type heldRoles struct {
	targetsKey  string
	delegations []heldRole
}

// rolesHeld is docker's rule (GetSignableRoles) for which roles our keys
// sign, computed once for sign (a tag: the delegation's paths must admit
// it) and resign (tag "": every delegation we hold).
func (r *Repo) rolesHeld(tag string) heldRoles {
	ours := map[string]bool{}
	for _, id := range r.keys.IDs() {
		ours[id] = true
	}
	var held heldRoles
	if role, err := r.tufRepo.GetBaseRole(data.CanonicalTargetsRole); err == nil {
		for _, id := range role.ListKeyIDs() {
			if r.holds(id, ours) {
				held.targetsKey = id
				break
			}
		}
	}
	for _, d := range r.delegs {
		if path.Dir(d.Name.String()) != data.CanonicalTargetsRole.String() || tag != "" && !d.CheckPaths(tag) {
			continue
		}
		for _, id := range d.KeyIDs {
			if ours[id] {
				held.delegations = append(held.delegations, heldRole{d.Name.String(), id})
				break
			}
		}
	}
	return held
}

// holds reports whether one of our keys is the role key id, which for base
// roles may be a certificate key whose canonical ID is ours.
func (r *Repo) holds(id string, ours map[string]bool) bool {
	if ours[id] {
		return true
	}
	pub := r.tufRepo.Root.Signed.Keys[id]
	if pub == nil {
		return false
	}
	canonical, err := utils.CanonicalKeyID(pub)
	return err == nil && ours[canonical]
}

func (r *Repo) noRole() error {
	signers := map[string][]string{}
	for _, d := range r.delegs {
		if path.Dir(d.Name.String()) == data.CanonicalTargetsRole.String() && d.Name != ReleasesRole {
			signers[strings.TrimPrefix(d.Name.String(), "targets/")] = append([]string(nil), d.KeyIDs...)
		}
	}
	return core.Classed(core.ClassSigner, &core.NoSignableRoleError{GUN: r.gun.String(), KeyIDs: r.keys.IDs(), Signers: signers})
}

// Released implements sign.TrustRepo.
func (r *Repo) Released(tag string) (core.Descriptor, bool, error) {
	d, ok := r.released[tag]
	return d, ok, nil
}

// Publish implements sign.TrustRepo: all changes go into one publish,
// staged and signed on the trust data loaded (stage.go). A publish the
// server rejects because another job published first is rebased on the
// new metadata and retried.
func (r *Repo) Publish(ctx context.Context, changes core.Changes) error {
	return r.publishTargets(ctx, changes)
}

func notaryTarget(t core.Target) (*client.Target, error) {
	h, err := hex.DecodeString(strings.TrimPrefix(t.Descriptor.Digest, "sha256:"))
	if err != nil || len(h) != 32 || !strings.HasPrefix(t.Descriptor.Digest, "sha256:") {
		return nil, fmt.Errorf("target %s has digest %q, want sha256:<64 hex>", t.Tag, t.Descriptor.Digest)
	}
	return &client.Target{Name: t.Tag, Hashes: data.Hashes{"sha256": h}, Length: t.Descriptor.Size}, nil
}

func roleNames(roles []string) []data.RoleName {
	out := make([]data.RoleName, len(roles))
	for i, r := range roles {
		out[i] = data.RoleName(r)
	}
	return out
}

func descriptorOf(t client.Target) (core.Descriptor, bool) {
	h, ok := t.Hashes["sha256"]
	if !ok {
		return core.Descriptor{}, false
	}
	return core.Descriptor{Digest: "sha256:" + hex.EncodeToString(h), Size: t.Length}, true
}

// Lookup implements sign.TrustRepo with docker's trusted-pull rule.
func (r *Repo) Lookup(tag string) (core.Descriptor, error) {
	t, err := r.reader.GetTargetByName(tag, ReleasesRole, data.CanonicalTargetsRole)
	if err != nil {
		var none client.ErrNoSuchTarget
		if errors.As(err, &none) {
			return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: none.Error()}
		}
		return core.Descriptor{}, r.explain(err)
	}
	if t.Role != ReleasesRole && t.Role != data.CanonicalTargetsRole {
		return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: "No trust data for " + tag}
	}
	d, ok := descriptorOf(t.Target)
	if !ok {
		return core.Descriptor{}, &core.NoTrustError{Ref: tag, Message: "no valid hash, expecting sha256"}
	}
	return d, nil
}

// SignedBy implements sign.TrustRepo.
func (r *Repo) SignedBy(tag string) (map[string]core.Descriptor, error) {
	all, err := r.reader.GetAllTargetMetadataByName(tag)
	if err != nil {
		var none client.ErrNoSuchTarget
		if errors.As(err, &none) {
			return map[string]core.Descriptor{}, nil
		}
		return nil, r.explain(err)
	}
	out := map[string]core.Descriptor{}
	for _, t := range all {
		name := t.Role.Name
		if name == ReleasesRole || !data.IsDelegation(name) {
			continue
		}
		if d, ok := descriptorOf(t.Target); ok {
			out[strings.TrimPrefix(name.String(), "targets/")] = d
		}
	}
	return out, nil
}

// Tags implements sign.TrustRepo with docker's revoke-all listing:
// ListTargets over targets/releases and targets, whose walk takes in every
// child role of targets.
func (r *Repo) Tags() []string {
	// A walk in memory over what load has already listed: it cannot fail.
	listed, _ := r.reader.ListTargets(ReleasesRole, data.CanonicalTargetsRole)
	tags := make([]string, 0, len(listed))
	for _, t := range listed {
		tags = append(tags, t.Name)
	}
	sort.Strings(tags)
	return tags
}

// Witnessable implements sign.TrustRepo.
func (r *Repo) Witnessable() (witness, neverSigned []string) {
	held := r.rolesHeld("")
	if held.targetsKey != "" {
		witness = append(witness, data.CanonicalTargetsRole.String())
	}
	for _, d := range held.delegations {
		if r.neverSigned(data.RoleName(d.role)) {
			neverSigned = append(neverSigned, d.role)
		} else {
			witness = append(witness, d.role)
		}
	}
	return witness, neverSigned
}

// Inspect implements sign.TrustRepo.
func (r *Repo) Inspect(name, tag string) (inspect.Repository, error) {
	if err := r.readBackErr(); err != nil {
		return inspect.Repository{}, err
	}
	return TrustInfo(r.reader, name, tag)
}

// Metadata implements sign.TrustRepo from the verified metadata in memory.
func (r *Repo) Metadata() ([]core.RoleMeta, error) {
	if err := r.readBackErr(); err != nil {
		return nil, err
	}
	var out []core.RoleMeta
	names := append([]string{"root", "targets", "snapshot", "timestamp"}, delegationNames(r.delegs)...)
	for _, name := range names {
		raw, err := r.cache.GetSized(name, -1)
		if err != nil {
			continue
		}
		var m struct {
			Signed struct {
				Version int       `json:"version"`
				Expires time.Time `json:"expires"`
			} `json:"signed"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("reading %s metadata: %w", name, err)
		}
		out = append(out, core.RoleMeta{Role: name, Version: m.Signed.Version, Expires: m.Signed.Expires.UTC()})
	}
	// Delegations that failed validation (typically expired) are not in the
	// cache, but their expiry is what the user needs to see.
	if r.invalid != nil {
		seen := map[string]bool{}
		for _, m := range out {
			seen[m.Role] = true
		}
		for name, role := range r.invalid.Targets {
			if !seen[name.String()] && role != nil {
				out = append(out, core.RoleMeta{Role: name.String(), Version: role.Signed.Version, Expires: role.Signed.Expires.UTC()})
			}
		}
	}
	// The root certificate (10 years from init) expires on its own.
	if root, err := r.tufRepo.GetBaseRole(data.CanonicalRootRole); err == nil {
		for _, k := range root.Keys {
			if cert, err := utils.LoadCertFromPEM(k.Public()); err == nil {
				out = append(out, core.RoleMeta{Role: "root-certificate", Expires: cert.NotAfter.UTC()})
				break
			}
		}
	}
	return out, nil
}

func delegationNames(roles []data.Role) []string {
	var names []string
	for _, d := range roles {
		names = append(names, d.Name.String())
	}
	sort.Strings(names)
	return names
}

// explain turns notary's errors into classed errors with docker's wording
// where docker had one, naming the server.
func (r *Repo) explain(err error) error {
	if refused := r.loginRefused(err); refused != nil {
		return refused
	}
	var net store.NetworkError
	switch {
	case errors.As(err, &net):
		// NetworkError has no Unwrap: look inside it.
		if refused := refusedChallenge(net.Wrapped); refused != nil {
			return refused
		}
		if core.IsCertificateError(net.Wrapped) {
			return core.TLSError(fmt.Errorf("notary server %s: TLS certificate not trusted (%v); pass its CA with --notary-ca", r.server, unwrapURLError(net.Wrapped)))
		}
		if errors.Is(net.Wrapped, context.DeadlineExceeded) {
			// The retries name what kept failing before the deadline.
			return fmt.Errorf("contacting notary server %s: %w", r.server, unwrapURLError(net.Wrapped))
		}
		if errors.Is(net.Wrapped, context.Canceled) {
			return fmt.Errorf("contacting notary server %s: %w", r.server, context.DeadlineExceeded)
		}
		if !r.reachedServer() {
			return core.Classedf(core.ClassNotary, "cannot reach notary server %s: %v", r.server, unwrapURLError(net.Wrapped))
		}
		return core.Classedf(core.ClassNotary, "error contacting notary server %s: %v", r.server, net.Wrapped)
	}
	var notExist client.ErrRepositoryNotExist
	if errors.As(err, &notExist) {
		return core.Classed(core.ClassNotary, &core.NoTrustDataError{GUN: r.gun.String(), Detail: notExist.Error(),
			Hint: fmt.Sprintf("initialize it and add a signer first (`sign-step init` and `sign-step signer add`, or `docker trust signer add NAME %s`)", r.gun)})
	}
	// docker's words for trust data that does not verify (NotaryError).
	var pinFail *trustpinning.ErrValidationFail
	var rotFail *trustpinning.ErrRootRotationFail
	var keyType signed.ErrInvalidKeyType
	var expired signed.ErrExpired
	var low signed.ErrLowVersion
	var threshold signed.ErrRoleThreshold
	switch {
	case errors.As(err, &pinFail), errors.As(err, &rotFail), errors.As(err, &keyType):
		return core.Classedf(core.ClassVerify, "potential malicious behavior - trust data mismatch for remote repository %s: %v", r.gun, err)
	case errors.As(err, &low):
		return core.Classedf(core.ClassVerify, "potential malicious behavior - trust data version is lower than expected for remote repository %s: %v", r.gun, err)
	case errors.As(err, &threshold):
		return core.Classedf(core.ClassVerify, "potential malicious behavior - trust data has insufficient signatures for remote repository %s: %v", r.gun, err)
	case errors.As(err, &expired):
		// The notary client refuses to load expired metadata, so it cannot
		// re-sign it either (notaryproject/notary#1648).
		return core.Classedf(core.ClassNotary, "remote repository %s out-of-date: %v; expired %s metadata cannot be re-signed in place: run resign before expiry (it warns within --warn-within); to recover, delete the repository's trust data on the server and initialize it again", r.gun, err, expired.Role)
	}
	var malicious store.ErrMaliciousServer
	if errors.As(err, &malicious) {
		return core.Classedf(core.ClassNotary, "notary server %s sent an invalid or oversized response for %s (possible attack): %v", r.server, r.gun, err)
	}
	var unavailable store.ErrServerUnavailable
	if errors.As(err, &unavailable) {
		return core.Classedf(core.ClassNotary, "notary server %s: %v", r.server, err)
	}
	var inv store.ErrInvalidOperation
	if errors.As(err, &inv) {
		return core.Classedf(core.ClassNotary, "notary server %s rejected the update: %v", r.server, err)
	}
	if e := r.signerFailure(err); e != nil {
		return e
	}
	if e := r.snapshotRefused(err); e != nil {
		return e
	}
	return core.Classedf(core.ClassNotary, "trust data for %s from %s: %w", r.gun, r.server, err)
}

// contextTransport binds requests to the operation's context: the notary
// client builds its requests without one.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t *contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context() == context.Background() || req.Context() == context.TODO() {
		req = req.WithContext(t.ctx)
	}
	return t.base.RoundTrip(req)
}

// authTransport answers the server's auth challenge with the registry's
// credentials, as docker's GetNotaryRepository does, asking for the scope
// the command needs (scopes.go). Unlike docker it sends no ping of /v2/ to
// learn the challenge: the first request's 401 teaches it (challenge.go).
func (c *Client) authTransport(base http.RoundTripper, server, gun, registryHost string) (*challengeTransport, error) {
	headers := transport.NewHeaderRequestModifier(http.Header{"User-Agent": {c.opts.userAgent}})
	plain := transport.NewTransport(base, headers)
	ping, err := url.Parse(server + "/v2/")
	if err != nil {
		return nil, core.Classedf(core.ClassUsage, "notary server URL %q: %v", server, err)
	}
	// Resolved once per repository, as docker's simpleCredentialStore holds
	// one login: a credential helper runs once, and its failure is named.
	login, err := c.opts.credentials(registryHost)
	if err != nil {
		return nil, err
	}
	store := credentialStore{login: login}
	manager := challenge.NewSimpleManager()
	authorized := func(actions []string) http.RoundTripper {
		tokens := auth.NewTokenHandlerWithOptions(auth.TokenHandlerOptions{
			Transport:   &realmRedirects{next: plain, policy: c.opts.realms, server: ping.Host},
			Credentials: store,
			Scopes:      []auth.Scope{auth.RepositoryScope{Repository: gun, Actions: actions}},
			ClientID:    "docker",
		})
		return transport.NewTransport(base, headers, auth.NewAuthorizer(manager, tokens, auth.NewBasicHandler(store)))
	}
	return &challengeTransport{next: c.opts.access.transport(authorized), manager: manager, ping: ping,
		check: func(m challenge.Manager) error { return c.checkRealms(m, ping) }}, nil
}

// checkRealms applies the realm policy to the token challenges learned:
// docker/distribution's auth client has no check of its own.
func (c *Client) checkRealms(manager challenge.Manager, ping *url.URL) error {
	challenges, err := manager.GetChallenges(*ping)
	if err != nil {
		return nil
	}
	for _, ch := range challenges {
		if realm, ok := ch.Parameters["realm"]; ok && strings.EqualFold(ch.Scheme, "bearer") {
			if err := c.opts.realms.Check(realm, ping.Host); err != nil {
				return core.Classed(core.ClassNotary, err)
			}
			// As go-containerregistry for a secure registry: the login
			// never travels in clear text (notary servers are https only).
			if u, err := url.Parse(realm); err != nil || u.Scheme != "https" {
				return core.Classedf(core.ClassNotary, "notary server %s sends clients to token realm %q: only https realms are used", ping.Host, realm)
			}
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s %s: %w", uerr.Op, uerr.URL, uerr.Err)
	}
	return err
}

type credentialStore struct{ login Credential }

func (s credentialStore) Basic(*url.URL) (string, string) { return s.login.Username, s.login.Password }

// RefreshToken is the identity token, as docker's simpleCredentialStore
// returns it: distribution then POSTs grant_type=refresh_token.
func (s credentialStore) RefreshToken(*url.URL, string) string { return s.login.IdentityToken }

// SetRefreshToken drops refresh tokens the service hands out: nothing asks
// for one (no offline access), and none is kept beyond the run.
func (s credentialStore) SetRefreshToken(*url.URL, string, string) {}

// jitter spreads retries of concurrent jobs: a random duration in [d/2, 3d/2).
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }

// Inspect reads what `docker trust inspect` shows for ref (as the user typed
// it). Failures are carried in the result, as docker reports them per ref.
func (c *Client) Inspect(ctx context.Context, ref string) inspect.Repository {
	r, err := core.ParseRef(ref)
	if err != nil {
		return inspect.Repository{Name: ref, Err: err}
	}
	repo, err := c.open(ctx, r.Name())
	if err != nil {
		return inspect.Repository{Name: ref, Err: err}
	}
	tufRepo, _, err := client.LoadTUFRepo(client.TUFLoadOptions{GUN: repo.gun, TrustPinning: repo.pinning, Cache: repo.cache, RemoteStore: repo.remote})
	if err != nil {
		// What a ping used to catch at open (no server, an untrusted
		// certificate, a refused realm) is named; the rest is docker's words.
		if !repo.reachedServer() || refusedChallenge(err) != nil {
			return inspect.Repository{Name: ref, Err: repo.explain(err)}
		}
		return inspect.Repository{Name: ref, Err: fmt.Errorf("no signatures or cannot access %s", ref)}
	}
	info, err := TrustInfo(client.NewReadOnly(tufRepo), ref, r.Tag)
	if err != nil {
		return inspect.Repository{Name: ref, Err: err}
	}
	return info
}
