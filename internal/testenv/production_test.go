package testenv_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/testenv"
)

// TestProductionNotaryBoundaries checks that the production topology is
// what it claims: notary-signer talks only to a client with a certificate
// from its CA, PostgreSQL only to each database's owner over TLS with a
// client certificate, and both servers keep their data there.
func TestProductionNotaryBoundaries(t *testing.T) {
	t.Parallel()
	p := env.ProductionNotary(t)

	t.Run("signer mutual TLS", func(t *testing.T) {
		t.Parallel()
		ca, cert, key := p.SignerClientFiles()
		caPEM, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		good, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		// The Env's public server certificate is a valid certificate from another CA.
		foreign, err := tls.LoadX509KeyPair(env.Dir+"/server.crt", env.Dir+"/server.key")
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name    string
			certs   []tls.Certificate
			refused bool
		}{
			{"notary-server's client certificate", []tls.Certificate{good}, false},
			{"no client certificate", nil, true},
			{"certificate from another CA", []tls.Certificate{foreign}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				// With TLS 1.3 the server judges the client certificate after
				// the client's handshake ends: the first read tells.
				c, err := tls.Dial("tcp", p.SignerAddr, &tls.Config{RootCAs: pool, Certificates: tt.certs})
				if err == nil {
					defer c.Close()
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, err = c.Read(make([]byte, 64)) // gRPC servers send SETTINGS first
				}
				if refused := err != nil; refused != tt.refused {
					t.Errorf("refused = %v (%v), want %v", refused, err, tt.refused)
				}
			})
		}
	})

	t.Run("database access", func(t *testing.T) {
		t.Parallel()
		ca, serverCert, serverKey := p.DBClientFiles("server")
		_, signerCert, signerKey := p.DBClientFiles("signer")
		withCert := func(db, user, cert, key string) string {
			return fmt.Sprintf("dbname=%s user=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s", db, user, ca, cert, key)
		}
		tests := []struct {
			name, conninfo string
			wantErr        string // "" = connects
		}{
			{"server with its certificate", withCert("notaryserver", "server", serverCert, serverKey), ""},
			{"signer with its certificate", withCert("notarysigner", "signer", signerCert, signerKey), ""},
			{"without TLS", "dbname=notaryserver user=server sslmode=disable", "no pg_hba.conf entry"},
			{"TLS without a certificate", fmt.Sprintf("dbname=notaryserver user=server sslmode=verify-full sslrootcert=%s sslcert=/nonexistent sslkey=/nonexistent", ca), "certificate"},
			{"signer's certificate as server", withCert("notaryserver", "server", signerCert, signerKey), "certificate authentication failed"},
			{"signer into the server's database", withCert("notaryserver", "signer", signerCert, signerKey), "no pg_hba.conf entry"},
			{"superuser over TCP", withCert("postgres", "postgres", serverCert, serverKey), "no pg_hba.conf entry"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				out, err := p.PSQL(t.Context(), tt.conninfo, "SELECT current_user")
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("refused: %v\n%s", err, out)
				case tt.wantErr != "" && (err == nil || !strings.Contains(out, tt.wantErr)):
					t.Errorf("got %v %q, want refusal with %q", err, out, tt.wantErr)
				}
			})
		}
	})

	t.Run("schema from notary's migrations", func(t *testing.T) {
		t.Parallel()
		for db, want := range map[string]string{"notaryserver": "change_category,changefeed,tuf_files", "notarysigner": "private_keys"} {
			got, err := p.SQL(t.Context(), db, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s tables = %q, want %q", db, got, want)
			}
		}
		// The readiness probe asked notary-server for a timestamp key: the
		// signer made it and stored it, encrypted, in its database.
		got, err := p.SQL(t.Context(), "notarysigner", "SELECT count(*) > 0 AND bool_and(passphrase_alias = 'signstep_1') FROM private_keys WHERE role = 'timestamp'")
		if err != nil || got != "t" {
			t.Errorf("signer keys in PostgreSQL: %q %v", got, err)
		}
	})
}

// TestWithProductionNotaryCloses starts a second Env with the option and
// checks that Close stops every process of the topology and removes its files.
func TestWithProductionNotaryCloses(t *testing.T) {
	t.Parallel()
	e, err := testenv.Start(t.Context(), testenv.WithProductionNotary())
	if err != nil {
		t.Fatal(err)
	}
	p := e.ProductionNotary(t) // the one Start made, not a new one
	if again := e.ProductionNotary(t); again != p {
		t.Fatal("ProductionNotary started a second topology")
	}
	addrs := []string{strings.TrimPrefix(p.URL, "https://"), p.SignerAddr, p.DBAddr}
	for _, a := range addrs {
		c, err := net.DialTimeout("tcp", a, 5*time.Second)
		if err != nil {
			t.Fatalf("%s not listening before Close: %v", a, err)
		}
		c.Close()
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listening after Close", a)
		}
	}
	if _, err := os.Stat(e.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Close: %v", e.Dir, err)
	}
}
