package notary_test

import (
	"fmt"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/notary"
)

// BenchmarkTrustInfo is what the trust-inspect artifact costs per
// repository: the whole repository (docker trust inspect REPO) and one tag.
// The fake reader filters linearly, so the one-tag case is an upper bound.
func BenchmarkTrustInfo(b *testing.B) {
	for _, n := range []int{50, 1000} {
		f := &fakeReader{roles: baseRoles, delegations: []data.Role{role(notary.ReleasesRole, "A"), role("targets/ci", "A")}}
		for i := range n {
			name := fmt.Sprintf("t%04d", i)
			f.targets = append(f.targets, target(name, "digest-"+name, notary.ReleasesRole), target(name, "digest-"+name, "targets/ci"))
		}
		var _ client.ReadOnly = f
		b.Run(fmt.Sprintf("repo-%d-tags", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := notary.TrustInfo(f, "r.io/app", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("one-tag-of-%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := notary.TrustInfo(f, "r.io/app:t0007", "t0007"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
