package testenv

import (
	"errors"
	"fmt"
	"testing"
)

// TestSkipUnavailable: only a missing PostgreSQL outside CI may skip.
func TestSkipUnavailable(t *testing.T) {
	t.Parallel()
	missing := fmt.Errorf("starting: %w", &PostgresUnavailableError{Reason: "no initdb"})
	other := errors.New("notary-signer exited")
	tests := []struct {
		name string
		err  error
		ci   string
		want bool
	}{
		{"missing, not CI", missing, "", true},
		{"missing, CI=false", missing, "false", true},
		{"missing, CI=true", missing, "true", false},
		{"missing, CI=1", missing, "1", false},
		{"other failure, not CI", other, "", false},
		{"other failure, CI", other, "true", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv := func(k string) string {
				if k == "CI" {
					return tt.ci
				}
				return ""
			}
			if got := skipUnavailable(tt.err, getenv); got != tt.want {
				t.Errorf("skipUnavailable(%v, CI=%q) = %v, want %v", tt.err, tt.ci, got, tt.want)
			}
		})
	}
}
