// Package redact hides secret values in everything sign-step prints. The
// command registers each secret as soon as it is read; every writer that can
// reach the user (stdout, stderr, logs, artifacts) goes through a Writer.
//
// A secret is hidden in the forms our output can give it, not only as its
// bytes: JSON string escaping (with and without HTML escapes), Go quoting
// (%q, strconv, slog's TextHandler), URL encoding (query, path and userinfo),
// GitHub's workflow-command escaping, and base64 (standard and URL alphabets,
// padded or not, and at any offset inside a longer base64 text, such as a
// Basic authorization value).
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Replacement is what a secret becomes in output.
const Replacement = "***"

// minLen is the shortest value masked: hiding shorter ones would garble
// ordinary output without protecting anything.
const minLen = 4

// minCoreLen is the shortest base64 fragment masked for a secret embedded at
// an offset in longer base64 text: shorter fragments could match digests.
const minCoreLen = 8

// Set is a set of secret values. The zero value is ready to use.
type Set struct {
	mu      sync.RWMutex
	values  map[string]bool // registered values
	idx     index
	onAdd   []func(string)
	filters []func([]byte) []byte // AlsoHide: shapes of secrets no value names
}

// AlsoHide adds a filter every redaction applies after the registered
// values, for secrets known by their shape rather than their value (the
// query of a URL, where tokens and presigned signatures travel). A filter
// returns its input when it changes nothing and never modifies it.
func (s *Set) AlsoHide(filter func([]byte) []byte) {
	s.mu.Lock()
	s.filters = append(s.filters, filter)
	s.mu.Unlock()
}

// Mask adds a value and its escaped and encoded forms. Values shorter than 4
// bytes are ignored.
func (s *Set) Mask(v string) {
	if len(v) < minLen {
		return
	}
	s.mu.RLock()
	have := s.values[v]
	s.mu.RUnlock()
	if have {
		return
	}
	forms := Forms(v) // outside the lock: it allocates
	s.mu.Lock()
	if s.values[v] {
		s.mu.Unlock()
		return
	}
	if s.values == nil {
		s.values = map[string]bool{}
	}
	s.values[v] = true
	for _, f := range forms {
		s.idx.add(f)
	}
	hooks := append([]func(string){}, s.onAdd...)
	s.mu.Unlock()
	for _, h := range hooks {
		h(v) // the runner derives its own encoded forms
	}
}

// OnMask calls fn for every value masked from now on (CI runners' own masking).
func (s *Set) OnMask(fn func(string)) {
	s.mu.Lock()
	s.onAdd = append(s.onAdd, fn)
	s.mu.Unlock()
}

// Redact returns b with every occurrence of every form of every secret
// replaced. Occurrences are found in b as given and merged where they
// overlap or touch, so one secret hidden cannot expose part of another. b is
// returned unchanged (not copied) when it holds no secret, and never
// modified.
func (s *Set) Redact(b []byte) []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b = s.idx.redact(b)
	for _, f := range s.filters {
		b = f(b)
	}
	return b
}

// String redacts a string.
func (s *Set) String(v string) string {
	r := s.Redact([]byte(v))
	return string(r)
}

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

// Forms returns v and every escaped or encoded form of it that Redact
// hides, without duplicates. JSON and Go quoting are also applied twice (a
// JSON document or log line quoted inside another), and each textual form
// is also given GitHub's workflow-command escaping, since an annotation
// escapes a message after it was formatted.
func Forms(v string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if len(f) >= minLen && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	user := url.User(v).String()
	pass := strings.TrimPrefix(url.UserPassword("", v).String(), ":")
	js, q := jsonString(v, true), unquote(strconv.Quote(v))
	text := []string{v, js, jsonString(v, false), q, unquote(strconv.QuoteToASCII(v)),
		url.QueryEscape(v), url.PathEscape(v), user, pass,
		// Escaped twice: a JSON document or log line quoted inside another.
		jsonString(js, true), unquote(strconv.Quote(js)), jsonString(q, true), unquote(strconv.Quote(q))}
	for _, t := range text {
		add(t)
		add(githubData(t))
		add(githubProperty(t))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(v)))
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(v)))
		for shift := 0; shift < 3; shift++ {
			if c := base64Core(raw, v, shift); len(c) >= minCoreLen {
				add(c)
			}
		}
	}
	return out
}

// base64Core is the part of the base64 text of v that is the same wherever v
// sits in a longer input whose length before v is shift modulo 3: the
// characters made only of v's bits.
func base64Core(enc *base64.Encoding, v string, shift int) string {
	buf := make([]byte, shift+len(v))
	copy(buf[shift:], v)
	e := enc.EncodeToString(buf)
	from := (8*shift + 5) / 6 // first character with no bit of the prefix
	to := 8 * len(buf) / 6    // characters wholly inside the input
	if to <= from {
		return ""
	}
	return e[from:to]
}

func jsonString(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(v) // a string always encodes
	return unquote(strings.TrimSuffix(b.String(), "\n"))
}

func unquote(q string) string { return q[1 : len(q)-1] }

// githubData and githubProperty are the escapes of GitHub workflow commands
// (go-githubactions and @actions/core): message data and property values.
func githubData(v string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(v)
}

func githubProperty(v string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(v)
}

// index finds every pattern in one pass: each pattern is filed under its
// first four bytes, a bitset of their hashes rejects almost every position
// with one load and one shift, and only positions that pass are compared.
type index struct {
	filter   [1 << 10]uint64 // 65536 bits
	anchors  map[uint32][]int
	patterns [][]byte
	seen     map[string]bool
}

func anchorHash(a uint32) uint32 { return (a * 0x9E3779B1) >> 16 }

func (x *index) add(p string) {
	if x.seen == nil {
		x.seen, x.anchors = map[string]bool{}, map[uint32][]int{}
	}
	if len(p) < minLen || x.seen[p] {
		return
	}
	x.seen[p] = true
	a := binary.LittleEndian.Uint32([]byte(p[:4]))
	h := anchorHash(a)
	x.filter[h>>6] |= 1 << (h & 63)
	x.anchors[a] = append(x.anchors[a], len(x.patterns))
	x.patterns = append(x.patterns, []byte(p))
}

func (x *index) redact(b []byte) []byte {
	if len(x.patterns) == 0 || len(b) < minLen {
		return b
	}
	var out []byte
	start, end := -1, -1 // the merged range being hidden
	last := 0            // b[last:start] is still to be copied
	flush := func() {
		if out == nil {
			out = make([]byte, 0, len(b))
		}
		out = append(out, b[last:start]...)
		out = append(out, Replacement...)
		last = end
	}
	for i := 0; i+minLen <= len(b); i++ {
		a := binary.LittleEndian.Uint32(b[i:])
		h := anchorHash(a)
		if x.filter[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, pi := range x.anchors[a] {
			p := x.patterns[pi]
			if !bytes.HasPrefix(b[i:], p) {
				continue
			}
			switch {
			case start < 0:
				start, end = i, i+len(p)
			case i <= end:
				end = max(end, i+len(p))
			default:
				flush()
				start, end = i, i+len(p)
			}
		}
	}
	if start < 0 {
		return b
	}
	flush()
	return append(out, b[last:]...)
}
