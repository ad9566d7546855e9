package notary

import (
	"errors"
	"strings"

	"github.com/theupdateframework/notary/tuf/validation"

	"github.com/sign-step/sign-step/internal/core"
)

// signerFailure explains an update notary-server refused because it could
// not sign it, or returns nil. notary-server signs every update's timestamp
// (and a server-held snapshot) through its only gRPC peer, notary-signer,
// and returns that call's gRPC status as a generic validation error:
// "An error occurred during validation: rpc error: code = 14 desc = ...".
// The server validates and signs before it stores anything, so nothing of
// the update was published.
func (r *Repo) signerFailure(err error) error {
	var v validation.ErrValidation
	if !errors.As(err, &v) || !strings.HasPrefix(v.Msg, "rpc error:") {
		return nil
	}
	state := "failed"
	// Unavailable, or a broken connection (grpc-go 1.0.5 reports a reset as Internal).
	if strings.Contains(v.Msg, "code = 14 ") || strings.Contains(v.Msg, "code = Unavailable ") || strings.Contains(v.Msg, "desc = connection error:") {
		state = "is unreachable"
	}
	return core.Classedf(core.ClassNotary,
		"notary server %s could not sign the update of %s: its signing service (notary-signer) %s (%s); the server stored nothing: retry once notary-server signs again (its /_notary_server/health checks the signer)",
		r.server, r.gun, state, v.Msg)
}
