package notary

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/httpx"
)

// redirectTo answers every request with a 307 to loc.
type redirectTo string

func (loc redirectTo) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{}
	if loc != "" {
		h.Set("Location", string(loc))
	}
	return &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func TestTokenRedirectsMeetTheRealmPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		loc     string
		allowed []string
		refused bool
	}{
		{"https://auth.example.com/token", nil, false},
		{"/token2", nil, false}, // same host
		{"https://10.1.2.3:6000/token", nil, false},
		{"https://169.254.169.254/latest/meta-data", nil, true},
		{"https://10.9.9.9/token", nil, true},
		{"https://10.9.9.9/token", []string{"10.9.9.9"}, false},
		{"http://auth.example.com/token", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.loc, func(t *testing.T) {
			t.Parallel()
			rt := &realmRedirects{next: redirectTo(tt.loc), policy: httpx.RealmPolicy{Allowed: tt.allowed}, server: "10.1.2.3:4443"}
			req, _ := http.NewRequest(http.MethodPost, "https://10.1.2.3:5001/token", strings.NewReader("grant_type=refresh_token"))
			resp, err := rt.RoundTrip(req)
			if (err != nil) != tt.refused {
				t.Fatalf("redirect to %s: err %v, refused want %v", tt.loc, err, tt.refused)
			}
			if err == nil {
				resp.Body.Close()
			}
		})
	}
}

func TestMetadataReadsArePullOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		read         bool
	}{
		{http.MethodGet, "/v2/", true},
		{http.MethodGet, "/v2/reg/app/_trust/tuf/root.json", true},
		{http.MethodGet, "/v2/reg/app/_trust/tuf/2.root.json", true},
		{http.MethodGet, "/v2/reg/app/_trust/tuf/targets/releases.json", true},
		{http.MethodGet, "/v2/reg/app/_trust/tuf/timestamp.key", false}, // notary-server wants push,pull
		{http.MethodPost, "/v2/reg/app/_trust/tuf/", false},
		{http.MethodDelete, "/v2/reg/app/_trust/tuf/", false},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, "https://notary.example"+tt.path, nil)
		if got := metadataRead(req); got != tt.read {
			t.Errorf("%s %s: read %v, want %v", tt.method, tt.path, got, tt.read)
		}
	}
}
