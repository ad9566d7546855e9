package notation_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/sign-step/sign-step/internal/notation"
	"github.com/sign-step/sign-step/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testenv.Main(m, &env, testenv.WithAuthRegistry()))
}

func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("end-to-end: needs the registry (not with -short)")
	}
}

// pki is a test CA and a leaf certifying key, as the README tells users to
// make for a DCT delegation key.
type pki struct {
	key   *ecdsa.PrivateKey
	chain []*x509.Certificate
	store string // Notation trust store dir holding the CA as "ca:test"
}

func newPKI(t *testing.T) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA", Organization: []string{"sign-step"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "ci signer", Organization: []string{"sign-step"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	store := t.TempDir()
	d := filepath.Join(store, "x509", "ca", "test")
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pki{key: key, chain: []*x509.Certificate{leaf, ca}, store: store}
}

func policy(t *testing.T, identity string) *trustpolicy.Document {
	t.Helper()
	var doc trustpolicy.Document
	js := `{"version":"1.0","trustPolicies":[{"name":"test","registryScopes":["*"],
		"signatureVerification":{"level":"strict"},"trustStores":["ca:test"],"trustedIdentities":["` + identity + `"]}]}`
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func push(t *testing.T, repo string) string {
	t.Helper()
	img, _ := random.Image(256, 1)
	tag, _ := name.NewTag(repo + ":v1")
	if err := remote.Write(tag, img, remote.WithTransport(env.Transport())); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return repo + "@" + h.String()
}

func client() *notation.Client { return notation.New(env.Transport(), nil) }

func referrers(t *testing.T, img string) int {
	t.Helper()
	repo, dgst, _ := strings.Cut(img, "@")
	host, path, _ := strings.Cut(repo, "/")
	// Count through whichever store the registry uses: the referrers API, or
	// the tag-schema index sha256-<hex>.
	resp, err := env.HTTPClient().Get("https://" + host + "/v2/" + path + "/referrers/" + dgst)
	if err == nil && resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "application/vnd.oci.image.index.v1+json" {
		defer resp.Body.Close()
		var idx struct{ Manifests []json.RawMessage }
		_ = json.NewDecoder(resp.Body).Decode(&idx)
		t.Logf("registry has the referrers API")
		return len(idx.Manifests)
	}
	if resp != nil {
		resp.Body.Close()
	}
	tag, _ := name.NewTag(repo + ":" + strings.Replace(dgst, ":", "-", 1))
	idx, err := remote.Index(tag, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatalf("no referrers API and no tag-schema index %s: %v", tag, err)
	}
	m, _ := idx.IndexManifest()
	t.Logf("registry has no referrers API: tag-schema index %s", tag)
	return len(m.Manifests)
}

// notation-go's own verifier accepts what the adapter writes, with a trust
// store holding the CA; a second Sign adds nothing; another CA, a wrong
// trusted identity, or an unsigned image are refused.
func TestSignVerifiedByNotationGo(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	p := newPKI(t)
	img := push(t, env.Repo("notation/adapter"))
	unsigned := push(t, env.Repo("notation/unsigned"))
	s, err := notation.NewSigner(p.key, p.chain)
	if err != nil {
		t.Fatal(err)
	}
	res, err := client().Sign(ctx, img, s)
	if err != nil || !res.Added {
		t.Fatalf("Sign: %+v %v", res, err)
	}
	if _, err := client().Verify(ctx, img, policy(t, "*"), p.store); err != nil {
		t.Fatalf("notation-go refused our signature: %v", err)
	}
	if _, err := client().Verify(ctx, img, policy(t, "x509.subject: C=US, ST=WA, O=sign-step, CN=ci signer"), p.store); err != nil {
		t.Fatalf("notation-go refused our signature with the leaf's identity: %v", err)
	}
	again, err := client().Sign(ctx, img, s)
	if err != nil || again.Added {
		t.Fatalf("second Sign: %+v %v, want nothing added", again, err)
	}
	if n := referrers(t, img); n != 1 {
		t.Fatalf("after two Signs: %d referrers, want 1", n)
	}
	checkSpecShape(t, img)

	for _, c := range []struct {
		name, img, identity, store string
	}{
		{"another CA", img, "*", newPKI(t).store},
		{"wrong identity", img, "x509.subject: C=US, ST=WA, O=sign-step, CN=someone else", p.store},
		{"unsigned image", unsigned, "*", p.store},
	} {
		if _, err := client().Verify(ctx, c.img, policy(t, c.identity), c.store); err == nil {
			t.Errorf("%s: notation-go accepted it", c.name)
		}
	}
}

// A leaf that certifies another key is refused before anything is signed.
func TestSignerRefusesForeignCertificate(t *testing.T) {
	t.Parallel()
	p, q := newPKI(t), newPKI(t)
	if _, err := notation.NewSigner(p.key, q.chain); err == nil {
		t.Fatal("NewSigner accepted a certificate of another key")
	}
	var _ crypto.Signer = p.key
}

// checkSpecShape holds the stored signature to the Notary Project
// signature specification: an image manifest whose config media type is
// application/vnd.cncf.notary.signature, subject = the image, one layer of
// application/jose+json whose envelope's payload names the image digest.
func checkSpecShape(t *testing.T, img string) {
	t.Helper()
	repo, dgst, _ := strings.Cut(img, "@")
	tag, _ := name.NewTag(repo + ":" + strings.Replace(dgst, ":", "-", 1))
	idx, err := remote.Index(tag, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].ArtifactType != notation.ArtifactType {
		t.Fatalf("referrers index: %+v", im.Manifests)
	}
	ref, _ := name.NewDigest(repo + "@" + im.Manifests[0].Digest.String())
	desc, err := remote.Get(ref, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MediaType    string                     `json:"mediaType"`
		ArtifactType string                     `json:"artifactType"`
		Config       struct{ MediaType string } `json:"config"`
		Subject      struct{ Digest string }    `json:"subject"`
		Layers       []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	// Notation 1.x (spec v1.0) carries the artifact type as config.mediaType;
	// the referrers index reports it as artifactType.
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != notation.ArtifactType ||
		m.Subject.Digest != dgst || len(m.Layers) != 1 || m.Layers[0].MediaType != "application/jose+json" ||
		m.Annotations["io.cncf.notary.x509chain.thumbprint#S256"] == "" {
		t.Fatalf("signature manifest does not follow the Notary Project spec: %s", desc.Manifest)
	}
	layer, _ := name.NewDigest(repo + "@" + m.Layers[0].Digest)
	l, err := remote.Layer(layer, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := l.Compressed()
	defer rc.Close()
	var jws struct {
		Payload   string `json:"payload"`
		Protected string `json:"protected"`
		Header    struct {
			X5c []string `json:"x5c"`
		} `json:"header"`
	}
	if err := json.NewDecoder(rc).Decode(&jws); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(jws.Payload)
	protected, _ := base64.RawURLEncoding.DecodeString(jws.Protected)
	if !strings.Contains(string(payload), `"digest":"`+dgst+`"`) || len(jws.Header.X5c) != 2 ||
		!strings.Contains(string(protected), `"cty":"application/vnd.cncf.notary.payload.v1+json"`) || !strings.Contains(string(protected), `"alg":"ES256"`) {
		t.Fatalf("JWS envelope: payload %s, protected %s, %d certificates", payload, protected, len(jws.Header.X5c))
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return &authn.Basic{Username: k.user, Password: k.pass}, nil
}

// Against a registry that requires credentials, the keychain's are sent
// (and without them nothing is signed).
func TestSignWithRegistryCredentials(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	p := newPKI(t)
	repo := env.Auth.Repo("notation/auth")
	img, _ := random.Image(256, 1)
	tag, _ := name.NewTag(repo + ":v1")
	if err := remote.Write(tag, img, remote.WithTransport(env.Transport()), remote.WithAuth(&authn.Basic{Username: env.Auth.Username, Password: env.Auth.Password})); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	ref := repo + "@" + h.String()
	s, _ := notation.NewSigner(p.key, p.chain)
	if _, err := notation.New(env.Transport(), nil).Sign(ctx, ref, s); err == nil {
		t.Fatal("signed without credentials")
	}
	c := notation.New(env.Transport(), staticKeychain{env.Auth.Username, env.Auth.Password})
	if res, err := c.Sign(ctx, ref, s); err != nil || !res.Added {
		t.Fatalf("Sign with credentials: %+v %v", res, err)
	}
	if _, err := c.Verify(ctx, ref, policy(t, "*"), p.store); err != nil {
		t.Fatalf("notation-go refused it: %v", err)
	}
}
