package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// TransitScheme prefixes a reference to a Vault Transit key:
// vault-transit://<mount>/<key-name>. The key never leaves Vault: it is used
// through TransitKey, never resolved into a value.
const TransitScheme = "vault-transit://"

// TransitRef is a parsed vault-transit://<mount>/<key-name> reference.
type TransitRef struct {
	Mount string // "transit"; may hold slashes
	Name  string
}

func (r TransitRef) String() string { return TransitScheme + r.Mount + "/" + r.Name }

// IsTransitRef reports whether ref is a vault-transit:// reference.
func IsTransitRef(ref string) bool { return strings.HasPrefix(ref, TransitScheme) }

// ParseTransitRef parses vault-transit://<mount>/<key-name>; the key name is
// the last segment.
func ParseTransitRef(ref string) (TransitRef, error) {
	rest, ok := strings.CutPrefix(ref, TransitScheme)
	bad := func(why string) (TransitRef, error) {
		return TransitRef{}, core.Classedf(core.ClassUsage, "invalid Vault Transit reference %q: %s (want vault-transit://<mount>/<key-name>, e.g. vault-transit://transit/dct-ci)", ref, why)
	}
	if !ok {
		return bad("not a vault-transit:// reference")
	}
	if strings.ContainsAny(rest, "?#") {
		return bad("no query or fragment is allowed")
	}
	i := strings.LastIndex(rest, "/")
	if i <= 0 || i == len(rest)-1 {
		return bad("a mount and a key name are needed")
	}
	r := TransitRef{Mount: rest[:i], Name: rest[i+1:]}
	for _, seg := range strings.Split(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("empty, . or .. path segment")
		}
	}
	return r, nil
}

// TransitKey is a Transit signing key: its public key, pinned to one key
// version, and the signing call.
type TransitKey struct {
	Ref       TransitRef
	Version   int    // the key version Sign uses: the latest when the key was read
	PublicPEM string // PKIX PEM of that version
	v         *Vault
}

// TransitKey reads the key (GET <mount>/keys/<name>: needs "read") and pins
// its latest version, so that every signature matches the public key
// returned even if the key is rotated during the run.
func (v *Vault) TransitKey(ctx context.Context, ref string) (*TransitKey, error) {
	r, err := ParseTransitRef(ref)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, core.Classedf(core.ClassInternal, "reading %s: the Vault session is closed", r)
	}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	path := r.Mount + "/keys/" + r.Name
	s, err := v.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, v.fail(err, "reading the Transit key "+r.String()+" ("+path+")")
	}
	if s == nil || s.Data == nil {
		return nil, core.Classedf(core.ClassSecrets, "reading the Transit key %s: no key at %s", r, path)
	}
	typ, _ := s.Data["type"].(string)
	if typ != "ecdsa-p256" {
		return nil, core.Classedf(core.ClassKey, "the Transit key %s is of type %q; notary signing needs ecdsa-p256", r, typ)
	}
	latest, err := intField(s.Data["latest_version"])
	if err != nil || latest < 1 {
		return nil, core.Classedf(core.ClassSecrets, "reading the Transit key %s: no latest_version in %s", r, path)
	}
	keys, _ := s.Data["keys"].(map[string]any)
	kv, _ := keys[strconv.Itoa(latest)].(map[string]any)
	pub, _ := kv["public_key"].(string)
	if pub == "" {
		return nil, core.Classedf(core.ClassSecrets, "reading the Transit key %s: version %d has no public_key (versions: %s)", r, latest, fieldNames(keys))
	}
	return &TransitKey{Ref: r, Version: latest, PublicPEM: pub, v: v}, nil
}

// Sign asks Transit to sign msg (POST <mount>/sign/<name>/sha2-256, needs
// "update"): Vault hashes msg with SHA-256 and, with
// marshaling_algorithm=jws, returns the ECDSA signature as raw r||s
// (base64url after "vault:vN:"), the form notary verifies.
func (k *TransitKey) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	return k.transitSign(ctx, map[string]any{"input": base64.StdEncoding.EncodeToString(msg)})
}

// transitSign posts a sign request (input, and prehashed when set) pinned
// to the key version read, and decodes the jws signature Vault returns.
func (k *TransitKey) transitSign(ctx context.Context, body map[string]any) ([]byte, error) {
	v := k.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, core.Classedf(core.ClassInternal, "signing with %s: the Vault session is closed", k.Ref)
	}
	if err := v.login(ctx); err != nil {
		return nil, err
	}
	path := k.Ref.Mount + "/sign/" + k.Ref.Name + "/sha2-256"
	body["marshaling_algorithm"] = "jws"
	body["key_version"] = k.Version
	s, err := v.client.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, v.fail(err, "signing with the Transit key "+k.Ref.String()+" ("+path+")")
	}
	var field string
	if s != nil {
		field, _ = s.Data["signature"].(string)
	}
	prefix := "vault:v" + strconv.Itoa(k.Version) + ":"
	b64, ok := strings.CutPrefix(field, prefix)
	if !ok {
		return nil, core.Classedf(core.ClassSecrets, "signing with the Transit key %s: the answer holds no signature starting %q", k.Ref, prefix)
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil {
		return nil, core.Classedf(core.ClassSecrets, "signing with the Transit key %s: the signature is not base64url (marshaling_algorithm=jws): %w", k.Ref, err)
	}
	return sig, nil
}

func intField(v any) (int, error) {
	switch t := v.(type) {
	case json.Number:
		n, err := t.Int64()
		return int(n), err
	case float64:
		return int(t), nil
	case int:
		return t, nil
	}
	return 0, fmt.Errorf("not a number: %T", v)
}
