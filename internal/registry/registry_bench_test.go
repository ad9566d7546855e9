package registry

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/core"
)

// BenchmarkResolve resolves 50 tags of one repository, 16 at a time, as
// sign does, against an in-memory registry over TLS on loopback: "shared"
// is Resolve (one puller: one /v2/ ping per repository), "per-call" is the
// previous code (remote.Head per tag: a ping and a HEAD per tag).
func BenchmarkResolve(b *testing.B) {
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	// As internal/httpx configures it: keep-alive with up to 32 idle connections per host.
	rt := srv.Client().Transport.(*http.Transport).Clone()
	rt.MaxIdleConnsPerHost = 32
	img, err := random.Image(256, 1)
	if err != nil {
		b.Fatal(err)
	}
	var refs []core.Ref
	for i := range 50 {
		s := fmt.Sprintf("%s/bench/app:t%02d", host, i)
		tag, err := name.NewTag(s, name.StrictValidation)
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(tag, img, remote.WithTransport(rt)); err != nil {
			b.Fatal(err)
		}
		ref, err := core.ParseRef(s)
		if err != nil {
			b.Fatal(err)
		}
		refs = append(refs, ref)
	}
	ctx := context.Background()
	resolveAll := func(b *testing.B, resolve func(core.Ref) error) {
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, ref := range refs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := resolve(ref); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.Run("shared", func(b *testing.B) {
		for b.Loop() {
			r := New(WithTransport(rt)) // a run's Registry: the ping happens once
			resolveAll(b, func(ref core.Ref) error { _, err := r.Resolve(ctx, ref); return err })
		}
	})
	b.Run("per-call", func(b *testing.B) {
		for b.Loop() {
			r := New(WithTransport(rt))
			resolveAll(b, func(ref core.Ref) error {
				nref, err := r.reference(ref)
				if err == nil {
					_, err = remote.Head(nref, r.remoteOptions(ctx)...)
				}
				return err
			})
		}
	})
}
