package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/sign-step/sign-step/internal/core"
)

// TestWrongPasswordAsksOnce: a registry whose token service refuses the
// login. Resolving several tags of one repository asks the token service
// once, not once per tag (repeated bad logins lock accounts), and never
// pings /v2/.
func TestWrongPasswordAsksOnce(t *testing.T) {
	t.Parallel()
	var tokens, pings atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token":
			tokens.Add(1)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		case r.URL.Path == "/v2/":
			pings.Add(1)
			fallthrough
		default:
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg"`, srv.URL))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	reg := New(WithTransport(srv.Client().Transport), WithKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "ci", Password: "wrong"})}))
	// One after another, as the later tags of a run come after the first
	// ones (concurrent ones share one exchange either way).
	errs := make([]error, 8)
	for i := range errs {
		_, errs[i] = reg.Resolve(context.Background(), core.Ref{Registry: host, Repository: "team/app", Tag: fmt.Sprintf("v%d", i)})
	}
	for i, err := range errs {
		if err == nil {
			t.Fatalf("tag %d resolved with a refused login", i)
		}
	}
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d token requests for 8 tags of one repository with a wrong password, want 1", n)
	}
	if n := pings.Load(); n != 0 {
		t.Errorf("%d pings of /v2/, want none", n)
	}
}

type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }
