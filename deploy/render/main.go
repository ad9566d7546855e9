// Command render writes deploy/'s configuration for one host: notary-server.json,
// notary-signer.json, pg_hba.conf and postgresql-tls.conf, with the file layout of
// deploy/README.md under -etc. It writes no key and no certificate.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/sign-step/sign-step/deploy"
)

func main() {
	out := flag.String("out", "notary-config", "directory to write the files to")
	etc := flag.String("etc", "/etc/notary", "where the files and certificates live on the host")
	listen := flag.String("listen", ":4443", "notary-server's public listen address")
	signer := flag.String("signer", "notary-signer.internal:7899", "notary-signer's gRPC address (HOST:PORT; HOST is checked against its certificate)")
	db := flag.String("db", "postgres.internal:5432", "PostgreSQL address (HOST:PORT; HOST is checked against its certificate)")
	clientNet := flag.String("client-net", "10.0.0.0/24", "network notary-server and notary-signer reach PostgreSQL from (pg_hba.conf)")
	realm := flag.String("realm", "https://auth.example.com/token", "token service clients get tokens from (Harbor: https://HARBOR/service/token)")
	service := flag.String("service", "notary.example.com", "service the tokens are issued for (Harbor: harbor-notary)")
	issuer := flag.String("issuer", "auth.example.com", "the tokens' issuer (Harbor: harbor-token-issuer)")
	flag.Parse()
	if err := render(*out, *etc, *listen, *signer, *db, *clientNet, deploy.Token{
		Realm: *realm, Service: *service, Issuer: *issuer, RootCertBundle: filepath.Join(*etc, "auth", "token-issuer.crt")}); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func render(out, etc, listen, signerAddr, dbAddr, clientNet string, token deploy.Token) error {
	signerHost, signerPort, err := net.SplitHostPort(signerAddr)
	if err != nil {
		return fmt.Errorf("parsing -signer: %w", err)
	}
	if _, _, err := net.SplitHostPort(dbAddr); err != nil {
		return fmt.Errorf("parsing -db: %w", err)
	}
	at := func(p ...string) string { return filepath.Join(append([]string{etc}, p...)...) }
	db := func(user, name string) deploy.DB {
		return deploy.DB{User: user, Addr: dbAddr, Name: name,
			CA: at("db", "ca.crt"), Cert: at("db", user+".crt"), Key: at("db", user+".key")}
	}
	files := []struct {
		name, tmpl string
		data       any
	}{
		{"notary-server.json", deploy.ServerConfig, deploy.Server{
			Addr: listen, TLSCert: at("server", "notary.crt"), TLSKey: at("server", "notary.key"),
			Signer: deploy.SignerClient{Host: signerHost, Port: signerPort,
				CA: at("signer", "ca.crt"), ClientCert: at("signer", "notary-server.crt"), ClientKey: at("signer", "notary-server.key")},
			DB: db("server", "notaryserver"), Auth: &token, LogLevel: "info",
		}},
		{"notary-signer.json", deploy.SignerConfig, deploy.Signer{
			Addr: ":" + signerPort, TLSCert: at("signer", "notary-signer.crt"), TLSKey: at("signer", "notary-signer.key"),
			ClientCA: at("signer", "ca.crt"), DB: db("signer", "notarysigner"), Alias: "main", LogLevel: "info",
		}},
		{"pg_hba.conf", deploy.PGHBA, deploy.HBA{LocalMethod: "peer", ClientNet: clientNet,
			Databases: []deploy.Database{{Name: "notaryserver", Owner: "server"}, {Name: "notarysigner", Owner: "signer"}}}},
		{"postgresql-tls.conf", deploy.PGTLS, deploy.PGTLSFiles{Cert: at("db", "postgres.crt"), Key: at("db", "postgres.key"), CA: at("db", "ca.crt")}},
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", out, err)
	}
	for _, f := range files {
		s, err := deploy.RenderString(f.tmpl, f.data)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f.name), []byte(s+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return nil
}
