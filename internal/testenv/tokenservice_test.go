package testenv_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/testenv"
)

// tokenReq asks ts for a token: GET with basic auth (user "" for
// anonymous), or POST with form. It returns the decoded answer and status.
func tokenReq(t *testing.T, ts *testenv.TokenService, method, user, pass string, form url.Values) (map[string]any, int) {
	t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequestWithContext(t.Context(), method, "https://"+ts.Addr+"/token?"+form.Encode(), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
	} else {
		req, err = http.NewRequestWithContext(t.Context(), method, "https://"+ts.Addr+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		t.Fatal(err)
	}
	resp, err := env.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body, resp.StatusCode
}

// bearerGet GETs url with token ("" for none) and returns the status and
// the WWW-Authenticate header.
func bearerGet(t *testing.T, u, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := env.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestTokenAuthServers checks that the real registry and notary-server
// accept the token service's tokens for the scopes granted, and refuse no
// token, a token of an untrusted issuer key, a token for the other service
// and an anonymous token for a private repository.
func TestTokenAuthServers(t *testing.T) {
	t.Parallel()
	tr := env.Token
	ts := tr.Tokens
	rogue, err := env.NewTokenService() // same issuer name and protocol, a CA nobody trusts
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rogue.Close() })
	rogue.AddUser(tr.Username, testenv.TokenUser{Password: tr.Password, Access: map[string][]string{"*": {"*"}}})

	repo := strings.TrimPrefix(tr.Repo("token-servers"), tr.Host+"/")
	gun := tr.Host + "/" + repo
	regScope := "repository:" + repo + ":pull,push"
	notaryScope := "repository:" + gun + ":pull,push"

	get := func(ts *testenv.TokenService, service, scope, user, pass string) string {
		body, status := tokenReq(t, ts, http.MethodGet, user, pass, url.Values{"service": {service}, "scope": {scope}})
		if status != http.StatusOK {
			t.Fatalf("GET token from %s: %d", ts.Addr, status)
		}
		tok, _ := body["token"].(string)
		if tok == "" || body["access_token"] != tok {
			t.Fatalf("token answer %v: want equal token and access_token", body)
		}
		return tok
	}
	post := func(form url.Values) map[string]any {
		form.Set("client_id", "sign-step-test")
		body, status := tokenReq(t, ts, http.MethodPost, "", "", form)
		if status != http.StatusOK {
			t.Fatalf("POST token %v: %d", form.Get("grant_type"), status)
		}
		return body
	}
	pw := post(url.Values{"grant_type": {"password"}, "username": {tr.Username}, "password": {tr.Password},
		"service": {testenv.TokenRegistryService}, "scope": {regScope}, "access_type": {"offline"}})
	refresh, _ := pw["refresh_token"].(string)
	if refresh == "" {
		t.Fatalf("password grant with access_type=offline: no refresh_token in %v", pw)
	}
	viaRefresh := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"service": {testenv.TokenNotaryService}, "scope": {notaryScope}})

	regURL := "https://" + tr.Host + "/v2/" + repo + "/tags/list"
	notaryURL := tr.NotaryURL + "/v2/" + gun + "/_trust/tuf/root.json"
	cases := []struct {
		name  string
		url   string
		token string
		want  int // 404: authorized, nothing there yet
	}{
		{"registry/no token", regURL, "", http.StatusUnauthorized},
		{"registry/basic GET token", regURL, get(ts, testenv.TokenRegistryService, regScope, tr.Username, tr.Password), http.StatusNotFound},
		{"registry/password grant", regURL, pw["access_token"].(string), http.StatusNotFound},
		{"registry/anonymous token, private repo", regURL, get(ts, testenv.TokenRegistryService, regScope, "", ""), http.StatusUnauthorized},
		{"registry/token for notary", regURL, get(ts, testenv.TokenNotaryService, regScope, tr.Username, tr.Password), http.StatusUnauthorized},
		{"registry/untrusted signing key", regURL, get(rogue, testenv.TokenRegistryService, regScope, tr.Username, tr.Password), http.StatusUnauthorized},
		{"notary/no token", notaryURL, "", http.StatusUnauthorized},
		{"notary/basic GET token", notaryURL, get(ts, testenv.TokenNotaryService, notaryScope, tr.Username, tr.Password), http.StatusNotFound},
		{"notary/refresh grant", notaryURL, viaRefresh["access_token"].(string), http.StatusNotFound},
		{"notary/token for registry", notaryURL, get(ts, testenv.TokenRegistryService, notaryScope, tr.Username, tr.Password), http.StatusUnauthorized},
		{"notary/untrusted signing key", notaryURL, get(rogue, testenv.TokenNotaryService, notaryScope, tr.Username, tr.Password), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge := bearerGet(t, tc.url, tc.token)
			if status != tc.want {
				t.Fatalf("GET %s = %d, want %d (challenge %q)", tc.url, status, tc.want, challenge)
			}
			if status == http.StatusUnauthorized && !strings.Contains(challenge, `realm="`+ts.Realm+`"`) {
				t.Errorf("challenge %q does not name the realm %s", challenge, ts.Realm)
			}
		})
	}
}

// TestTokenServiceGrants checks what the service grants and logs, and that
// go-containerregistry, as sign-step uses it, pushes and pulls through it.
func TestTokenServiceGrants(t *testing.T) {
	t.Parallel()
	tr := env.Token
	ts := tr.Tokens
	ref := tr.Repo("token-grants")
	repo := strings.TrimPrefix(ref, tr.Host+"/")
	ts.AddUser("reader-"+repo, testenv.TokenUser{Password: "reader-pass-" + repo, Access: map[string][]string{repo: {"pull"}}})

	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	pull := func(a authn.Authenticator) error {
		_, err := remote.Get(r, remote.WithTransport(env.Transport()), remote.WithAuth(a))
		return err
	}
	if err := remote.Write(r, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: tr.Username, Password: tr.Password})); err != nil {
		t.Fatalf("push with the admin login: %v", err)
	}
	if err := pull(authn.Anonymous); err == nil {
		t.Fatal("anonymous pull of a private repository succeeded")
	}
	if err := pull(&authn.Basic{Username: "reader-" + repo, Password: "wrong"}); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
	if err := pull(&authn.Basic{Username: "reader-" + repo, Password: "reader-pass-" + repo}); err != nil {
		t.Fatalf("pull with a pull-only login: %v", err)
	}
	r2, err := name.ParseReference(ref + ":v2") // a new tag: v1 exists, and ggcr skips what exists
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r2, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: "reader-" + repo, Password: "reader-pass-" + repo})); err == nil {
		t.Fatal("push with a pull-only login succeeded")
	}
	ts.AllowAnonymousPull(repo)
	if err := pull(authn.Anonymous); err != nil {
		t.Fatalf("anonymous pull of a public repository: %v", err)
	}

	// The log says who asked for what and what they got.
	type row struct {
		grant, user string
		ok          bool
		granted     string
	}
	var got []row
	for _, q := range ts.RequestsFor(repo) {
		got = append(got, row{q.Grant, q.User, q.OK, strings.Join(q.Granted, " ")})
	}
	want := []row{
		{"basic", tr.Username, true, "repository:" + repo + ":push,pull"}, // the order ggcr asks in
		{"anonymous", "", true, ""},
		{"basic", "reader-" + repo, false, ""},
		{"basic", "reader-" + repo, true, "repository:" + repo + ":pull"},
		{"basic", "reader-" + repo, true, "repository:" + repo + ":pull"}, // asked push,pull
		{"anonymous", "", true, "repository:" + repo + ":pull"},
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("log lacks %+v; log: %+v", w, got)
		}
	}
	if !ts.SawPassword(tr.Password) || ts.SawPassword("never-sent-"+repo) {
		t.Error("SawPassword does not tell sent from unsent passwords")
	}
}

// TestTokenServiceRefuses checks the answers to bad logins and malformed
// requests: no token, and each logged with the user it claimed.
func TestTokenServiceRefuses(t *testing.T) {
	t.Parallel()
	ts := env.Token.Tokens
	scope := "repository:refuses:pull"
	tests := []struct {
		name       string
		method     string
		user, pass string
		form       url.Values
		want       int
	}{
		{"GET, wrong password", http.MethodGet, env.Token.Username, "wrong", url.Values{"scope": {scope}}, http.StatusUnauthorized},
		{"GET, unknown user", http.MethodGet, "nobody-refuses", "x", url.Values{"scope": {scope}}, http.StatusUnauthorized},
		{"POST password, wrong password", http.MethodPost, "", "", url.Values{"grant_type": {"password"}, "username": {env.Token.Username}, "password": {"wrong"}, "client_id": {"c"}, "scope": {scope}}, http.StatusUnauthorized},
		{"POST refresh, unknown token", http.MethodPost, "", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-issued"}, "client_id": {"c"}, "scope": {scope}}, http.StatusUnauthorized},
		{"POST refresh, empty token", http.MethodPost, "", "", url.Values{"grant_type": {"refresh_token"}, "client_id": {"c"}, "scope": {scope}}, http.StatusBadRequest},
		{"POST without client_id", http.MethodPost, "", "", url.Values{"grant_type": {"password"}, "username": {env.Token.Username}, "password": {env.Token.Password}, "scope": {scope}}, http.StatusBadRequest},
		{"POST, unknown grant", http.MethodPost, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "scope": {scope}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, status := tokenReq(t, ts, tt.method, tt.user, tt.pass, tt.form)
			if status != tt.want || body["token"] != nil || body["access_token"] != nil {
				t.Errorf("status %d (body %v), want %d and no token", status, body, tt.want)
			}
			log := ts.RequestsFor("refuses") // these subtests run one after another
			claimed := tt.user + tt.form.Get("username")
			if last := log[len(log)-1]; last.Status != tt.want || last.User != claimed || last.OK {
				t.Errorf("logged %+v, want status %d for user %q, not OK", last, tt.want, claimed)
			}
		})
	}
}
