package vaultenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/hashicorp/vault/api"
	"math/big"
	"strings"
	"time"
)

// JWTIssuer is the "iss" that auth/jwt is bound to and MintJWT sets.
const JWTIssuer = "https://sign-step.test/oidc"

// PutKV2 writes data at secret/data/<path> (e.g. "ci/dct").
func (v *Vault) PutKV2(path string, data map[string]any) error {
	return v.write(MountKV2+"/data/"+path, map[string]any{"data": data})
}

// PutKV1 writes data at kv1/<path>.
func (v *Vault) PutKV1(path string, data map[string]any) error {
	return v.write(MountKV1+"/"+path, data)
}

// CreateTransitKey creates transit/keys/<name> of the given Vault key type
// (e.g. "ecdsa-p256").
func (v *Vault) CreateTransitKey(name, keyType string) error {
	return v.write(MountTransit+"/keys/"+name, map[string]any{"type": keyType})
}

// AppRole creates a role with a fresh name whose tokens get policy (a
// comma-separated list is allowed) and returns a role ID and secret ID.
func (v *Vault) AppRole(policy string) (roleID, secretID string, err error) {
	c, err := v.Client()
	if err != nil {
		return "", "", err
	}
	role := "auth/" + AuthAppRole + "/role/" + randomName("role")
	if _, err := c.Logical().Write(role, map[string]any{"token_policies": policy}); err != nil {
		return "", "", fmt.Errorf("approle role: %w", err)
	}
	s, err := c.Logical().Read(role + "/role-id")
	if err != nil {
		return "", "", fmt.Errorf("approle role-id: %w", err)
	}
	roleID, _ = s.Data["role_id"].(string)
	s, err = c.Logical().Write(role+"/secret-id", nil)
	if err != nil {
		return "", "", fmt.Errorf("approle secret-id: %w", err)
	}
	secretID, _ = s.Data["secret_id"].(string)
	if roleID == "" || secretID == "" {
		return "", "", fmt.Errorf("approle: empty role_id or secret_id")
	}
	return roleID, secretID, nil
}

// UserPass creates a user with a fresh name and random password whose tokens
// get policy.
func (v *Vault) UserPass(policy string) (user, pass string, err error) {
	user, pass = randomName("user"), randomName("pw")
	err = v.write("auth/"+AuthUserpass+"/users/"+user, map[string]any{
		"password":       pass,
		"token_policies": policy,
	})
	return user, pass, err
}

// JWTRole creates a role with a fresh name on auth/jwt that accepts tokens
// from MintJWT with the given "aud" and exactly matching claims, and whose
// Vault tokens get policy. The Vault identity is the "sub" claim.
func (v *Vault) JWTRole(policy string, audience string, claims map[string]string) (role string, err error) {
	role = randomName("role")
	err = v.write("auth/"+AuthJWT+"/role/"+role, map[string]any{
		"role_type":       "jwt",
		"user_claim":      "sub",
		"bound_audiences": []string{audience},
		"bound_claims":    claims,
		"token_policies":  policy,
		"token_ttl":       "10m",
	})
	return role, err
}

// MintJWT returns an ES256 JWT signed with the key auth/jwt trusts, with
// iss, sub, aud, iat, nbf and exp (5 minutes) set; claims may override them.
func (v *Vault) MintJWT(audience string, claims map[string]any) (string, error) {
	now := time.Now()
	body := map[string]any{
		"iss": JWTIssuer,
		"sub": "repo:sign-step/sign-step:ref:refs/heads/main",
		"aud": audience,
		"iat": now.Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(5 * time.Minute).Unix(),
	}
	for k, val := range claims {
		body[k] = val
	}
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, v.jwtKey, digest[:])
	if err != nil {
		return "", err
	}
	// JWS ES256 signatures are raw r||s, each 32 bytes big-endian.
	sig := append(fixed32(r), fixed32(s)...)
	return signing + "." + enc.EncodeToString(sig), nil
}

func fixed32(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}

// TokenValid reports whether Vault still accepts token (false after
// revocation or expiry).
func (v *Vault) TokenValid(token string) bool {
	c, err := v.NewClient(token)
	if err != nil {
		return false
	}
	_, err = c.Auth().Token().LookupSelf()
	return err == nil
}

func (v *Vault) write(path string, data map[string]any) error {
	c, err := v.Client()
	if err != nil {
		return err
	}
	if _, err := c.Logical().Write(path, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func publicKeyPEM(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// randomName gives distinct names to roles and users so parallel tests never
// share state.
func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + "-" + strings.ToLower(hex.EncodeToString(b))
}

// ReadToken makes a token with the CI read policy (and its deny carve-out),
// valid for ten minutes: what a job logged in with method token holds.
func (v *Vault) ReadToken() (string, error) {
	c, err := v.Client()
	if err != nil {
		return "", err
	}
	s, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{PolicyRead, PolicyDeny}, TTL: "10m"})
	if err != nil {
		return "", err
	}
	return s.Auth.ClientToken, nil
}

// TransitPublicKeyPEM is the PEM public key of version 1 of Transit key name.
func (v *Vault) TransitPublicKeyPEM(name string) (string, error) {
	c, err := v.Client()
	if err != nil {
		return "", err
	}
	k, err := c.Logical().Read("transit/keys/" + name)
	if err != nil {
		return "", err
	}
	if k == nil {
		return "", fmt.Errorf("no Transit key %s", name)
	}
	keys, _ := k.Data["keys"].(map[string]any)
	v1, _ := keys["1"].(map[string]any)
	pub, _ := v1["public_key"].(string)
	if pub == "" {
		return "", fmt.Errorf("no public key in %v", k.Data)
	}
	return pub, nil
}
