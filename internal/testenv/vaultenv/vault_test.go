package vaultenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

var vault *Vault

func TestMain(m *testing.M) {
	// Generous: a cold Vault build takes several minutes on 2 cores.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	start := time.Now()
	v, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vaultenv: Start:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "vaultenv: vault ready at %s in %s\n", v.Addr, time.Since(start).Round(time.Millisecond))
	vault = v
	code := m.Run()
	if err := v.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "vaultenv: Close:", err)
	}
	os.Exit(code)
}

// login writes to an auth login endpoint with a token-less client and
// returns a client holding the resulting token.
func login(t *testing.T, path string, data map[string]any) *api.Client {
	t.Helper()
	c, err := vault.NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("login %s: %v", path, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		t.Fatalf("login %s: no token in %+v", path, s)
	}
	c.SetToken(s.Auth.ClientToken)
	return c
}

// checkReads proves a client with PolicyRead (+PolicyDeny) can read the CI
// secrets, gets 403 outside them, and that its token can be revoked.
func checkReads(t *testing.T, c *api.Client) {
	t.Helper()
	ctx := context.Background()
	name := randomName("s")
	if err := vault.PutKV2("ci/"+name, map[string]any{"passphrase": "kv2-" + name}); err != nil {
		t.Fatal(err)
	}
	if err := vault.PutKV1("ci/"+name, map[string]any{"passphrase": "kv1-" + name}); err != nil {
		t.Fatal(err)
	}

	kv2, err := c.KVv2(MountKV2).Get(ctx, "ci/"+name)
	if err != nil {
		t.Fatalf("kv2 read: %v", err)
	}
	if got := kv2.Data["passphrase"]; got != "kv2-"+name {
		t.Errorf("kv2 passphrase = %v", got)
	}
	kv1, err := c.KVv1(MountKV1).Get(ctx, "ci/"+name)
	if err != nil {
		t.Fatalf("kv1 read: %v", err)
	}
	if got := kv1.Data["passphrase"]; got != "kv1-"+name {
		t.Errorf("kv1 passphrase = %v", got)
	}

	// Denied: explicitly (PolicyDeny) and by absence of a grant.
	if err := vault.PutKV2(DeniedKV2Path+"/x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := vault.PutKV1(DeniedKV1Path+"/x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		MountKV2 + "/data/" + DeniedKV2Path + "/x",
		MountKV1 + "/" + DeniedKV1Path + "/x",
		MountKV2 + "/data/vaultenv-ready",
	} {
		_, err := c.Logical().Read(path)
		if !isForbidden(err) {
			t.Errorf("read %s: want 403 permission denied, got %v", path, err)
		}
	}

	token := c.Token()
	if !vault.TokenValid(token) {
		t.Fatal("token not valid before revocation")
	}
	if err := c.Auth().Token().RevokeSelf(""); err != nil {
		t.Fatal(err)
	}
	if vault.TokenValid(token) {
		t.Error("token still valid after revoke-self")
	}
}

func isForbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden &&
		strings.Contains(err.Error(), "permission denied")
}

const bothPolicies = PolicyRead + "," + PolicyDeny

func TestAuthMethods(t *testing.T) {
	t.Run("approle", func(t *testing.T) {
		t.Parallel()
		roleID, secretID, err := vault.AppRole(bothPolicies)
		if err != nil {
			t.Fatal(err)
		}
		checkReads(t, login(t, "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID}))
	})
	t.Run("userpass", func(t *testing.T) {
		t.Parallel()
		user, pass, err := vault.UserPass(bothPolicies)
		if err != nil {
			t.Fatal(err)
		}
		checkReads(t, login(t, "auth/userpass/login/"+user, map[string]any{"password": pass}))
	})
	t.Run("jwt", func(t *testing.T) {
		t.Parallel()
		claims := map[string]string{"repository": "sign-step/sign-step", "ref": "refs/heads/main"}
		role, err := vault.JWTRole(bothPolicies, "vault.test", claims)
		if err != nil {
			t.Fatal(err)
		}
		good := map[string]any{"repository": "sign-step/sign-step", "ref": "refs/heads/main"}
		jwt, err := vault.MintJWT("vault.test", good)
		if err != nil {
			t.Fatal(err)
		}
		checkReads(t, login(t, "auth/jwt/login", map[string]any{"role": role, "jwt": jwt}))

		// The bindings are enforced: wrong audience, wrong claim.
		wrongAud, _ := vault.MintJWT("someone-else", good)
		wrongRef, _ := vault.MintJWT("vault.test", map[string]any{"repository": "sign-step/sign-step", "ref": "refs/heads/evil"})
		c, _ := vault.NewClient("")
		for name, tok := range map[string]string{"audience": wrongAud, "claim": wrongRef} {
			if _, err := c.Logical().Write("auth/jwt/login", map[string]any{"role": role, "jwt": tok}); err == nil {
				t.Errorf("login with wrong %s succeeded", name)
			}
		}
	})
}

// TestTransitJWS proves the format notary needs: Transit's ECDSA P-256
// signature with marshaling_algorithm=jws is raw r||s (64 bytes) over SHA-256
// and verifies with crypto/ecdsa against the key's public PEM.
func TestTransitJWS(t *testing.T) {
	key := randomName("notary")
	if err := vault.CreateTransitKey(key, "ecdsa-p256"); err != nil {
		t.Fatal(err)
	}
	roleID, secretID, err := vault.AppRole(PolicyRead)
	if err != nil {
		t.Fatal(err)
	}
	c := login(t, "auth/approle/login", map[string]any{"role_id": roleID, "secret_id": secretID})

	msg := []byte("canonical TUF metadata bytes")
	s, err := c.Logical().Write("transit/sign/"+key+"/sha2-256", map[string]any{
		"input":                base64.StdEncoding.EncodeToString(msg),
		"marshaling_algorithm": "jws",
	})
	if err != nil {
		t.Fatal(err)
	}
	sigField, _ := s.Data["signature"].(string)
	b64, ok := strings.CutPrefix(sigField, "vault:v1:")
	if !ok {
		t.Fatalf("signature %q: want vault:v1: prefix", sigField)
	}
	sig, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("signature is not base64url: %v", err)
	}
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64 (raw r||s)", len(sig))
	}

	k, err := c.Logical().Read("transit/keys/" + key)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := k.Data["keys"].(map[string]any)["1"].(map[string]any)
	pubPEM, _ := v1["public_key"].(string)
	block, _ := pem.Decode([]byte(pubPEM))
	if block == nil {
		t.Fatalf("no PEM public key in %v", k.Data)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("public key is %T", pub)
	}
	digest := sha256.Sum256(msg)
	r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(ecPub, digest[:], r, ss) {
		t.Fatal("transit JWS signature does not verify as raw r||s over SHA-256")
	}
	digest[0] ^= 1
	if ecdsa.Verify(ecPub, digest[:], r, ss) {
		t.Fatal("signature verifies over a different digest")
	}
}

// TestTLSOnlyTrustsOurCA: a client without the test CA must fail the handshake.
func TestTLSOnlyTrustsOurCA(t *testing.T) {
	t.Parallel()
	resp, err := http.Get(vault.Addr + "/v1/sys/health")
	if err == nil {
		resp.Body.Close()
		t.Fatal("plain client trusted the test CA's certificate")
	}
	if !strings.HasPrefix(vault.Addr, "https://127.0.0.1:") {
		t.Errorf("Addr = %q", vault.Addr)
	}
}
