package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Class groups failures by what the user has to fix; each class has its own
// process exit code, documented in the README.
type Class int

// Exit codes. 1 is anything unclassified.
const (
	ClassInternal Class = 1
	ClassUsage    Class = 2  // flags, references, missing input
	ClassKey      Class = 3  // unreadable key, wrong or missing passphrase
	ClassSigner   Class = 4  // our key signs no role of the repository
	ClassRegistry Class = 5  // tag or digest missing, registry unreachable or refusing
	ClassNotary   Class = 6  // notary unreachable, repository not initialized, publish rejected
	ClassTLS      Class = 7  // certificate verification failed
	ClassVerify   Class = 8  // a tag is not signed as required
	ClassSecrets  Class = 9  // a secret reference cannot be resolved
	ClassTimeout  Class = 10 // the overall deadline passed or the job was cancelled
)

// ClassError attaches a Class to an error.
type ClassError struct {
	Class Class
	Err   error
}

func (e *ClassError) Error() string { return e.Err.Error() }
func (e *ClassError) Unwrap() error { return e.Err }

// Classed wraps err with class c unless err already carries a class.
func Classed(c Class, err error) error {
	if err == nil {
		return nil
	}
	var ce *ClassError
	if errors.As(err, &ce) {
		return err
	}
	return &ClassError{Class: c, Err: err}
}

// Classedf formats an error and classes it.
func Classedf(c Class, format string, args ...any) error {
	return &ClassError{Class: c, Err: fmt.Errorf(format, args...)}
}

// ClassOf reports the class of err: its own, TLS or timeout when the cause
// says so, else ClassInternal.
func ClassOf(err error) Class {
	if err == nil {
		return 0
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ClassTimeout
	}
	var verify *tlsVerifyError
	if IsCertificateError(err) || errors.As(err, &verify) {
		return ClassTLS
	}
	var ce *ClassError
	if errors.As(err, &ce) {
		return ce.Class
	}
	var re *RefError
	if errors.As(err, &re) {
		return ClassUsage
	}
	return ClassInternal
}

// IsCertificateError reports a server certificate that did not verify
// (unknown authority, wrong name, invalid), which no retry can fix. It is
// the one TLS classifier: retries, exit codes and messages all ask it.
func IsCertificateError(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verification *tls.CertificateVerificationError
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verification)
}

// tlsVerifyError lets adapters mark TLS failures the standard library reports
// as plain strings (the notary client flattens its errors).
type tlsVerifyError struct{ err error }

func (e *tlsVerifyError) Error() string { return e.err.Error() }
func (e *tlsVerifyError) Unwrap() error { return e.err }

// TLSError marks err as a certificate verification failure.
func TLSError(err error) error { return &tlsVerifyError{err: err} }

// NoSignableRoleError says that none of our keys can sign a tag of a
// repository, and lists who can.
type NoSignableRoleError struct {
	GUN     string
	KeyIDs  []string            // ours
	Signers map[string][]string // delegation role → key IDs
}

func (e *NoSignableRoleError) Error() string {
	msg := fmt.Sprintf("no role of %s accepts key %s", e.GUN, joinOr(e.KeyIDs, "(none loaded)"))
	if len(e.Signers) == 0 {
		return msg + "; the repository has no signers: add one with `sign-step signer add` or `docker trust signer add`"
	}
	msg += "; its signers are"
	for _, name := range slices.Sorted(maps.Keys(e.Signers)) {
		msg += fmt.Sprintf(" %s (%s)", name, joinOr(e.Signers[name], "no keys"))
	}
	return msg
}

// NoTrustDataError says a repository has no trust data on the server.
type NoTrustDataError struct {
	GUN    string
	Detail string // notary's words: "<server host> does not have trust data for <gun>"
	Hint   string // what to do, for commands that write
}

func (e *NoTrustDataError) Error() string {
	msg := fmt.Sprintf("remote trust data does not exist for %s: %s", e.GUN, e.Detail)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

// NoTrustError says a tag has no trust data docker would accept, in
// docker's words ("No valid trust data for TAG", "No trust data for TAG").
type NoTrustError struct {
	Ref     string
	Message string
}

func (e *NoTrustError) Error() string { return e.Message }

// joinOr joins s with commas, or is empty when s is.
func joinOr(s []string, empty string) string {
	if len(s) == 0 {
		return empty
	}
	return strings.Join(s, ", ")
}
