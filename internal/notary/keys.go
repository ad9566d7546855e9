package notary

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"

	"github.com/sign-step/sign-step/internal/core"
)

// KeyMaterial is a private key PEM and the passphrase that opens it, as the
// user supplied them. Origin names where the key came from for messages
// ("env://SIGN_STEP_KEY"); it is never the key itself.
type KeyMaterial struct {
	PEM        core.Secret
	Passphrase core.Secret
	Origin     string
	// PassphraseFrom names where the passphrase is given, for the hint of
	// an encrypted key without one; default: --passphrase or
	// DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE.
	PassphraseFrom string
}

// Key is a decrypted private key, held only in memory.
type Key struct {
	priv data.PrivateKey
	role data.RoleName // from the PEM "role" header; "" when absent
	gun  data.GUN
}

// ID is the key's canonical ID, the one delegations list.
func (k *Key) ID() string { return k.priv.ID() }

// Role is the PEM role header (docker writes the signer name, or "targets").
func (k *Key) Role() string { return k.role.String() }

func (k *Key) String() string   { return "[redacted key " + k.ID() + "]" }
func (k *Key) GoString() string { return k.String() }

// KeyError says why a key could not be loaded. It never holds key bytes.
type KeyError struct {
	Origin string
	Reason string
}

func (e *KeyError) Error() string { return fmt.Sprintf("loading key %s: %s", e.Origin, e.Reason) }

// ErrWrongPassphrase is matched by errors.Is when a passphrase does not open a key.
var ErrWrongPassphrase = errors.New("wrong passphrase")

type wrongPassphraseError struct{ KeyError }

func (e *wrongPassphraseError) Is(target error) bool { return target == ErrWrongPassphrase }

// ParseKey decrypts one private key. It accepts the encrypted PKCS#8 files
// docker and notary write (with their role/gun headers) and unencrypted
// PKCS#8, EC, RSA and ed25519 PEM.
func ParseKey(m KeyMaterial) (*Key, error) {
	raw := []byte(m.PEM)
	block, rest := pem.Decode(raw)
	if block == nil {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: "no PEM block found (expected a private key beginning with -----BEGIN, or base64 of one)"})
	}
	if next, _ := pem.Decode(rest); next != nil && strings.Contains(next.Type, "PRIVATE KEY") {
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: "more than one private key in one value; give one key per value"})
	}
	encrypted := block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["DEK-Info"] != ""
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ED25519 PRIVATE KEY":
	case "PUBLIC KEY", "CERTIFICATE":
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: fmt.Sprintf("this is a %s, not a private key", strings.ToLower(block.Type))})
	default:
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: fmt.Sprintf("unsupported PEM type %q", block.Type)})
	}
	pass := string(m.Passphrase)
	if encrypted && pass == "" {
		from := m.PassphraseFrom
		if from == "" {
			from = "--passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE"
		}
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: "the key is encrypted and no passphrase was given (" + from + ")"})
	}
	if !encrypted {
		pass = ""
	}
	// Re-encode the first block alone: the parser decrypts in place.
	priv, err := utils.ParsePEMPrivateKey(pem.EncodeToMemory(block), pass)
	if err != nil {
		if encrypted {
			reason := "the passphrase does not decrypt this key (wrong passphrase)"
			if t := strings.TrimRight(pass, " \t\r\n"); t != pass {
				// The usual cause: a file or variable that ends with a line.
				reason += fmt.Sprintf("; note that the passphrase ends with %d whitespace or newline characters (file:// and env:// drop only one line ending)", len(pass)-len(t))
			}
			return nil, core.Classed(core.ClassKey, &wrongPassphraseError{KeyError{Origin: m.Origin, Reason: reason}})
		}
		return nil, core.Classed(core.ClassKey, &KeyError{Origin: m.Origin, Reason: "malformed or unsupported private key: " + err.Error()})
	}
	return &Key{priv: priv, role: data.RoleName(block.Headers["role"]), gun: data.GUN(block.Headers["gun"])}, nil
}

// Keyring is the in-memory key store handed to notary. Nothing is written to disk.
type Keyring struct {
	keys []*Key
}

// NewKeyring parses every key; the first failure is returned.
func NewKeyring(materials ...KeyMaterial) (*Keyring, error) {
	kr := &Keyring{}
	for _, m := range materials {
		k, err := ParseKey(m)
		if err != nil {
			return nil, err
		}
		kr.Add(k)
	}
	return kr, nil
}

// Add puts an already parsed key in the ring. Notary computes a key's ID
// on first use and stores it in the key; it is done here, once, because
// repositories open side by side and each hands the same keys to its own
// crypto service (a data race otherwise).
func (kr *Keyring) Add(k *Key) {
	if k.priv != nil {
		_ = k.priv.ID()
	}
	kr.keys = append(kr.keys, k)
}

// IDs lists the canonical IDs of the loaded keys.
func (kr *Keyring) IDs() []string {
	ids := make([]string, len(kr.keys))
	for i, k := range kr.keys {
		ids[i] = k.ID()
	}
	return ids
}

// cryptoService builds a fresh notary crypto service over an in-memory store
// holding our keys, for one repository.
func (kr *Keyring) cryptoService(gun data.GUN) (signed.CryptoService, error) {
	// Keys are kept unencrypted in memory: the retriever gives an empty passphrase.
	noPassphrase := func(string, string, bool, int) (string, bool, error) { return "", false, nil }
	store := trustmanager.NewKeyMemoryStore(noPassphrase)
	remote := newRemoteStore()
	for _, k := range kr.keys {
		role := k.role
		switch {
		case role == "":
			// Unlabelled keys act as delegation keys, as docker's "default" alias does.
			role = "delegation"
		case role == data.CanonicalTargetsRole || role == data.CanonicalSnapshotRole:
			if k.gun != "" && k.gun != gun {
				continue // a repository key of another repository
			}
		}
		if rk, ok := k.priv.(*remoteECDSAKey); ok {
			remote.put(trustmanager.KeyInfo{Role: role, Gun: gun}, rk)
			continue
		}
		if err := store.AddKey(trustmanager.KeyInfo{Role: role, Gun: gun}, k.priv); err != nil {
			return nil, fmt.Errorf("loading key %s into memory: %w", k.ID(), err)
		}
	}
	return cryptoservice.NewCryptoService(store, remote), nil
}

// LoadTrustDir reads the private keys docker keeps in <dir>/private (and the
// legacy root_keys and tuf_keys subdirectories), decrypting each with
// passphrase. Root keys are skipped: signing never needs them.
func LoadTrustDir(dir string, passphrase core.Secret) ([]*Key, error) {
	var files []string
	for _, pattern := range []string{"private/*.key", "private/tuf_keys/*/*/*.key", "private/tuf_keys/*/*.key"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		files = append(files, m...)
	}
	var keys []*Key
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, core.Classedf(core.ClassKey, "reading trust dir key: %w", err)
		}
		if block, _ := pem.Decode(raw); block != nil && block.Headers["role"] == data.CanonicalRootRole.String() {
			continue
		}
		k, err := ParseKey(KeyMaterial{PEM: raw, Passphrase: passphrase, Origin: "file://" + f})
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, core.Classedf(core.ClassKey, "no signing keys in %s", filepath.Join(dir, "private"))
	}
	return keys, nil
}
