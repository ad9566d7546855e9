package deploy

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestRenderJSON: both configs render to JSON notary reads back as given,
// with and without token auth, for values that need quoting.
func TestRenderJSON(t *testing.T) {
	t.Parallel()
	odd := `/etc/no"ta\ry/x&y.crt` // a quote, a backslash, an ampersand
	db := DB{User: "server", Addr: "db.internal:5432", Name: "notaryserver", CA: odd, Cert: "/c", Key: "/k"}
	token := &Token{Realm: "https://harbor.example.com/service/token", Service: "harbor-notary", Issuer: "harbor-token-issuer", RootCertBundle: odd}
	tests := []struct {
		name, tmpl string
		data       any
		want       map[string]string // dotted path → value
	}{
		{"server with token auth", ServerConfig, Server{Addr: ":4443", TLSCert: odd, TLSKey: "/k", DB: db, Auth: token, LogLevel: "info",
			Signer: SignerClient{Host: "signer.internal", Port: "7899", CA: odd, ClientCert: "/cc", ClientKey: "/ck"}},
			map[string]string{"server.tls_cert_file": odd, "trust_service.type": "remote", "trust_service.port": "7899",
				"auth.type": "token", "auth.options.service": "harbor-notary", "auth.options.rootcertbundle": odd, "storage.backend": "postgres"}},
		{"server without auth", ServerConfig, Server{Addr: ":4443", DB: db, LogLevel: "info"},
			map[string]string{"auth": "", "trust_service.tls_ca_file": ""}},
		{"signer", SignerConfig, Signer{Addr: ":7899", ClientCA: odd, DB: db, Alias: "main", LogLevel: "info"},
			map[string]string{"server.client_ca_file": odd, "storage.default_alias": "main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := RenderString(tt.tmpl, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal([]byte(s), &cfg); err != nil {
				t.Fatalf("invalid JSON: %v\n%s", err, s)
			}
			for path, want := range tt.want {
				if got := lookup(cfg, path); got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			u, err := url.Parse(lookup(cfg, "storage.db_url"))
			if err != nil {
				t.Fatal(err)
			}
			if q := u.Query(); q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != odd || u.User.Username() != "server" {
				t.Errorf("db_url %s: want verify-full TLS as user server with CA %s", u, odd)
			}
		})
	}
}

// lookup returns the string at a dotted path ("" if absent; objects as "{}").
func lookup(cfg map[string]any, path string) string {
	var v any = cfg
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[k]; !ok {
			return ""
		}
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "{}"
}

// TestRenderPostgres: pg_hba admits each owner only to its database with a
// certificate, and postgresql.conf strings are quoted.
func TestRenderPostgres(t *testing.T) {
	t.Parallel()
	hba, err := RenderString(PGHBA, HBA{LocalMethod: "peer", ClientNet: "10.0.0.0/24",
		Databases: []Database{{"notaryserver", "server"}, {"notarysigner", "signer"}}})
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(hba, "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			rules = append(rules, strings.Join(f, " "))
		}
	}
	want := []string{"local all all peer", "hostssl notaryserver server 10.0.0.0/24 cert", "hostssl notarysigner signer 10.0.0.0/24 cert"}
	if strings.Join(rules, "\n") != strings.Join(want, "\n") {
		t.Errorf("pg_hba rules:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(want, "\n"))
	}
	conf, err := RenderString(PGTLS, PGTLSFiles{Cert: "/it's.crt", Key: "/k", CA: "/ca"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conf, "ssl = on") || !strings.Contains(conf, `ssl_cert_file = '/it''s.crt'`) {
		t.Errorf("postgresql-tls.conf:\n%s", conf)
	}
}
