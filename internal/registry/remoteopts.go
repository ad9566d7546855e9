package registry

import (
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/sign-step/sign-step/internal/core"
)

// Transport, Keychain and UserAgent are what adapters that store
// signatures next to images (cosign, Notation) reach the registry with.

// Transport is the base transport, https-only unless --insecure-registry.
func (r *Registry) Transport() http.RoundTripper { return r.opts.transport }

// UserAgent is the User-Agent of every request.
func (r *Registry) UserAgent() string { return r.opts.userAgent }

// Keychain is where registry credentials come from.
func (r *Registry) Keychain() authn.Keychain { return r.opts.keychain }

// Reference is ref as go-containerregistry names it here (strict, plain
// HTTP only for --insecure-registry hosts).
func (r *Registry) Reference(ref core.Ref) (name.Reference, error) { return r.reference(ref) }

// PlainHTTP reports whether host may be reached over plain HTTP (--insecure-registry).
func (r *Registry) PlainHTTP(host string) bool { return r.isInsecure(host) }
