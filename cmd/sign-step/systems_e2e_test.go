package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/testenv"
)

var cosignCLI = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // cold build: see make tools
	defer cancel()
	return testenv.CosignCLI(ctx)
})

// runCosign runs the real cosign CLI (the judge) with its own HOME.
func runCosign(t *testing.T, extraEnv []string, args ...string) (string, error) {
	t.Helper()
	bin, err := cosignCLI()
	if err != nil {
		t.Fatalf("building cosign: %v", err)
	}
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Dir = home
	cmd.Env = append([]string{"HOME=" + home, "SSL_CERT_FILE=" + env.CACertFile, "TUF_ROOT=" + filepath.Join(home, "tuf")}, extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func cosignVerifyCLI(t *testing.T, pub, img string) (string, error) {
	t.Helper()
	return runCosign(t, nil, "verify", "--key", pub, "--insecure-ignore-tlog=true", img)
}

// cosignKeyPair makes a key pair with `cosign generate-key-pair`.
func cosignKeyPair(t *testing.T) (key, pub string) {
	t.Helper()
	dir := t.TempDir()
	if out, err := runCosign(t, []string{"COSIGN_PASSWORD=pw"}, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign")); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

func sigLayerCount(t *testing.T, img string) int {
	t.Helper()
	d, err := name.NewDigest(img)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := cosign.SignatureTag(d)
	si, err := remote.Image(tag, remote.WithTransport(env.Transport()))
	if err != nil {
		return 0
	}
	m, err := si.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Layers)
}

// TestAlsoSignCosign: `sign --also-sign cosign` with the DCT delegation key
// writes what the real cosign CLI accepts with that key's public half, and
// a re-run adds no second layer.
func TestAlsoSignCosign(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "also-cosign")
	d1, _ := pushRandom(t, a.repo+":v1")
	d2, _ := pushRandom(t, a.repo+":v2")
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	r := mustRun(t, vars, "sign", "--also-sign", "cosign", a.repo+":v1", a.repo+":v2")
	for _, d := range []string{d1, d2} {
		if !strings.Contains(r.stdout, "cosign added "+a.repo+"@"+d) {
			t.Fatalf("sign stdout lacks cosign added for %s:\n%s", d, r.stdout)
		}
		if out, err := cosignVerifyCLI(t, a.signerPub, a.repo+"@"+d); err != nil {
			t.Fatalf("cosign verify refused what --also-sign wrote: %v\n%s", err, out)
		}
	}
	_, strangerPub := cosignKeyPair(t)
	if out, err := cosignVerifyCLI(t, strangerPub, a.repo+"@"+d1); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Fatalf("cosign verify with another key: %v\n%s", err, out)
	}
	// The re-run as a GitHub step: the cosign-refs output says where the
	// signature is, the summary has a column for cosign.
	ghOut := filepath.Join(t.TempDir(), "outputs")
	ghVars := with(with(with(vars, "GITHUB_ACTIONS", "true"), "GITHUB_OUTPUT", ghOut), "GITHUB_STEP_SUMMARY", filepath.Join(t.TempDir(), "summary"))
	r = mustRun(t, ghVars, "sign", "--also-sign", "cosign", a.repo+":v1")
	if !strings.Contains(r.stdout, "cosign present "+a.repo+"@"+d1) {
		t.Fatalf("re-run stdout: %s", r.stdout)
	}
	if got, want := parseOutputs(t, ghOut)["cosign-refs"], a.repo+":"+strings.Replace(d1, ":", "-", 1)+".sig"; got != want {
		t.Errorf("cosign-refs output %q, want %q", got, want)
	}
	if summary, _ := os.ReadFile(ghVars["GITHUB_STEP_SUMMARY"]); !strings.Contains(string(summary), "| image | cosign |") {
		t.Errorf("summary has no cosign column:\n%s", summary)
	}
	if n := sigLayerCount(t, a.repo+"@"+d1); n != 1 {
		t.Fatalf("after a re-run: %d signature layers, want 1", n)
	}
}

// TestAlsoSignPublishRefusedCommitsNoSignature: the cosign signature is
// staged while notary is asked, but when notary refuses the DCT publish
// no sha256-<hex>.sig tag appears. A later run with notary answering signs
// both, and the real cosign CLI accepts the signature.
func TestAlsoSignPublishRefusedCommitsNoSignature(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "also-refused")
	digest, _ := pushRandom(t, a.repo+":v1")
	proxy := notaryProxy(t)
	proxy.On(testenv.Rule{Method: http.MethodPost, Path: testenv.PublishPath(a.repo), Status: http.StatusForbidden, Drop: true, Times: 10})
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), "sign", "--also-sign", "cosign", a.repo+":v1")
	if r.code == 0 || proxy.Count(http.MethodPost, testenv.PublishPath(a.repo)) == 0 {
		t.Fatalf("exit %d with the publish refused (%d POSTs): %s%s", r.code, proxy.Count(http.MethodPost, testenv.PublishPath(a.repo)), r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "cosign ") {
		t.Fatalf("stdout reports a cosign signature of a run whose publish failed:\n%s", r.stdout)
	}
	sigTag := strings.Replace(digest, ":", "-", 1) + ".sig"
	repo, err := name.NewRepository(a.repo)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(tags, sigTag) {
		t.Fatalf("the registry has %s:%s after the DCT publish was refused (tags %v)", a.repo, sigTag, tags)
	}
	r = mustRun(t, vars, "sign", "--also-sign", "cosign", a.repo+":v1")
	if !strings.Contains(r.stdout, "cosign added "+a.repo+"@"+digest) {
		t.Fatalf("second run: %s", r.stdout)
	}
	if out, err := cosignVerifyCLI(t, a.signerPub, a.repo+"@"+digest); err != nil {
		t.Fatalf("cosign verify after the second run: %v\n%s", err, out)
	}
}

// TestAlsoSignBadInputPublishesNothing: a --notation-cert that does not
// certify the key fails before the DCT publish.
func TestAlsoSignBadInputPublishesNothing(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "also-bad")
	pushRandom(t, a.repo+":v1")
	_, otherCert, _ := testPKI(t, nil)
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	r := signStep(t, vars, "sign", "--also-sign", "notation", "--notation-cert", otherCert, a.repo+":v1")
	if r.code != 3 || !strings.Contains(r.stderr, "certify") {
		t.Fatalf("exit %d, stderr %q; want 3 and a line about the certificate", r.code, r.stderr)
	}
	if r := signStep(t, nil, "verify", a.repo+":v1"); r.code != 8 {
		t.Fatalf("v1 was published although the run failed: verify exit %d %s", r.code, r.stdout)
	}
	if r := signStep(t, vars, "sign", "--also-sign", "sigstore", a.repo+":v1"); r.code != 2 {
		t.Fatalf("--also-sign sigstore: exit %d %q, want 2", r.code, r.stderr)
	}
}

// testPKI makes a CA (as a Notation trust store dir) and a leaf for pub
// (a fresh key when nil); it returns the store, the chain file and the CA.
func testPKI(t *testing.T, pub any) (store, chainFile string, caDER []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	subj := func(cn string) pkix.Name {
		return pkix.Name{CommonName: cn, Organization: []string{"sign-step"}, Province: []string{"WA"}, Country: []string{"US"}}
	}
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subj("test CA"), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if pub == nil {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = &k.PublicKey
	}
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subj("ci"), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafT, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store = filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(store, "x509", "ca", "test"), 0o700); err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(filepath.Join(store, "x509", "ca", "test", "ca.pem"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	chainFile = filepath.Join(dir, "chain.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), caPEM...)
	if err := os.WriteFile(chainFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	return store, chainFile, caDER
}

func pubOf(t *testing.T, pubFile string) any {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cosign.ParsePublicKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	return keys[0]
}

// TestVerifyRequire: verify --require on repositories signed by DCT only,
// cosign only (by the cosign CLI itself), both, Notation, or nothing; and
// with a wrong cosign key. All listed systems must hold.
func TestVerifyRequire(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "require")
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	store, chain, _ := testPKI(t, pubOf(t, a.signerPub))
	dctOnly, _ := pushRandom(t, a.repo+":dct")
	mustRun(t, vars, "sign", a.repo+":dct")
	both, _ := pushRandom(t, a.repo+":both")
	mustRun(t, vars, "sign", "--also-sign", "cosign,notation", "--notation-cert", chain, a.repo+":both")
	neither, _ := pushRandom(t, a.repo+":neither")

	// cosign only, signed by the cosign CLI with its own key.
	cosignKey, cosignPub := cosignKeyPair(t)
	cosignOnly, _ := pushRandom(t, a.repo+":cosign")
	if out, err := runCosign(t, []string{"COSIGN_PASSWORD=pw"}, "sign", "--yes", "--key", cosignKey, "--tlog-upload=false", a.repo+"@"+cosignOnly); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	_, wrongPub := cosignKeyPair(t)

	cases := []struct {
		name string
		args []string
		ref  string
		code int
		want string // in verify.json systems
	}{
		{"dct only passes dct", []string{"--require", "dct"}, a.repo + ":dct", 0, ""},
		{"dct only fails cosign", []string{"--require", "dct", "--require", "cosign", "--cosign-key", a.signerPub}, a.repo + ":dct", 8, `"cosign":"fail`},
		{"both pass dct+cosign", []string{"--require", "dct,cosign", "--cosign-key", a.signerPub}, a.repo + ":both", 0, `"cosign":"pass"`},
		{"both pass notation", []string{"--require", "dct,notation", "--notation-trust-store", store}, a.repo + ":both", 0, `"notation":"pass"`},
		{"dct only fails notation", []string{"--require", "notation", "--notation-trust-store", store}, a.repo + ":dct", 8, `"notation":"fail`},
		{"cosign CLI signature passes cosign", []string{"--require", "cosign", "--cosign-key", cosignPub}, a.repo + ":cosign", 0, `"cosign":"pass"`},
		{"cosign only fails dct", []string{"--require", "dct,cosign", "--cosign-key", cosignPub}, a.repo + ":cosign", 8, `"dct":"fail`},
		{"wrong cosign key", []string{"--require", "cosign", "--cosign-key", wrongPub}, a.repo + ":cosign", 8, `"cosign":"fail`},
		{"any of two keys", []string{"--require", "cosign", "--cosign-key", wrongPub, "--cosign-key", cosignPub}, a.repo + ":cosign", 0, `"cosign":"pass"`},
		{"neither fails cosign", []string{"--require", "cosign", "--cosign-key", a.signerPub}, a.repo + ":neither", 8, `"cosign":"fail`},
		{"cosign without a key is a usage error", []string{"--require", "cosign"}, a.repo + ":both", 2, ""},
	}
	digests := map[string]string{"dct": dctOnly, "both": both, "cosign": cosignOnly, "neither": neither}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			r := signStep(t, nil, append(append([]string{"verify", "--output-dir", out}, c.args...), c.ref)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			tag := c.ref[strings.LastIndex(c.ref, ":")+1:]
			if c.code == 0 && strings.TrimSpace(r.stdout) != a.repo+"@"+digests[tag] {
				t.Fatalf("stdout %q, want the pinned ref", r.stdout)
			}
			if c.code != 0 && strings.Contains(r.stdout, "@sha256:") {
				t.Fatalf("a failed ref was printed: %q", r.stdout)
			}
			if c.want != "" {
				b, err := os.ReadFile(filepath.Join(out, "verify.json"))
				if err != nil {
					t.Fatal(err)
				}
				var compact strings.Builder
				var v any
				_ = json.Unmarshal(b, &v)
				js, _ := json.Marshal(v)
				compact.Write(js)
				if !strings.Contains(compact.String(), c.want) {
					t.Fatalf("verify.json lacks %s: %s", c.want, compact.String())
				}
			}
		})
	}
}

// TestMigrateCosign: migrate signs every tag trust data vouches for (and
// nothing else), the cosign CLI accepts it, a second run changes nothing,
// and a repository whose root does not match --pin-root is refused with
// nothing signed for it.
func TestMigrateCosign(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "migrate")
	b := setupWithSignStep(t, "migrate-other-root")
	vars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	d1, _ := pushRandom(t, a.repo+":v1")
	d2, _ := pushRandom(t, a.repo+":v2")
	mustRun(t, vars, "sign", a.repo+":v1", a.repo+":v2")
	mustRun(t, vars, "sign", "--source", a.repo+":v1", a.repo+":latest@"+d1) // latest shares v1's digest
	unsigned, _ := pushRandom(t, a.repo+":unsigned")
	bd, _ := pushRandom(t, b.repo+":v1")
	mustRun(t, with(b.vars, "SIGN_STEP_KEY", b.signerKey), "sign", b.repo+":v1")
	rootID := rootKeyID(t, a.repo)

	out := t.TempDir()
	r := signStep(t, vars, "migrate", "--to", "cosign", "--pin-root", rootID, "--output-dir", out, a.repo, b.repo)
	if r.code != 8 {
		t.Fatalf("migrate with one mismatched root: exit %d, want 8\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, d := range []string{d1, d2} {
		if o, err := cosignVerifyCLI(t, a.signerPub, a.repo+"@"+d); err != nil {
			t.Fatalf("cosign verify of a migrated digest: %v\n%s", err, o)
		}
	}
	if n := sigLayerCount(t, a.repo+"@"+d1); n != 1 {
		t.Fatalf("v1 and latest share a digest: %d layers, want 1", n)
	}
	if n := sigLayerCount(t, a.repo+"@"+unsigned); n != 0 {
		t.Fatalf("a digest no trust data vouches for was signed (%d layers)", n)
	}
	if n := sigLayerCount(t, b.repo+"@"+bd); n != 0 {
		t.Fatalf("the repository with another root was signed (%d layers)", n)
	}
	var rep struct {
		Repositories []struct {
			GUN, Error string
			Tags       []struct {
				Tag, Digest string
				DctSigners  []string          `json:"dctSigners"`
				Systems     map[string]string `json:"systems"`
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, repo := range rep.Repositories {
		if repo.GUN == b.repo && repo.Error == "" {
			t.Fatalf("report: no error for the mismatched repository: %s", raw)
		}
		for _, tg := range repo.Tags {
			got[tg.Tag] = tg.Digest + " " + tg.Systems["cosign"] + " " + strings.Join(tg.DctSigners, ",")
		}
	}
	want := map[string]string{"v1": d1 + " added ci", "v2": d2 + " added ci", "latest": d1 + " added ci"}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("report tag %s: %q, want %q (report %s)", k, got[k], v, raw)
		}
	}

	// The second run, as a GitHub step: nothing added, and the step says
	// where the cosign signatures are (outputs, migrate.env, summary).
	ghOut := filepath.Join(t.TempDir(), "outputs")
	ghVars := with(with(with(vars, "GITHUB_ACTIONS", "true"), "GITHUB_OUTPUT", ghOut), "GITHUB_STEP_SUMMARY", filepath.Join(t.TempDir(), "summary"))
	r = mustRun(t, ghVars, "migrate", "--to", "cosign", "--output-dir", out, a.repo)
	if strings.Contains(r.stdout, "added") || strings.Count(r.stdout, "cosign=present") != 3 {
		t.Fatalf("second run changed something:\n%s", r.stdout)
	}
	outputs := parseOutputs(t, ghOut)
	wantRefs := []string{a.repo + ":" + strings.Replace(d1, ":", "-", 1) + ".sig", a.repo + ":" + strings.Replace(d2, ":", "-", 1) + ".sig"}
	slices.Sort(wantRefs)
	gotRefs := strings.Split(outputs["cosign-refs"], "\n")
	slices.Sort(gotRefs)
	if !slices.Equal(gotRefs, wantRefs) || outputs["migrated-refs"] != "" || outputs["changed"] != "false" {
		t.Errorf("outputs %q: want cosign-refs %q, no migrated-refs, changed=false", outputs, wantRefs)
	}
	if env, err := os.ReadFile(filepath.Join(out, "migrate.env")); err != nil || !strings.Contains(string(env), "SIGN_STEP_OUT_COSIGN_REFS=") {
		t.Errorf("migrate.env: %v %q", err, env)
	}
	if summary, _ := os.ReadFile(ghVars["GITHUB_STEP_SUMMARY"]); !strings.Contains(string(summary), "| tag | digest | DCT signers | cosign |") {
		t.Errorf("no per-system summary:\n%s", summary)
	}
	if n := sigLayerCount(t, a.repo+"@"+d2); n != 1 {
		t.Fatalf("after a second run: %d layers", n)
	}
}

// rootKeyID is the repository's root key ID as docker trust inspect shows it.
func rootKeyID(t *testing.T, repo string) string {
	t.Helper()
	out, _, err := (signer{docker: env.Docker(t, testenv.Passphrases{})}).inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	var admin []struct {
		AdministrativeKeys []struct {
			Name string
			Keys []struct{ ID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &admin); err != nil {
		t.Fatal(err)
	}
	for _, k := range admin[0].AdministrativeKeys {
		if k.Name == "Root" {
			return k.Keys[0].ID
		}
	}
	t.Fatal("no root key in docker trust inspect")
	return ""
}

// TestMigrateNotaryCLITagsAndTampered: tags the notary CLI published and
// tags sign-step signed are migrated to cosign and Notation (judged by the
// cosign CLI and by notation-go's verifier); a repository whose trust data
// is tampered with in transit is refused and nothing is signed for it.
func TestMigrateNotaryCLITagsAndTampered(t *testing.T) {
	t.Parallel()
	good, bad := env.Repo("migrate-notary"), env.Repo("migrate-tampered")
	s := dockerSigner(t, "ci", good, bad)
	vars := map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass}

	// v1 by the notary CLI, with the keys docker made, into targets/releases.
	d1, size1 := pushRandom(t, good+":v1")
	n := notaryCLIOf(t, s)
	if _, _, err := n.Run("addhash", good, "v1", strconv.FormatInt(size1, 10), "--sha256", strings.TrimPrefix(d1, "sha256:"), "-r", "targets/releases"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.Run("publish", good); err != nil {
		t.Fatal(err)
	}
	d2, _ := pushRandom(t, good+":v2")
	mustRun(t, vars, "sign", good+":v2")
	bd, _ := pushRandom(t, bad+":v1")
	mustRun(t, vars, "sign", bad+":v1")

	proxy, err := env.NewFaultProxy(env.NotaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	badPath := strings.SplitN(bad, "/", 2)[1]
	proxy.Rewrite(func(path string, b []byte) []byte {
		if strings.Contains(path, badPath) && metaFile("targets/releases").MatchString(path) {
			return bytes.Replace(b, []byte(`"length":`), []byte(`"length": `), 1)
		}
		return b
	})
	store, chain, _ := testPKI(t, pubOf(t, s.pubFile))
	r := signStep(t, with(vars, "SIGN_STEP_NOTARY_SERVER", proxy.URL()), "migrate", "--to", "cosign,notation", "--notation-cert", chain, good, bad)
	if r.code != 8 || !strings.Contains(r.stdout, bad+" failed") {
		t.Fatalf("migrate with a tampered repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, d := range []string{d1, d2} {
		if o, err := cosignVerifyCLI(t, s.pubFile, good+"@"+d); err != nil {
			t.Fatalf("cosign verify %s: %v\n%s", d, err, o)
		}
		mustRun(t, nil, "verify", "--require", "notation", "--notation-trust-store", store, good+"@"+d)
	}
	if n := sigLayerCount(t, bad+"@"+bd); n != 0 {
		t.Fatalf("the tampered repository got a cosign signature")
	}
	if r := signStep(t, nil, "verify", "--require", "notation", "--notation-trust-store", store, bad+"@"+bd); r.code != 8 {
		t.Fatalf("the tampered repository got a Notation signature: exit %d %s", r.code, r.stdout)
	}
	r = mustRun(t, vars, "migrate", "--to", "cosign,notation", "--notation-cert", chain, good)
	if strings.Contains(r.stdout, "added") || strings.Count(r.stdout, "notation=present") != 2 {
		t.Fatalf("second run changed something:\n%s", r.stdout)
	}
}

// notaryCLIOf is the notary CLI over s's docker trust dir, with the
// passphrases of its delegation, targets and snapshot keys.
func notaryCLIOf(t *testing.T, s signer) *testenv.CLI {
	t.Helper()
	dir := filepath.Join(s.docker.ConfigDir, "trust")
	return &testenv.CLI{Path: env.NotaryCLI, ConfigDir: dir,
		BaseArgs: []string{"-s", env.NotaryURL, "--tlscacert", env.CACertFile, "-d", dir},
		Env:      []string{"HOME=" + t.TempDir(), "NOTARY_DELEGATION_PASSPHRASE=" + repoPass, "NOTARY_TARGETS_PASSPHRASE=" + repoPass, "NOTARY_SNAPSHOT_PASSPHRASE=" + repoPass}}
}
