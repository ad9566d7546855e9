package notary

import (
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

// A trust server URL with credentials is refused without printing them:
// every message naming the server would show the password.
func TestWithServerRefusesUserinfo(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"https://ci:S3cretPassw0rd@notary:4443", "https://ci:S3cretPassw0rd@notary:bad", "http://S3cretPassw0rd@notary"} {
		_, err := New(WithServer(u))
		if err == nil || core.ClassOf(err) != core.ClassUsage || !strings.Contains(err.Error(), "with credentials (user:password@) is refused") {
			t.Errorf("%s: %v, want a usage error refusing credentials", u, err)
		} else if strings.Contains(err.Error(), "S3cretPassw0rd") {
			t.Errorf("%s: error shows the password: %v", u, err)
		}
	}
}
