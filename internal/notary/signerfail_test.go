package notary

import (
	"fmt"
	"strings"
	"testing"

	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/tuf/validation"

	"github.com/sign-step/sign-step/internal/core"
)

func TestExplainSignerFailure(t *testing.T) {
	t.Parallel()
	r := &Repo{gun: "registry.example/app", server: "https://notary.example"}
	tests := []struct {
		name string
		err  error
		want string // "" = not a signer failure: the generic explanation
	}{
		{"signer down (grpc 1.0)", validation.ErrValidation{Msg: "rpc error: code = 14 desc = grpc: the connection is unavailable"}, "notary-signer) is unreachable"},
		{"signer down (newer grpc)", fmt.Errorf("publishing: %w", validation.ErrValidation{Msg: "rpc error: code = Unavailable desc = connection refused"}), "notary-signer) is unreachable"},
		{"connection reset (grpc 1.0)", validation.ErrValidation{Msg: `rpc error: code = 13 desc = connection error: desc = "transport: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"`}, "notary-signer) is unreachable"},
		{"signer fails", validation.ErrValidation{Msg: "rpc error: code = 2 desc = failed to decrypt key"}, "notary-signer) failed (rpc error: code = 2"},
		{"other validation error", validation.ErrValidation{Msg: "no pre-existing root"}, ""},
		{"bad targets", validation.ErrBadTargets{Msg: "rpc error: lookalike"}, ""},
		{"server unavailable", store.ErrServerUnavailable{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := r.explain(tt.err)
			if core.ClassOf(err) != core.ClassNotary {
				t.Errorf("class %d, want %d", core.ClassOf(err), core.ClassNotary)
			}
			isSigner := strings.Contains(err.Error(), "could not sign the update of registry.example/app")
			if isSigner != (tt.want != "") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("explain(%v) = %q, want signer failure %v with %q", tt.err, err, tt.want != "", tt.want)
			}
			if tt.want != "" && (!strings.Contains(err.Error(), "https://notary.example") || !strings.Contains(err.Error(), "stored nothing")) {
				t.Errorf("%q does not name the server and that nothing was stored", err)
			}
		})
	}
}
