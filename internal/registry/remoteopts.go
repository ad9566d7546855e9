package registry

import (
	"context"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RemoteOptions are the go-containerregistry options of this Registry (TLS,
// https-only, credentials, user agent), for adapters that store signatures
// next to images (cosign).
func (r *Registry) RemoteOptions(ctx context.Context) []remote.Option { return r.remoteOptions(ctx) }

// Transport is the base transport, https-only unless --insecure-registry.
func (r *Registry) Transport() http.RoundTripper { return r.opts.transport }

// Keychain is where registry credentials come from.
func (r *Registry) Keychain() authn.Keychain { return r.opts.keychain }
