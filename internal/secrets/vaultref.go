package secrets

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// VaultScheme prefixes a reference to a field of a Vault secret.
const VaultScheme = "vault://"

// VaultRef is a parsed vault://<path>[?version=N]#<field> reference. Path is
// what `vault kv get` takes (secret/ci/dct); secret/data/ci/dct is accepted
// too. Version pins a KV v2 version (0: the latest).
type VaultRef struct {
	Path    string
	Field   string
	Version int
}

// String is the canonical reference (it names no value).
func (r VaultRef) String() string {
	s := VaultScheme + r.Path
	if r.Version > 0 {
		s += "?version=" + strconv.Itoa(r.Version)
	}
	return s + "#" + r.Field
}

// ParseVaultRef parses vault://<path>[?version=N]#<field>. The query may also
// follow the field (vault://secret/ci/dct#key?version=2), as people write it.
func ParseVaultRef(ref string) (VaultRef, error) {
	rest, ok := strings.CutPrefix(ref, VaultScheme)
	if !ok {
		return VaultRef{}, vaultUsage(ref, "not a vault:// reference")
	}
	pathPart, field, hasField := strings.Cut(rest, "#")
	query := ""
	if p, q, ok := strings.Cut(pathPart, "?"); ok {
		pathPart, query = p, q
	}
	if f, q, ok := strings.Cut(field, "?"); ok && query == "" {
		field, query = f, q
	}
	var r VaultRef
	var err error
	if r.Path, err = cleanVaultPath(pathPart); err != nil {
		return VaultRef{}, vaultUsage(ref, err.Error())
	}
	if !hasField || field == "" {
		return VaultRef{}, vaultUsage(ref, "no field: write vault://"+r.Path+"#FIELD")
	}
	if strings.ContainsAny(field, " \t\r\n#?") {
		return VaultRef{}, vaultUsage(ref, fmt.Sprintf("invalid field name %q", field))
	}
	r.Field = field
	if query != "" {
		if r.Version, err = parseVersion(query); err != nil {
			return VaultRef{}, vaultUsage(ref, err.Error())
		}
	}
	return r, nil
}

func parseVersion(query string) (int, error) {
	v, ok := strings.CutPrefix(query, "version=")
	if !ok {
		return 0, fmt.Errorf("unknown query %q: only ?version=N is understood", query)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid version %q: want a positive integer", v)
	}
	return n, nil
}

// cleanVaultPath trims slashes and refuses empty, relative or odd paths.
func cleanVaultPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", fmt.Errorf("no path")
	}
	if strings.ContainsAny(p, " \t\r\n\\") {
		return "", fmt.Errorf("invalid path %q", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("invalid path %q", p)
		}
	}
	return p, nil
}

// vaultUsage is a malformed reference: the user's input, not Vault, is wrong.
// The reference names a location, never a value, so it can be printed.
func vaultUsage(ref, msg string) error {
	return core.Classedf(core.ClassSecrets, "resolving %s: %s", ref, msg)
}

// VaultSecret is one entry of --vault-secrets: a field of a Vault path that
// becomes the named input (KEY, PASSPHRASE, ...).
type VaultSecret struct {
	Ref  VaultRef
	Name string
}

// VaultSecretNames are the names --vault-secrets accepts.
var VaultSecretNames = []string{"KEY", "PASSPHRASE", "ROOT_KEY", "ROOT_PASSPHRASE", "REGISTRY_PASSWORD", "NOTARY_AUTH"}

// ParseVaultSecrets parses vault-action's secrets syntax:
//
//	secret/ci/dct key | KEY ; secret/ci/dct passphrase | PASSPHRASE
//
// Entries are separated by ';' or newlines; blank entries are ignored. Each
// is "<path>[?version=N] <field> [| NAME]"; without "| NAME" the name is the
// field in upper case. Selectors are plain field names (vault-action's JSONata
// and wildcards are not supported). Each name may appear once.
func ParseVaultSecrets(s string) ([]VaultSecret, error) {
	var out []VaultSecret
	seen := map[string]bool{}
	for _, entry := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		sel, name, hasName := strings.Cut(entry, "|")
		fields := strings.Fields(sel)
		if len(fields) != 2 {
			return nil, core.Classedf(core.ClassUsage, "--vault-secrets: %q: want \"<path> <field> | NAME\"", entry)
		}
		path, field := fields[0], fields[1]
		if strings.ContainsAny(field, "*#?|") {
			return nil, core.Classedf(core.ClassUsage, "--vault-secrets: %q: the selector must be a plain field name", entry)
		}
		name = strings.TrimSpace(name)
		if !hasName {
			name = field
		}
		name = strings.ToUpper(name)
		if !knownName(name) {
			return nil, core.Classedf(core.ClassUsage, "--vault-secrets: %q: unknown name %q (want one of %s)", entry, name, strings.Join(VaultSecretNames, ", "))
		}
		if seen[name] {
			return nil, core.Classedf(core.ClassUsage, "--vault-secrets: %s is given twice", name)
		}
		seen[name] = true
		ref, err := ParseVaultRef(VaultScheme + path + "#" + field)
		if err != nil {
			return nil, core.Classedf(core.ClassUsage, "--vault-secrets: %q: %v", entry, strings.TrimPrefix(err.Error(), "resolving "))
		}
		out = append(out, VaultSecret{Ref: ref, Name: name})
	}
	return out, nil
}

func knownName(n string) bool {
	for _, k := range VaultSecretNames {
		if n == k {
			return true
		}
	}
	return false
}
