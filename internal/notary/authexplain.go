package notary

import (
	"errors"
	"strconv"
	"strings"

	"github.com/docker/distribution/registry/api/errcode"
	store "github.com/theupdateframework/notary/storage"

	"github.com/sign-step/sign-step/internal/core"
)

// loginRefused is explain for a notary server (or its token service) that
// refused our login, or our lack of one: nil for any other error. Docker
// says "unauthorized"; we name where the login comes from.
func (r *Repo) loginRefused(err error) error {
	var net store.NetworkError
	var unavailable store.ErrServerUnavailable
	refused := false
	switch {
	case errors.As(err, &net):
		refused = isUnauthorized(net.Wrapped)
	case errors.As(err, &unavailable):
		refused = isStatus401(unavailable)
	}
	if !refused {
		return nil
	}
	return core.Classedf(core.ClassNotary, "notary server %s refused access to %s (401): check --registry-username/--registry-password or docker login for %s", r.server, r.gun, registryHost(r.gun.String()))
}

// isUnauthorized reports whether err is distribution's token fetch answered 401.
func isUnauthorized(err error) bool {
	var one errcode.Error
	if errors.As(err, &one) {
		return one.Code == errcode.ErrorCodeUnauthorized
	}
	var list errcode.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			if errors.As(e, &one) && one.Code == errcode.ErrorCodeUnauthorized {
				return true
			}
		}
	}
	return false
}

// isStatus401 reports whether notary's store got a 401 (its code is unexported).
func isStatus401(e store.ErrServerUnavailable) bool {
	return e.Error() == "you are not authorized to perform this operation: server returned 401."
}

// isStatus5xx reports whether notary's store got a server error (its code
// is unexported; the message ends in it: "…at this time: 503.").
func isStatus5xx(e store.ErrServerUnavailable) bool {
	msg := strings.TrimSuffix(e.Error(), ".")
	i := strings.LastIndex(msg, " ")
	code, err := strconv.Atoi(msg[i+1:])
	return err == nil && code >= 500
}

func registryHost(gun string) string {
	host, _, _ := strings.Cut(gun, "/")
	return host
}
