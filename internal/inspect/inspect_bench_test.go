package inspect

import (
	"bytes"
	"fmt"
	"testing"
)

// benchRepo is a repository as sign-step leaves it: n released tags, each
// signed by one signer, two signers, root and targets keys.
func benchRepo(n int) Repository {
	r := Repository{
		Name:               "registry.example.com/team/app",
		Signers:            []Signer{{Name: "ci", Keys: []string{hexOf("ci-key")}}, {Name: "alice", Keys: []string{hexOf("alice-key")}}},
		AdministrativeKeys: []Signer{{Name: AdminRoot, Keys: []string{hexOf("root-key")}}, {Name: AdminRepository, Keys: []string{hexOf("targets-key")}}},
	}
	// Reverse order, so the natural sort has work to do.
	for i := n; i > 0; i-- {
		r.SignedTags = append(r.SignedTags, SignedTag{Tag: fmt.Sprintf("v1.%d", i), Digest: fmt.Sprintf("%064x", i), Signers: []string{"ci"}})
	}
	return r
}

func BenchmarkFormat(b *testing.B) {
	for _, n := range []int{50, 1000} {
		repos := []Repository{benchRepo(n)}
		for _, f := range []struct {
			name string
			fn   func(*bytes.Buffer, []Repository) error
		}{
			{"json", func(w *bytes.Buffer, r []Repository) error { return JSON(w, r) }},
			{"pretty", func(w *bytes.Buffer, r []Repository) error { return Pretty(w, r) }},
		} {
			b.Run(fmt.Sprintf("%s-%d-tags", f.name, n), func(b *testing.B) {
				var buf bytes.Buffer
				for b.Loop() {
					buf.Reset()
					if err := f.fn(&buf, repos); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(buf.Len()))
			})
		}
	}
}
