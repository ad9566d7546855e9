package cosign_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/cosign"
	"github.com/sign-step/sign-step/internal/testenv"
)

var (
	env       *testenv.Env
	cosignBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	var err error
	cosignBin, err = testenv.CosignCLI(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: building cosign:", err)
		os.Exit(1)
	}
	os.Exit(testenv.Main(m, &env))
}

func needEnv(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("end-to-end: needs the registry (not with -short)")
	}
}

// runCosign runs the real cosign CLI with its own HOME, trusting the test CA.
func runCosign(t *testing.T, stdinEnv []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cosignBin, args...)
	home := t.TempDir()
	cmd.Env = append([]string{"HOME=" + home, "SSL_CERT_FILE=" + env.CACertFile, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"), "TUF_ROOT=" + filepath.Join(home, "tuf")}, stdinEnv...)
	cmd.Dir = home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, f
}

func pushRandom(t *testing.T, repo string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(repo + ":v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithTransport(env.Transport())); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return tag.Context().Digest(h.String())
}

func client() *cosign.Client {
	return cosign.New(env.Transport(), authn.NewMultiKeychain(), "sign-step-test")
}

func sigLayers(t *testing.T, img name.Digest) int {
	t.Helper()
	tag, _ := cosign.SignatureTag(img)
	si, err := remote.Image(tag, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := si.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Layers)
}

func cosignVerify(t *testing.T, pubFile string, img name.Digest) (string, error) {
	return runCosign(t, nil, "verify", "--key", pubFile, "--insecure-ignore-tlog=true", img.String())
}

// What the adapter writes, the real cosign CLI accepts with our key and
// refuses with another; a second Sign with the same key adds nothing, a
// second key appends a layer both keys then verify.
func TestSignVerifiedByCosignCLI(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	img := pushRandom(t, env.Repo("cosign/adapter"))
	key, pub := newKey(t)
	other, otherPub := newKey(t)
	_, strangerPub := newKey(t)

	res, err := client().Sign(ctx, img, key)
	if err != nil || !res.Added {
		t.Fatalf("Sign: %+v %v", res, err)
	}
	if out, err := cosignVerify(t, pub, img); err != nil {
		t.Fatalf("cosign verify refused our signature: %v\n%s", err, out)
	}
	if out, err := cosignVerify(t, strangerPub, img); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Fatalf("cosign verify with a key that signed nothing: %v, want a refusal for no matching signatures:\n%s", err, out)
	}

	again, err := client().Sign(ctx, img, key)
	if err != nil || again.Added {
		t.Fatalf("second Sign with the same key: %+v %v, want nothing added", again, err)
	}
	if n := sigLayers(t, img); n != 1 {
		t.Fatalf("after two Signs with one key: %d layers, want 1", n)
	}

	if res, err := client().Sign(ctx, img, other); err != nil || !res.Added {
		t.Fatalf("Sign with a second key: %+v %v", res, err)
	}
	if n := sigLayers(t, img); n != 2 {
		t.Fatalf("after a second key: %d layers, want 2", n)
	}
	for _, p := range []string{pub, otherPub} {
		if out, err := cosignVerify(t, p, img); err != nil {
			t.Fatalf("cosign verify after append refused %s: %v\n%s", p, err, out)
		}
	}
}

// Signatures cosign itself made are accepted by Verify with cosign's key,
// refused with another; Sign appends to cosign's .sig image without
// breaking cosign's signature.
func TestVerifyAcceptsCosignCLISignatures(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	img := pushRandom(t, env.Repo("cosign/native"))
	dir := t.TempDir()
	pw := []string{"COSIGN_PASSWORD=test-pass"}
	if out, err := runCosign(t, pw, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "cosign")); err != nil {
		t.Fatalf("generate-key-pair: %v\n%s", err, out)
	}
	if out, err := runCosign(t, pw, "sign", "--yes", "--key", filepath.Join(dir, "cosign.key"), "--tlog-upload=false", img.String()); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	cosignPub, err := cosign.ParsePublicKeys(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client().Verify(ctx, img, cosignPub); err != nil {
		t.Fatalf("Verify refused cosign's own signature: %v", err)
	}
	stranger, _ := newKey(t)
	if _, err := client().Verify(ctx, img, []crypto.PublicKey{stranger.Public()}); !errors.Is(err, cosign.ErrNoSignature) {
		t.Fatalf("Verify with a stranger's key: %v, want ErrNoSignature", err)
	}

	ours, ourPub := newKey(t)
	if res, err := client().Sign(ctx, img, ours); err != nil || !res.Added {
		t.Fatalf("Sign onto cosign's .sig: %+v %v", res, err)
	}
	for _, p := range []string{filepath.Join(dir, "cosign.pub"), ourPub} {
		if out, err := cosignVerify(t, p, img); err != nil {
			t.Fatalf("cosign verify %s after our append: %v\n%s", p, err, out)
		}
	}
}

// An attacker who copies a valid .sig image (our key, image A) to image B's
// tag gets no signature for B: the payload names A's digest. Sign then still
// signs B instead of trusting the copied layer.
func TestCopiedSignatureIsRefused(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	repo := env.Repo("cosign/copied")
	a := pushRandom(t, repo)
	imgB, _ := random.Image(256, 1)
	hb, _ := imgB.Digest()
	b := a.Context().Digest(hb.String())
	if err := remote.Write(a.Context().Tag("b"), imgB, remote.WithTransport(env.Transport())); err != nil {
		t.Fatal(err)
	}
	key, pub := newKey(t)
	if _, err := client().Sign(ctx, a, key); err != nil {
		t.Fatal(err)
	}
	tagA, _ := cosign.SignatureTag(a)
	tagB, _ := cosign.SignatureTag(b)
	sigA, err := remote.Image(tagA, remote.WithTransport(env.Transport()))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tagB, sigA, remote.WithTransport(env.Transport())); err != nil {
		t.Fatal(err)
	}
	_, err = client().Verify(ctx, b, []crypto.PublicKey{key.Public()})
	if !errors.Is(err, cosign.ErrNoSignature) || !strings.Contains(err.Error(), "signs digest") {
		t.Fatalf("Verify of a copied signature: %v, want ErrNoSignature naming the digest", err)
	}
	if out, err := cosignVerify(t, pub, b); err == nil || !strings.Contains(out, "no matching signatures") {
		t.Fatalf("cosign CLI on the copied signature: %v, want no matching signatures:\n%s", err, out)
	}
	t.Logf("cosign CLI on a copied signature refuses as we do")
	if res, err := client().Sign(ctx, b, key); err != nil || !res.Added {
		t.Fatalf("Sign over a copied signature: %+v %v, want a new layer", res, err)
	}
	if out, err := cosignVerify(t, pub, b); err != nil {
		t.Fatalf("cosign verify after signing b: %v\n%s", err, out)
	}
}

// A staged signature is invisible, to us and to the real cosign CLI,
// until Commit writes the .sig manifest; sessions Prepare opened and no
// Stage took are released. Staging again over a committed signature finds
// it present.
func TestStageIsInvisibleUntilCommit(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	img := pushRandom(t, env.Repo("cosign/staged"))
	key, pub := newKey(t)
	c := client()
	c.Prepare(ctx, img.Context())
	c.Prepare(ctx, img.Context()) // two sessions more than Stage takes
	st, err := c.Stage(ctx, img, key)
	if err != nil || st.Present() {
		t.Fatalf("Stage: present=%v %v", st.Present(), err)
	}
	if _, err := client().Verify(ctx, img, []crypto.PublicKey{key.Public()}); !errors.Is(err, cosign.ErrNoSignature) {
		t.Fatalf("Verify of a staged, uncommitted signature: %v, want ErrNoSignature", err)
	}
	if out, err := cosignVerify(t, pub, img); err == nil {
		t.Fatalf("cosign verify accepted an uncommitted signature:\n%s", out)
	}
	c.Release(ctx)
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := cosignVerify(t, pub, img); err != nil {
		t.Fatalf("cosign verify after Commit: %v\n%s", err, out)
	}
	again, err := c.Stage(ctx, img, key)
	if err != nil || !again.Present() {
		t.Fatalf("Stage after Commit: present=%v %v, want present", again.Present(), err)
	}
	if n := sigLayers(t, img); n != 1 {
		t.Fatalf("%d layers, want 1", n)
	}
}

// TestCommitKeepsASignatureAddedMeanwhile: another key signs the image
// between our Stage (beside the DCT publish) and our Commit. Both
// signatures must be in the .sig image afterwards, not only ours.
func TestCommitKeepsASignatureAddedMeanwhile(t *testing.T) {
	t.Parallel()
	needEnv(t)
	ctx := context.Background()
	img := pushRandom(t, env.Repo("cosign/meanwhile"))
	ours, ourPub := newKey(t)
	theirs, theirPub := newKey(t)
	st, err := client().Stage(ctx, img, ours)
	if err != nil || st.Present() {
		t.Fatalf("Stage: present=%v %v", st.Present(), err)
	}
	if _, err := client().Sign(ctx, img, theirs); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for who, pub := range map[string]string{"ours": ourPub, "theirs": theirPub} {
		if out, err := cosignVerify(t, pub, img); err != nil {
			t.Errorf("cosign verify with %s key after Commit: %v\n%s", who, err, out)
		}
	}
	if n := sigLayers(t, img); n != 2 {
		t.Fatalf("%d layers, want 2", n)
	}
}
