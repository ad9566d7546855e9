package core

import (
	"fmt"
	"regexp"
	"strings"
)

// DockerHub is the registry name docker gives to references without a host.
const DockerHub = "docker.io"

// Ref is an image reference normalized the way docker normalizes it, so that
// Name() is the notary GUN docker uses for the same input.
type Ref struct {
	Registry   string // "docker.io", "registry.example.com:5000"
	Repository string // "library/alpine", "team/app"
	Tag        string // empty for repository or digest references
	Digest     string // "sha256:<hex>", empty unless given
}

var (
	// Grammar of github.com/distribution/reference, restated: lowercase path
	// components separated by '.', '_', '__' or dashes; tags of at most 128 chars.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)
	hostPart      = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
	tagPattern    = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// ParseRef parses s as docker would (reference.ParseNormalizedNamed).
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, &RefError{Ref: s, Reason: "empty reference"}
	}
	if len(s) > 255+128+72 {
		return Ref{}, &RefError{Ref: s, Reason: "reference too long"}
	}
	rest := s
	var r Ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if !digestPattern.MatchString(r.Digest) {
			return Ref{}, &RefError{Ref: s, Reason: "digest must be sha256: followed by 64 lowercase hex characters"}
		}
	}
	// A tag follows the last ':' that comes after the last '/'.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		r.Tag = rest[i+1:]
		rest = rest[:i]
		if !tagPattern.MatchString(r.Tag) {
			return Ref{}, &RefError{Ref: s, Reason: fmt.Sprintf("invalid tag %q", r.Tag)}
		}
	}
	r.Registry, r.Repository = splitHost(rest)
	if r.Registry != DockerHub && !hostPart.MatchString(r.Registry) {
		return Ref{}, &RefError{Ref: s, Reason: fmt.Sprintf("invalid registry host %q", r.Registry)}
	}
	if r.Repository == "" {
		return Ref{}, &RefError{Ref: s, Reason: "missing repository name"}
	}
	for _, c := range strings.Split(r.Repository, "/") {
		if !pathComponent.MatchString(c) {
			if strings.ToLower(c) != c {
				return Ref{}, &RefError{Ref: s, Reason: "repository name must be lowercase"}
			}
			return Ref{}, &RefError{Ref: s, Reason: fmt.Sprintf("invalid repository path component %q", c)}
		}
	}
	if len(r.Name()) > 255 {
		return Ref{}, &RefError{Ref: s, Reason: "repository name must not be more than 255 characters"}
	}
	return r, nil
}

// splitHost separates the registry from the path as docker does: the first
// component is a host only if it has a '.' or ':' or is "localhost".
func splitHost(name string) (host, path string) {
	i := strings.IndexByte(name, '/')
	if i < 0 {
		return DockerHub, "library/" + name
	}
	first := name[:i]
	if !strings.ContainsAny(first, ".:") && first != "localhost" && strings.ToLower(first) == first {
		host, path = DockerHub, name
	} else {
		host, path = first, name[i+1:]
	}
	if host == "index.docker.io" {
		host = DockerHub
	}
	if host == DockerHub && !strings.ContainsRune(path, '/') {
		path = "library/" + path
	}
	return host, path
}

// Name is the fully qualified repository name, which is also the notary GUN.
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// String is the fully qualified reference.
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// WithTag returns r naming tag instead of its own tag or digest.
func (r Ref) WithTag(tag string) Ref {
	return Ref{Registry: r.Registry, Repository: r.Repository, Tag: tag}
}

// RefError reports an image reference that cannot be parsed.
type RefError struct {
	Ref    string
	Reason string
}

func (e *RefError) Error() string { return fmt.Sprintf("invalid reference %q: %s", e.Ref, e.Reason) }

// ValidDigest reports whether d is a sha256 digest as references carry it.
func ValidDigest(d string) bool { return digestPattern.MatchString(d) }
