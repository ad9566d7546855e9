// Package redact hides secret values in everything sign-step prints. The
// command registers each secret as soon as it is read; every writer that can
// reach the user (stdout, stderr, logs, artifacts) goes through a Writer.
package redact

import (
	"bytes"
	"io"
	"sort"
	"sync"
)

// Replacement is what a secret becomes in output.
const Replacement = "***"

// Set is a set of secret values. The zero value is ready to use.
type Set struct {
	mu      sync.RWMutex
	secrets [][]byte // longest first, so a secret containing another is hidden whole
	onAdd   []func(string)
}

// Mask adds a value. Values shorter than 4 bytes are ignored: hiding them
// would garble ordinary output without protecting anything.
func (s *Set) Mask(v string) {
	if len(v) < 4 {
		return
	}
	s.mu.Lock()
	for _, have := range s.secrets {
		if string(have) == v {
			s.mu.Unlock()
			return
		}
	}
	s.secrets = append(s.secrets, []byte(v))
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
	hooks := append([]func(string){}, s.onAdd...)
	s.mu.Unlock()
	for _, h := range hooks {
		h(v)
	}
}

// OnMask calls fn for every value masked from now on (CI runners' own masking).
func (s *Set) OnMask(fn func(string)) {
	s.mu.Lock()
	s.onAdd = append(s.onAdd, fn)
	s.mu.Unlock()
}

// Redact returns b with every secret replaced.
func (s *Set) Redact(b []byte) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sec := range s.secrets {
		if bytes.Contains(b, sec) {
			b = bytes.ReplaceAll(b, sec, []byte(Replacement))
		}
	}
	return b
}

// String redacts a string.
func (s *Set) String(v string) string { return string(s.Redact([]byte(v))) }

// Writer redacts each write to w. Callers write whole lines or documents
// (loggers, encoders), so a secret is never split across two writes.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{set: s, w: w} }

type writer struct {
	set *Set
	w   io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	if _, err := w.w.Write(w.set.Redact(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
