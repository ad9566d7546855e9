package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sign-step/sign-step/deploy"
)

// ProductionNotary is notary-server as it is deployed: keys held by a
// separate notary-signer reached over gRPC with mutual TLS, and both
// servers' data in PostgreSQL (one database and owner each, schema from
// notary's own migrations, TLS with client certificates). Its public
// endpoint uses the Env's CA and server certificate, so every client that
// trusts the Env trusts it.
type ProductionNotary struct {
	URL        string // "https://127.0.0.1:PORT" of this notary-server
	SignerAddr string // "127.0.0.1:PORT" of notary-signer's gRPC endpoint
	DBAddr     string // "127.0.0.1:PORT" of PostgreSQL

	env         *Env
	dir         string
	pg          *postgres
	signerBin   string
	signerArgs  []string
	signerEnv   []string
	signerTLS   *tls.Config // notary-server's client certificate, for readiness dials
	notary      *server
	notaryBin   string
	signerMu    sync.Mutex
	signer      *server // nil while stopped; guarded by signerMu
	restarts    int     // of notary-server by StartSigner; guarded by signerMu
	probeClient *http.Client
}

// productionSlot starts the topology once per Env, from the Option or on
// first use, and remembers a failure so every test reports the same one.
type productionSlot struct {
	mu   sync.Mutex
	done bool
	p    *ProductionNotary
	err  error
}

// WithProductionNotary also starts a ProductionNotary next to the default
// open pair. Where PostgreSQL is not installed the tests that use it skip,
// unless CI is set, where Start fails.
func WithProductionNotary() Option { return func(o *options) { o.production = true } }

// startProductionOption is Start's part for WithProductionNotary.
func (e *Env) startProductionOption(ctx context.Context) error {
	if _, err := e.startProduction(ctx); err != nil && !skipUnavailable(err, os.Getenv) {
		return err
	}
	return nil // a missing PostgreSQL is remembered: ProductionNotary(t) skips with it
}

// ProductionNotary returns the Env's ProductionNotary, starting it on first
// use (so packages that do not use it pay nothing). Without PostgreSQL it
// skips the test, or fails it in CI; any other start failure fails it.
func (e *Env) ProductionNotary(t testing.TB) *ProductionNotary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := e.startProduction(ctx)
	if err != nil {
		if skipUnavailable(err, os.Getenv) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return p
}

// skipUnavailable says whether err only means PostgreSQL is not installed
// on a machine that is not CI, where a test may skip instead of failing.
func skipUnavailable(err error, getenv func(string) string) bool {
	var missing *PostgresUnavailableError
	return errors.As(err, &missing) && !inCI(getenv)
}

// inCI reports a CI run (CI=true, as GitHub Actions and .ci/run's runner set it).
func inCI(getenv func(string) string) bool {
	v := strings.ToLower(getenv("CI"))
	return v != "" && v != "false" && v != "0"
}

func (e *Env) startProduction(ctx context.Context) (*ProductionNotary, error) {
	s := &e.prod
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.p, s.err = startProductionNotary(ctx, e)
		s.done = true
	}
	return s.p, s.err
}

func (s *productionSlot) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return nil
	}
	err := s.p.close()
	s.p, s.err = nil, errors.New("testenv: the production notary was closed with its Env")
	return err
}

// signerAlias names the signer's key-encryption passphrase: notary-signer
// reads it from NOTARY_SIGNER_<ALIAS> (cmd/notary-signer/config.go).
const signerAlias = "signstep_1"

func startProductionNotary(ctx context.Context, e *Env) (_ *ProductionNotary, err error) {
	tools, err := BuildTools(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.Dir, "production")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	p := &ProductionNotary{env: e, dir: dir, signerBin: tools.NotarySigner}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.close())
		}
	}()

	// Two private PKIs, as a deployment keeps them apart from the public one:
	// one for notary-server ↔ notary-signer, one for the database.
	signerCA, err := newCA("sign-step testenv notary-signer CA")
	if err != nil {
		return nil, err
	}
	dbCA, err := newCA("sign-step testenv database CA")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"signer-ca.crt": signerCA.certPEM, "db-ca.crt": dbCA.certPEM}
	issue := func(name string, ca *certAuthority, cn string, server bool) error {
		c, k, err := ca.issue(cn, server)
		files[name+".crt"], files[name+".key"] = c, k
		return err
	}
	if err := errors.Join(
		issue("notary-signer", signerCA, "notary-signer", true),
		issue("notary-server-client", signerCA, "notary-server", false),
		issue("db-server", dbCA, "server", false), // CN = database user (pg_hba cert auth)
		issue("db-signer", dbCA, "signer", false),
	); err != nil {
		return nil, err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	pgCert, pgKey, err := dbCA.issue("postgres", true)
	if err != nil {
		return nil, err
	}

	p.pg, err = startPostgres(ctx, pgTLS{caPEM: dbCA.certPEM, certPEM: pgCert, keyPEM: pgKey},
		[]pgDatabase{{name: "notaryserver", owner: "server"}, {name: "notarysigner", owner: "signer"}},
		map[string]string{
			"notaryserver": filepath.Join(tools.Migrations, "server", "postgresql"),
			"notarysigner": filepath.Join(tools.Migrations, "signer", "postgresql"),
		})
	if err != nil {
		return nil, err
	}
	p.DBAddr = p.pg.addr

	pass := make([]byte, 16)
	if _, err := rand.Read(pass); err != nil {
		return nil, err
	}
	p.signerEnv = []string{"NOTARY_SIGNER_" + strings.ToUpper(signerAlias) + "=" + hex.EncodeToString(pass)}
	if err := p.startSignerFirst(ctx, signerCA.pool(), files); err != nil {
		return nil, err
	}
	if err := p.startNotaryServer(ctx, tools.NotaryServer); err != nil {
		return nil, err
	}
	// Health is green before the signer was ever asked; a key request is not.
	if err := p.waitSigning(ctx, time.Minute); err != nil {
		return nil, err
	}
	return p, nil
}

// startNotaryServer writes notary-server's config (deploy/'s template) and
// starts it on a free port; it is healthy, which does not yet say it signs.
func (p *ProductionNotary) startNotaryServer(ctx context.Context, bin string) error {
	e, dir := p.env, p.dir
	_, signerPort, _ := net.SplitHostPort(p.SignerAddr)
	client := e.HTTPClient()
	s, addr, err := startServer(ctx, dir, client, serverSpec{
		name:   "notary-server",
		bin:    bin,
		health: "/_notary_server/health",
		ok:     func(status int) bool { return status == http.StatusOK },
		config: func(addr string) ([]string, error) {
			return p.writeConfig("notary-server.json", deploy.ServerConfig, deploy.Server{
				Addr:    addr,
				TLSCert: filepath.Join(e.Dir, "server.crt"),
				TLSKey:  filepath.Join(e.Dir, "server.key"),
				Signer: deploy.SignerClient{
					Host:       "127.0.0.1",
					Port:       signerPort,
					CA:         filepath.Join(dir, "signer-ca.crt"),
					ClientCert: filepath.Join(dir, "notary-server-client.crt"),
					ClientKey:  filepath.Join(dir, "notary-server-client.key"),
				},
				DB:       p.db("server", "notaryserver"),
				LogLevel: "info",
			})
		},
	})
	if err != nil {
		return err
	}
	p.notary, p.URL, p.notaryBin = s, "https://"+addr, bin
	p.probeClient = client
	return nil
}

// startSignerFirst writes notary-signer's config and starts it on a free
// port with p.signerEnv (its key passphrase); caPool and files' client
// certificate are what readiness dials present.
func (p *ProductionNotary) startSignerFirst(ctx context.Context, caPool *x509.CertPool, files map[string][]byte) error {
	cert, err := tls.X509KeyPair(files["notary-server-client.crt"], files["notary-server-client.key"])
	if err != nil {
		return err
	}
	p.signerTLS = &tls.Config{RootCAs: caPool, Certificates: []tls.Certificate{cert}}
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		args, err := p.writeConfig("notary-signer.json", deploy.SignerConfig, deploy.Signer{
			Addr:     addr,
			TLSCert:  filepath.Join(p.dir, "notary-signer.crt"),
			TLSKey:   filepath.Join(p.dir, "notary-signer.key"),
			ClientCA: filepath.Join(p.dir, "signer-ca.crt"), // requires a client certificate
			DB:       p.db("signer", "notarysigner"),
			Alias:    signerAlias,
			LogLevel: "info",
		})
		if err != nil {
			return err
		}
		p.signerArgs, p.SignerAddr = args, addr
		err = p.StartSigner(ctx)
		if err == nil || attempt == startAttempts || !strings.Contains(err.Error(), "address already in use") {
			return err
		}
	}
}

// writeConfig renders the deploy/ template tmpl with data to name in the
// topology's dir: what runs here is what deploy/ ships.
func (p *ProductionNotary) writeConfig(name, tmpl string, data any) ([]string, error) {
	cfg, err := deploy.RenderString(tmpl, data)
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(cfg)) {
		return nil, fmt.Errorf("testenv: deploy/%s rendered invalid JSON:\n%s", tmpl, cfg)
	}
	path := filepath.Join(p.dir, name)
	return []string{"-config", path, "-logf", "logfmt"}, os.WriteFile(path, []byte(cfg), 0o600)
}

// db is user's database: TLS verified against the database CA and the host
// name, and the user's client certificate.
func (p *ProductionNotary) db(user, name string) deploy.DB {
	ca, cert, key := p.DBClientFiles(user)
	return deploy.DB{User: user, Addr: p.pg.addr, Name: name, CA: ca, Cert: cert, Key: key}
}

// StopSigner kills notary-signer, as a crash would. Until StartSigner, no
// other test may use p: notary-server cannot sign timestamps or snapshots.
func (p *ProductionNotary) StopSigner() {
	p.signerMu.Lock()
	defer p.signerMu.Unlock()
	if p.signer != nil {
		p.signer.stop()
		p.signer = nil
	}
}

// StartSigner starts notary-signer again on its address and waits until it
// accepts a mutual-TLS connection and, once notary-server is up, until
// notary-server signs through it again.
//
// notary-server 0.7.0 (grpc-go 1.0.5) does not always reconnect: when the
// signer died with data in flight, its connection fails with the same
// "connection reset by peer" for minutes on end. A deployment's health
// check (/_notary_server/health reports "Trust operational") then restarts
// notary-server; so does StartSigner, on the same address, if signing does
// not resume within a few seconds. ServerRestarts counts these.
func (p *ProductionNotary) StartSigner(ctx context.Context) error {
	if err := p.spawnSigner(ctx); err != nil || p.notary == nil {
		return err
	}
	if p.waitSigning(ctx, 5*time.Second) == nil {
		return nil
	}
	if err := p.restartNotary(ctx); err != nil {
		return err
	}
	return p.waitSigning(ctx, time.Minute)
}

// ServerRestarts reports how often StartSigner restarted notary-server.
func (p *ProductionNotary) ServerRestarts() int {
	p.signerMu.Lock()
	defer p.signerMu.Unlock()
	return p.restarts
}

// restartNotary stops notary-server and starts it again with its config,
// on its address (clients keep p.URL).
func (p *ProductionNotary) restartNotary(ctx context.Context) error {
	p.notary.stop()
	p.signerMu.Lock()
	p.restarts++
	n := p.restarts
	p.signerMu.Unlock()
	s, err := spawn(p.dir, fmt.Sprintf("notary-server.restart-%d", n), p.notaryBin,
		[]string{"-config", filepath.Join(p.dir, "notary-server.json"), "-logf", "logfmt"})
	if err != nil {
		return err
	}
	p.notary = s
	if err := s.waitReady(ctx, p.probeClient, p.URL+"/_notary_server/health", func(status int) bool { return status == http.StatusOK }); err != nil {
		return fmt.Errorf("testenv: restart notary-server on %s: %w\n--- %s (tail) ---\n%s", p.URL, err, s.log, s.logTail())
	}
	return nil
}

func (p *ProductionNotary) spawnSigner(ctx context.Context) error {
	p.signerMu.Lock()
	defer p.signerMu.Unlock()
	if p.signer != nil {
		return nil
	}
	s, err := spawnAs(filepath.Join(p.dir, "notary-signer.log"), p.dir, nil, p.signerEnv, p.signerBin, p.signerArgs...)
	if err != nil {
		return err
	}
	if err := p.waitSigner(ctx, s); err != nil {
		s.stop()
		return fmt.Errorf("testenv: start notary-signer on %s: %w\n--- %s (tail) ---\n%s", p.SignerAddr, err, s.log, s.logTail())
	}
	p.signer = s
	return nil
}

func (p *ProductionNotary) waitSigner(ctx context.Context, s *server) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	d := tls.Dialer{Config: p.signerTLS}
	for {
		c, err := d.DialContext(ctx, "tcp", p.SignerAddr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("process exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", readyTimeout, errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitSigning asks notary-server for a timestamp key of a probe repository
// until it answers 200: notary-server, notary-signer and its database all
// work. Each answer creates one key in the signer's database for the probe.
func (p *ProductionNotary) waitSigning(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	probe := p.URL + "/v2/testenv.invalid/probe/_trust/tuf/timestamp.key"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
		if err != nil {
			return err
		}
		resp, err := p.probeClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", probe, resp.Status)
		}
		select {
		case <-p.notary.done:
			return fmt.Errorf("testenv: notary-server exited: %v\n%s", p.notary.cmd.ProcessState, p.notary.logTail())
		case <-ctx.Done():
			return fmt.Errorf("testenv: notary-server cannot sign through notary-signer: %w\n--- notary-server (tail) ---\n%s\n--- notary-signer (tail) ---\n%s",
				errors.Join(ctx.Err(), err), p.notary.logTail(), p.signerLogTail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *ProductionNotary) signerLogTail() string {
	p.signerMu.Lock()
	defer p.signerMu.Unlock()
	if p.signer == nil {
		return "(stopped)"
	}
	return p.signer.logTail()
}

// SQL runs query as db's owner ("notaryserver" or "notarysigner") and
// returns psql's unaligned, tuple-only output, for tests that check what
// is stored.
func (p *ProductionNotary) SQL(ctx context.Context, db, query string) (string, error) {
	owner := map[string]string{"notaryserver": "server", "notarysigner": "signer"}[db]
	if owner == "" {
		return "", fmt.Errorf("testenv: unknown database %q", db)
	}
	out, err := p.pg.psql(ctx, db, owner, "-A", "-t", "-c", query)
	if err != nil {
		return "", fmt.Errorf("testenv: psql %s: %w\n%s", db, err, out)
	}
	return strings.TrimSpace(out), nil
}

// PSQL runs query with the cluster's psql over TCP with conninfo (libpq
// keywords; host and port are added), for tests of who may connect.
func (p *ProductionNotary) PSQL(ctx context.Context, conninfo, query string) (string, error) {
	host, port, _ := net.SplitHostPort(p.DBAddr)
	cmd := exec.CommandContext(ctx, filepath.Join(p.pg.bin, "psql"), "-X", "-A", "-t", "-c", query,
		fmt.Sprintf("host=%s port=%s connect_timeout=10 %s", host, port, conninfo))
	cmd.Env = []string{"HOME=" + p.dir}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// DBClientFiles returns the paths of the database CA and of user's client
// certificate and key ("server" or "signer").
func (p *ProductionNotary) DBClientFiles(user string) (ca, cert, key string) {
	return filepath.Join(p.dir, "db-ca.crt"), filepath.Join(p.dir, "db-"+user+".crt"), filepath.Join(p.dir, "db-"+user+".key")
}

// SignerClientFiles returns the paths of the signer CA and of the client
// certificate and key notary-server presents to notary-signer.
func (p *ProductionNotary) SignerClientFiles() (ca, cert, key string) {
	return filepath.Join(p.dir, "signer-ca.crt"), filepath.Join(p.dir, "notary-server-client.crt"), filepath.Join(p.dir, "notary-server-client.key")
}

// Docker is Env.Docker bound to this notary-server instead of the open one.
func (p *ProductionNotary) Docker(t testing.TB, pass Passphrases) *CLI {
	t.Helper()
	c := p.env.Docker(t, pass)
	d := filepath.Join(c.ConfigDir, "tls", strings.TrimPrefix(p.URL, "https://"))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "ca.crt"), p.env.CACertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, kv := range c.Env {
		if strings.HasPrefix(kv, "DOCKER_CONTENT_TRUST_SERVER=") {
			c.Env[i] = "DOCKER_CONTENT_TRUST_SERVER=" + p.URL
		}
	}
	return c
}

// close stops notary-server, notary-signer and PostgreSQL and removes the
// cluster's directory (the rest lives in the Env's Dir). A server that died
// on its own is reported with its log.
func (p *ProductionNotary) close() error {
	var errs []error
	if p.notary != nil {
		select {
		case <-p.notary.done:
			errs = append(errs, fmt.Errorf("testenv: production notary-server exited during the run (%v)\n%s", p.notary.cmd.ProcessState, p.notary.logTail()))
		default:
		}
		p.notary.stop()
		p.notary = nil
	}
	p.StopSigner()
	if p.pg != nil {
		errs = append(errs, p.pg.close())
		p.pg = nil
	}
	return errors.Join(errs...)
}

// certAuthority issues ECDSA certificates for loopback services.
type certAuthority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newCA(cn string) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &certAuthority{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// issue returns a certificate and PKCS#8 key (PEM) for cn: a server
// certificate for 127.0.0.1 and localhost, or a client certificate.
func (ca *certAuthority) issue(cn string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: n,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    ca.cert.NotBefore,
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func (ca *certAuthority) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}
