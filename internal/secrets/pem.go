package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// Material says whether PEM material is secret.
type Material int

const (
	// PrivatePEM is a private key: every form of it is masked.
	PrivatePEM Material = iota
	// PublicPEM is a certificate or public key: not masked, so that CI
	// logs do not announce public material as secret. A value that turns
	// out to hold a private key is masked all the same.
	PublicPEM
)

// Base64Scheme names an environment variable holding a PEM in base64
// (base64 -w0 key.pem), the form a GitLab masked variable can hold.
const Base64Scheme = "base64://"

// pemForms is what an error says was tried; it never shows the value.
const pemForms = "tried PEM (-----BEGIN ..., with LF, CRLF or literal \\n line breaks) and base64 of a PEM"

// ResolvePEM resolves ref, given to flag (e.g. "--key"), to PEM in every
// shape CI variables carry it:
//
//   - PEM, with LF, CRLF or literal "\n" line breaks (a one-line variable);
//   - base64 of such a PEM, detected in any reference, or named with
//     base64://VAR;
//   - env://VAR, file://PATH, vault://... and a bare value (inline PEM,
//     inline base64 or a file path).
//
// An env:// variable that holds the path of a file (a GitLab File-type
// variable) is refused with a hint to use file://$VAR. Errors name the
// reference and the forms tried, never the value.
func (r *Resolver) ResolvePEM(ctx context.Context, flag, ref string, m Material) (core.Secret, string, error) {
	var raw []byte
	var origin string
	switch {
	case strings.HasPrefix(ref, Base64Scheme):
		name := strings.TrimPrefix(ref, Base64Scheme)
		v := r.Getenv(name)
		if v == "" {
			return nil, ref, core.Classedf(core.ClassSecrets, "resolving %s: environment variable %s is empty or unset", ref, name)
		}
		r.maskIf(m, v)
		pemBytes, ok := decodeBase64PEM(v)
		if !ok {
			return nil, ref, core.Classedf(core.ClassKey, "resolving %s: the variable is not base64 of a PEM (base64 -w0 FILE makes one)", ref)
		}
		return r.found(m, pemBytes, v), ref, nil
	case strings.HasPrefix(ref, "env://") && m == PublicPEM:
		name := strings.TrimPrefix(ref, "env://")
		v := r.Getenv(name)
		if v == "" {
			return nil, ref, core.Classedf(core.ClassSecrets, "resolving %s: environment variable %s is empty or unset", ref, name)
		}
		raw, origin = []byte(v), ref
	case strings.HasPrefix(ref, "file://") && m == PublicPEM:
		path := strings.TrimPrefix(ref, "file://")
		b, err := readPath(r, path)
		if err != nil {
			return nil, ref, core.Classedf(core.ClassSecrets, "resolving %s: %w", ref, unwrapPath(err))
		}
		raw, origin = b, ref
	case strings.HasPrefix(ref, "env://"), strings.HasPrefix(ref, "file://"), strings.HasPrefix(ref, VaultScheme), IsTransitRef(ref):
		v, o, err := r.Resolve(ctx, ref, KeyOrPath) // masks what it reads
		if err != nil {
			return nil, o, err
		}
		raw, origin = v, o
	default:
		return r.bareValue(flag, ref, m)
	}
	if p, ok := toPEM(raw); ok {
		return r.found(m, p, string(raw)), origin, nil
	}
	if name, isEnv := strings.CutPrefix(ref, "env://"); isEnv && isFilePath(string(raw)) {
		return nil, origin, core.Classedf(core.ClassKey, "resolving %s: the variable holds the path of a file, not a PEM (a GitLab File-type variable?): pass file://$%s", ref, name)
	}
	return nil, origin, core.Classedf(core.ClassKey, "resolving %s: no PEM found: %s", ref, pemForms)
}

// bareValue is a value with no scheme: inline PEM, inline base64 of a PEM
// or a path. A value that is none of them may be the key itself, mangled:
// it is masked and never echoed.
func (r *Resolver) bareValue(flag, v string, m Material) (core.Secret, string, error) {
	if strings.Contains(v, "-----BEGIN") {
		r.maskIf(m, v)
		p, _ := toPEM([]byte(v))
		return r.found(m, p, v), "inline PEM", nil
	}
	if p, ok := decodeBase64PEM(v); ok {
		r.maskIf(m, v)
		return r.found(m, p, v), "inline base64 PEM", nil
	}
	b, err := readPath(r, v)
	if err != nil {
		r.maskIf(m, v)
		if flag == "" {
			flag = "the value"
		}
		return nil, "the value of " + flag, core.Classedf(core.ClassSecrets,
			"%s: not a PEM and not a readable file, nor base64 of a PEM (%v); the value is not shown: give inline PEM, base64://VAR, env://VAR, file://PATH or a path",
			flag, unwrapPath(err))
	}
	origin := "file://" + v
	r.maskIf(m, string(b))
	if p, ok := toPEM(b); ok {
		return r.found(m, p, string(b)), origin, nil
	}
	return nil, origin, core.Classedf(core.ClassKey, "resolving %s: no PEM found: %s", origin, pemForms)
}

// found masks the PEM finally used (its lines may differ from the value's:
// decoded base64, split literal \n) and returns it. When that PEM holds a
// private key, the value it came from is masked too, whatever its encoding
// (base64 of a combined cert and key given where a public PEM is asked).
func (r *Resolver) found(m Material, p []byte, from string) core.Secret {
	r.maskIf(m, string(p))
	if m == PrivatePEM || strings.Contains(string(p), "PRIVATE KEY") {
		r.mask(from)
	}
	return core.Secret(p)
}

// maskIf masks v when it is, or holds, private material.
func (r *Resolver) maskIf(m Material, v string) {
	if m == PrivatePEM || strings.Contains(v, "PRIVATE KEY") {
		r.mask(v)
	}
}

// toPEM normalizes raw to PEM with LF line breaks: CRLF and literal "\n"
// (a PEM pasted into a one-line variable) are turned into LF, and base64 of
// a PEM is decoded. ok is false when raw is none of these.
func toPEM(raw []byte) ([]byte, bool) {
	if bytes.Contains(raw, []byte("-----BEGIN")) {
		p := bytes.ReplaceAll(raw, []byte(`\r\n`), []byte("\n"))
		p = bytes.ReplaceAll(p, []byte(`\n`), []byte("\n"))
		p = bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n"))
		return append(bytes.TrimSpace(p), '\n'), true
	}
	return decodeBase64PEM(string(raw))
}

// decodeBase64PEM decodes v (standard or URL alphabet, padded or not,
// wrapped or not) and reports whether it is a PEM.
func decodeBase64PEM(v string) ([]byte, bool) {
	compact := strings.Join(strings.Fields(v), "")
	if len(compact) < 16 {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(compact)
		if err != nil || !bytes.Contains(b, []byte("-----BEGIN")) {
			continue
		}
		p, _ := toPEM(b)
		return p, true
	}
	return nil, false
}

// isFilePath reports whether v, one line, names an existing regular file.
func isFilePath(v string) bool {
	v = strings.TrimSpace(v)
	if v == "" || strings.ContainsAny(v, "\n") {
		return false
	}
	st, err := os.Stat(v)
	return err == nil && st.Mode().IsRegular()
}

func readPath(r *Resolver, path string) ([]byte, error) {
	if r.ReadFile != nil {
		return r.ReadFile(path)
	}
	return os.ReadFile(path)
}
