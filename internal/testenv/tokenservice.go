package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// TokenService is a Docker registry token service (the protocol of
// distribution's docs/spec/auth/token.md and oauth.md) on loopback with
// TLS, written for tests because none is in the module proxy. The real
// registry and notary-server verify its tokens against RootCertFile, as
// they would a production token service's.
//
// It speaks:
//   - GET /token?service=S&scope=…[&offline_token=true&client_id=…], with
//     HTTP basic auth or anonymously;
//   - POST /token, form grant_type=password (username, password) or
//     grant_type=refresh_token (refresh_token), with service, scope (space
//     separated), client_id and access_type=offline for a refresh token.
//
// Tokens are ES256 JWTs whose header carries an x5c chain (a leaf signed by
// the service's own CA). Every request is logged (Requests) with who asked,
// the grant, and the scopes requested and granted, so tests can assert who
// sent which credentials and least privilege.
type TokenService struct {
	Addr         string // "127.0.0.1:PORT"
	Realm        string // https://localhost:PORT/token (see realmHost)
	Issuer       string // the iss claim registries must trust
	RootCertPEM  []byte // the CA of the signing chain (a registry's rootcertbundle)
	RootCertFile string // RootCertPEM on disk

	key  *ecdsa.PrivateKey
	x5c  []string // leaf, base64 DER
	srv  *http.Server
	ttl  time.Duration
	mu   sync.Mutex
	log  []TokenRequest
	seen map[[32]byte]bool // SHA-256 of every password presented, right or wrong

	users     map[string]TokenUser
	public    []string          // repository patterns anyone may pull
	refreshes map[string]string // refresh token -> user
}

// TokenUser is an account of the token service.
type TokenUser struct {
	Password string
	// Access lists what the user may do: repository pattern -> actions
	// ("pull", "push", "delete", "*"). A pattern ending in "*" is a prefix.
	Access map[string][]string
	// RefreshToken, if set, is also accepted as this user's refresh token,
	// as an identity token from `docker login` or `az acr login` would be.
	RefreshToken string
}

// TokenRequest is one request the token service answered.
type TokenRequest struct {
	Method   string   // GET or POST
	Grant    string   // "anonymous", "basic" (GET), "password" or "refresh_token" (POST)
	User     string   // the username presented ("" when anonymous); also on failure
	OK       bool     // the credentials were right (always true for anonymous)
	Service  string   // the service parameter
	ClientID string   // client_id
	Scopes   []string // requested, as sent
	Granted  []string // granted, "repository:NAME:a,b"; empty when refused
	Status   int      // HTTP status of the answer
}

// realmHost is the realm's host: a DNS name, because go-containerregistry
// v0.22.1 (pkg/v1/remote/transport/bearer.go validateRealmURL) refuses a
// realm whose host is a loopback, private, link-local or unspecified IP
// literal unless it is the registry's own host:port exactly. DNS names are
// not resolved for that check, so https://localhost:PORT passes, as
// auth.example.com does for a real deployment. Realms on IP literals (the
// registry's own IP at another port, another private IP) are served by
// Env.TokenRegistryWithRealm and TokenService.Listen.
const realmHost = "localhost"

const tokenIssuer = "sign-step-testenv-token-issuer"

// NewTokenService starts a token service with no users (AddUser) serving
// TLS with the Env's server certificate. Close stops it; Env.Close closes
// the one WithTokenRegistry started.
func (e *Env) NewTokenService() (*TokenService, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.Dir, "server.crt"), filepath.Join(e.Dir, "server.key"))
	if err != nil {
		return nil, err
	}
	ts := &TokenService{Issuer: tokenIssuer, ttl: 5 * time.Minute, seen: map[[32]byte]bool{},
		users: map[string]TokenUser{}, refreshes: map[string]string{}}
	if err := ts.makeSigningChain(); err != nil {
		return nil, err
	}
	ts.RootCertFile = filepath.Join(e.Dir, "token-ca-"+randomHex(4)+".crt")
	if err := os.WriteFile(ts.RootCertFile, ts.RootCertPEM, 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ts.Addr = ln.Addr().String()
	_, port, _ := net.SplitHostPort(ts.Addr)
	ts.Realm = "https://" + net.JoinHostPort(realmHost, port) + "/token"
	mux := http.NewServeMux()
	mux.HandleFunc("/token", ts.serveToken)
	ts.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	go func() { _ = ts.srv.Serve(tln) }()
	return ts, nil
}

// Close stops the service.
func (ts *TokenService) Close() error { return ts.srv.Close() }

// AddUser adds (or replaces) an account.
func (ts *TokenService) AddUser(name string, u TokenUser) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.users[name] = u
	if u.RefreshToken != "" {
		ts.refreshes[u.RefreshToken] = name
	}
}

// AllowAnonymousPull lets anyone, logged in or not, pull repositories
// matching pattern (a trailing "*" is a prefix).
func (ts *TokenService) AllowAnonymousPull(pattern string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.public = append(ts.public, pattern)
}

// Requests returns every request answered so far, oldest first.
func (ts *TokenService) Requests() []TokenRequest {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.log)
}

// RequestsFor returns the requests that asked for a scope on repository.
func (ts *TokenService) RequestsFor(repository string) []TokenRequest {
	var out []TokenRequest
	for _, r := range ts.Requests() {
		for _, s := range r.Scopes {
			if _, name, _, ok := parseScope(s); ok && name == repository {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// SawPassword reports whether password was ever presented to the service,
// as basic auth or a password grant, right or wrong. Only a hash is kept.
func (ts *TokenService) SawPassword(password string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.seen[sha256.Sum256([]byte(password))]
}

func (ts *TokenService) serveToken(w http.ResponseWriter, r *http.Request) {
	rec := TokenRequest{Method: r.Method}
	var (
		user, pass string
		hasCreds   bool
		offline    bool
		refresh    string
	)
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		rec.Service, rec.ClientID, rec.Scopes = q.Get("service"), q.Get("client_id"), q["scope"]
		offline = q.Get("offline_token") == "true"
		user, pass, hasCreds = r.BasicAuth()
		ts.sawLogin(&rec, user, pass, hasCreds)
		rec.Grant = "anonymous"
		if hasCreds {
			rec.Grant = "basic"
		}
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			ts.answer(w, &rec, http.StatusBadRequest, nil)
			return
		}
		f := r.PostForm
		rec.Service, rec.ClientID, rec.Grant = f.Get("service"), f.Get("client_id"), f.Get("grant_type")
		rec.Scopes = strings.Fields(f.Get("scope"))
		offline = f.Get("access_type") == "offline"
		switch rec.Grant {
		case "password":
			user, pass, hasCreds = f.Get("username"), f.Get("password"), true
			ts.sawLogin(&rec, user, pass, hasCreds)
		case "refresh_token":
			if refresh = f.Get("refresh_token"); refresh == "" {
				ts.answer(w, &rec, http.StatusBadRequest, nil)
				return
			}
		default:
			ts.answer(w, &rec, http.StatusBadRequest, nil)
			return
		}
		if rec.ClientID == "" { // required by the OAuth2 spec of distribution
			ts.answer(w, &rec, http.StatusBadRequest, nil)
			return
		}
	default:
		ts.answer(w, &rec, http.StatusMethodNotAllowed, nil)
		return
	}

	ts.mu.Lock()
	var account *TokenUser
	switch {
	case refresh != "":
		if name, ok := ts.refreshes[refresh]; ok {
			u := ts.users[name]
			account, rec.User = &u, name
		}
	case hasCreds:
		if u, ok := ts.users[user]; ok && subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) == 1 {
			account = &u
		}
	}
	rec.OK = account != nil || (!hasCreds && refresh == "")
	var granted []access
	if rec.OK {
		granted = ts.grant(account, rec.Scopes)
	}
	newRefresh := ""
	if rec.OK && account != nil && offline {
		newRefresh = randomHex(16)
		ts.refreshes[newRefresh] = rec.User
	}
	ts.mu.Unlock()

	if !rec.OK {
		ts.answer(w, &rec, http.StatusUnauthorized, nil)
		return
	}
	token, err := ts.sign(rec.User, rec.Service, granted)
	if err != nil {
		ts.answer(w, &rec, http.StatusInternalServerError, nil)
		return
	}
	for _, g := range granted {
		rec.Granted = append(rec.Granted, g.Type+":"+g.Name+":"+strings.Join(g.Actions, ","))
	}
	body := map[string]any{"access_token": token, "expires_in": int(ts.ttl.Seconds()),
		"issued_at": time.Now().UTC().Format(time.RFC3339)}
	if r.Method == http.MethodGet {
		body["token"] = token // the GET flow's name; access_token is its OAuth2 alias
	} else {
		body["scope"] = strings.Join(rec.Scopes, " ")
	}
	if newRefresh != "" {
		body["refresh_token"] = newRefresh
	}
	ts.answer(w, &rec, http.StatusOK, body)
}

// sawLogin records a login as presented, before anything can refuse it.
func (ts *TokenService) sawLogin(rec *TokenRequest, user, pass string, ok bool) {
	if !ok {
		return
	}
	rec.User = user
	ts.mu.Lock()
	ts.seen[sha256.Sum256([]byte(pass))] = true
	ts.mu.Unlock()
}

// answer logs rec with status and writes body (or an error) as JSON.
func (ts *TokenService) answer(w http.ResponseWriter, rec *TokenRequest, status int, body any) {
	rec.Status = status
	ts.mu.Lock()
	ts.log = append(ts.log, *rec)
	ts.mu.Unlock()
	if body == nil {
		w.Header().Set("WWW-Authenticate", `Basic realm="sign-step-testenv"`)
		body = map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": http.StatusText(status)}}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// access is one entry of the token's access claim.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// grant intersects the requested scopes with what account (nil: anonymous)
// may do. Unknown scopes are dropped, as distribution's spec asks: the
// registry then answers 401 insufficient_scope. Called with ts.mu held.
func (ts *TokenService) grant(account *TokenUser, scopes []string) []access {
	var out []access
	for _, s := range scopes {
		typ, name, actions, ok := parseScope(s)
		if !ok || typ != "repository" {
			continue
		}
		var allowed []string
		if slices.ContainsFunc(ts.public, func(p string) bool { return matchRepo(p, name) }) {
			allowed = append(allowed, "pull")
		}
		if account != nil {
			for p, acts := range account.Access {
				if matchRepo(p, name) {
					allowed = append(allowed, acts...)
				}
			}
		}
		var got []string
		for _, a := range actions {
			if (slices.Contains(allowed, a) || slices.Contains(allowed, "*")) && !slices.Contains(got, a) {
				got = append(got, a)
			}
		}
		if len(got) > 0 {
			out = append(out, access{Type: typ, Name: name, Actions: got})
		}
	}
	return out
}

// parseScope splits "repository:NAME:a,b". NAME may hold colons (a port in
// a notary GUN), so the actions are after the last one.
func parseScope(s string) (typ, name string, actions []string, ok bool) {
	typ, rest, ok1 := strings.Cut(s, ":")
	i := strings.LastIndex(rest, ":")
	if !ok1 || i <= 0 {
		return "", "", nil, false
	}
	return typ, rest[:i], strings.Split(rest[i+1:], ","), true
}

func matchRepo(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

// sign makes an ES256 JWT for the registry (or notary) named service.
func (ts *TokenService) sign(subject, service string, granted []access) (string, error) {
	now := time.Now()
	if granted == nil {
		granted = []access{} // "access": [] as real services send, not null
	}
	header, err := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": ts.x5c})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": ts.Issuer, "sub": subject,
		"aud": service, // a string: notary's distribution v2.7 reads no list
		"exp": now.Add(ts.ttl).Unix(), "nbf": now.Add(-time.Second).Unix(), "iat": now.Unix(),
		"jti": randomHex(16), "access": granted,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64) // JWS ES256: R and S, 32 bytes each
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig), nil
}

// makeSigningChain makes the service's own CA and the leaf that signs
// tokens. The leaf has no extended key usage, so verifiers that default to
// server auth (distribution v2.7 in notary) and those asking for any accept it.
func (ts *TokenService) makeSigningChain() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sign-step testenv token CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if ts.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sign-step testenv token signer"},
		NotBefore: caTmpl.NotBefore, NotAfter: caTmpl.NotAfter, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &ts.key.PublicKey, caKey)
	if err != nil {
		return err
	}
	ts.x5c = []string{base64.StdEncoding.EncodeToString(leafDER)}
	ts.RootCertPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
