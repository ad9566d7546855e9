package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/deploy"
)

// TestRender: the four files, the JSON ones valid, laid out under -etc, and
// the signer's host and port split into notary-server's trust_service.
func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, signer, db string
		wantErr          string
	}{
		{"defaults", "notary-signer.internal:7899", "postgres.internal:5432", ""},
		{"signer without port", "notary-signer.internal", "postgres.internal:5432", "parsing -signer"},
		{"db without port", "notary-signer.internal:7899", "postgres.internal", "parsing -db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := t.TempDir()
			err := render(out, "/srv/notary", ":4443", tt.signer, tt.db, "10.0.0.0/24", deploy.Token{Realm: "https://auth.example.com/token"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var server struct {
				TrustService struct {
					Hostname  string
					Port      string
					TLSCAFile string `json:"tls_ca_file"`
				} `json:"trust_service"`
				Auth struct{ Type string }
			}
			b, err := os.ReadFile(filepath.Join(out, "notary-server.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &server); err != nil {
				t.Fatalf("notary-server.json: %v", err)
			}
			if ts := server.TrustService; ts.Hostname != "notary-signer.internal" || ts.Port != "7899" || ts.TLSCAFile != "/srv/notary/signer/ca.crt" || server.Auth.Type != "token" {
				t.Errorf("notary-server.json: %+v", server)
			}
			b, err = os.ReadFile(filepath.Join(out, "notary-signer.json"))
			if err != nil || !json.Valid(b) {
				t.Errorf("notary-signer.json: %v\n%s", err, b)
			}
			for _, f := range []string{"pg_hba.conf", "postgresql-tls.conf"} {
				if b, err := os.ReadFile(filepath.Join(out, f)); err != nil || !strings.Contains(string(b), "/srv/notary/") && f != "pg_hba.conf" {
					t.Errorf("%s: %v\n%s", f, err, b)
				}
			}
		})
	}
}
