package redact

import "strings"

// Parts is the one masking rule of sign-step: what to hide of a secret
// value v, besides v itself. A multi-line value (a PEM key) is hidden line
// by line too, since logs print lines; but PEM armor (-----BEGIN ...) and,
// in an armored value, PEM headers (role: ci, Proc-Type: ...) are not
// secret, and masking them would hide signer names in every log. Lines
// shorter than the shortest masked value are left out. The resolver, the
// GitHub Action's inputs and GitHub's ::add-mask:: all use it.
func Parts(v string) []string {
	armored := strings.Contains(v, "-----BEGIN")
	var out []string
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < minLen || strings.HasPrefix(line, "-----") || (armored && strings.Contains(line, ": ")) {
			continue
		}
		out = append(out, line)
	}
	return out
}

// MaskSecret masks v and its Parts.
func (s *Set) MaskSecret(v string) {
	s.Mask(strings.TrimSpace(v))
	for _, p := range Parts(v) {
		s.Mask(p)
	}
}
