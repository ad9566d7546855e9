// Package deploy holds the configuration of a production notary: notary-server
// with a remote notary-signer over mutual TLS, both on PostgreSQL over TLS with
// client certificates, and token auth. The files are Go text/template; the test
// topology (internal/testenv, ProductionNotary) renders and runs these same
// files, and `go run ./deploy/render` writes them for a host (README.md).
package deploy

import (
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/template"
)

//go:embed *.tmpl
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"json":  jsonString,
	"pgurl": pgURL,
	"pgstr": pgString,
}).ParseFS(files, "*.tmpl"))

// The template names.
const (
	ServerConfig = "notary-server.json.tmpl"
	SignerConfig = "notary-signer.json.tmpl"
	TokenAuth    = "token-auth.json.tmpl"
	PGHBA        = "pg_hba.conf.tmpl"
	PGTLS        = "postgresql-tls.conf.tmpl"
)

// Server is notary-server's config.
type Server struct {
	Addr            string // listen address, HOST:PORT
	TLSCert, TLSKey string // its public certificate (clients verify it) and key
	Signer          SignerClient
	DB              DB
	Auth            *Token // nil: no auth (tests only; never in production)
	LogLevel        string
}

// SignerClient is how notary-server reaches notary-signer: mutual TLS with a
// private CA that signs both sides.
type SignerClient struct {
	Host, Port            string
	CA                    string // the signer CA: verifies notary-signer's certificate
	ClientCert, ClientKey string // notary-server's client certificate from that CA
}

// Token is distribution's token auth as notary-server 0.7.0 takes it.
type Token struct {
	Realm          string // URL clients get tokens from
	Service        string // the "service" the tokens are issued for
	Issuer         string // the tokens' "iss"
	RootCertBundle string // PEM file of the certificates the issuer signs with
}

// Signer is notary-signer's config.
type Signer struct {
	Addr            string // gRPC listen address, HOST:PORT
	TLSCert, TLSKey string // from the signer CA
	ClientCA        string // the signer CA: only its client certificates connect
	DB              DB
	Alias           string // key-encryption passphrase alias: $NOTARY_SIGNER_<ALIAS>
	LogLevel        string
}

// DB is a PostgreSQL database reached over verified TLS with a client
// certificate whose CN is User.
type DB struct {
	User, Addr, Name string
	CA, Cert, Key    string
}

// HBA is pg_hba.conf's input.
type HBA struct {
	LocalMethod string // "peer" in production (the postgres OS user); "trust" in a private test socket dir
	ClientNet   string // CIDR notary-server and notary-signer connect from
	Databases   []Database
}

// Database is one database and its owner (the only user allowed in).
type Database struct{ Name, Owner string }

// PGTLSFiles is postgresql-tls.conf's input.
type PGTLSFiles struct{ Cert, Key, CA string }

// Render writes the named template with data.
func Render(w io.Writer, name string, data any) error {
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		return fmt.Errorf("rendering %s: %w", name, err)
	}
	return nil
}

// RenderString is Render into a string.
func RenderString(name string, data any) (string, error) {
	var b strings.Builder
	err := Render(&b, name, data)
	return b.String(), err
}

// jsonString quotes s as JSON, leaving & < > as they are (a URL stays readable).
func jsonString(s string) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n"), err
}

// pgURL is lib/pq's URL for db: sslmode=verify-full checks the server's
// certificate against CA and its name against the host.
func pgURL(db DB) string {
	q := url.Values{"sslmode": {"verify-full"}, "sslrootcert": {db.CA}, "sslcert": {db.Cert}, "sslkey": {db.Key}}
	return (&url.URL{Scheme: "postgres", User: url.User(db.User), Host: db.Addr, Path: "/" + db.Name, RawQuery: q.Encode()}).String()
}

// pgString quotes s as a postgresql.conf string.
func pgString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
