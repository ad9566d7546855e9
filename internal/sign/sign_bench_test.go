package sign

import (
	"context"
	"fmt"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// BenchmarkSign is sign-step's own work around the network: parsing and
// grouping refs, resolving (fake registry), role checks and target
// assembly, for one repository with many tags and many repositories.
func BenchmarkSign(b *testing.B) {
	for _, c := range []struct{ repos, tags int }{{1, 50}, {1, 1000}, {200, 5}} {
		tags := map[string]core.Descriptor{}
		var refs []string
		for r := range c.repos {
			for t := range c.tags {
				ref := fmt.Sprintf("registry.example.com/team/app%d:v%d", r, t)
				refs = append(refs, ref)
				tags[ref] = core.Descriptor{Digest: digestOf(r*c.tags + t), Size: 1234}
			}
		}
		b.Run(fmt.Sprintf("%d-repos-x-%d-tags", c.repos, c.tags), func(b *testing.B) {
			for b.Loop() {
				s := &UseCases{Registry: &fakeRegistry{tags: tags}, Trust: &fakeTrust{}}
				if _, err := s.Sign(context.Background(), SignRequest{Refs: refs}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
