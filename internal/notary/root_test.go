package notary

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// TestRootStateCheck: a run that publishes without the root key is refused
// exactly inside notary's window (root.json expiring before now + 6 months,
// client/helpers.go nearExpiry); warnings start at 7 months, for root.json
// and for the root certificate.
func TestRootStateCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	far := now.AddDate(5, 0, 0)
	cases := []struct {
		name        string
		st          rootState
		wantRefused bool
		wantWarn    string // "" for none
	}{
		{"far, writing, no root key", rootState{expires: far, certExpires: far, writing: true}, false, ""},
		{"inside 6 months, writing, no root key", rootState{expires: now.AddDate(0, 5, 0), certExpires: far, writing: true}, true, ""},
		{"just inside 6 months", rootState{expires: now.AddDate(0, 6, 0).Add(-time.Minute), writing: true}, true, ""},
		{"just outside 6 months: warned", rootState{expires: now.AddDate(0, 6, 0).Add(time.Minute), writing: true}, false, "root.json expires 2027-06-01"},
		{"inside 6 months, root key held", rootState{expires: now.AddDate(0, 5, 0), writing: true, held: true}, false, "root.json expires 2027-05-01"},
		{"inside 6 months, read-only run", rootState{expires: now.AddDate(0, 5, 0)}, false, "from 2026-11-01 every publish without the root key fails"},
		{"6.5 months: warned", rootState{expires: now.AddDate(0, 6, 15), writing: true}, false, "root.json expires 2027-06-16"},
		{"7 months and a day: quiet", rootState{expires: now.AddDate(0, 7, 1), writing: true}, false, ""},
		{"certificate within 7 months", rootState{expires: far, certExpires: now.AddDate(0, 3, 0), writing: true}, false, "root certificate expires 2027-03-01"},
		{"certificate far", rootState{expires: far, certExpires: now.AddDate(0, 8, 0), writing: true}, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.st.gun = "example.com/app"
			warn, err := tc.st.check(now)
			var due *RootDueError
			if refused := errors.As(err, &due); refused != tc.wantRefused {
				t.Fatalf("refused = %v (%v), want %v", refused, err, tc.wantRefused)
			}
			if tc.wantRefused {
				if core.ClassOf(err) != core.ClassKey || !strings.Contains(err.Error(), "sign-step root renew example.com/app --root-key K") {
					t.Errorf("refusal %q (class %d), want exit 3 naming root renew", err, core.ClassOf(err))
				}
				return
			}
			if (warn == "") != (tc.wantWarn == "") || !strings.Contains(warn, tc.wantWarn) {
				t.Errorf("warning %q, want one with %q", warn, tc.wantWarn)
			}
			if warn != "" && !strings.Contains(warn, "sign-step root renew example.com/app") {
				t.Errorf("warning %q does not name the way out", warn)
			}
		})
	}
}
