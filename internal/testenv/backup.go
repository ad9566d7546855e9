package testenv

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// restores numbers Restore's directories.
var restores atomic.Int32

// Backup dumps both databases as deploy/README.md says: pg_dump -Fc of
// notaryserver (the TUF files) and notarysigner (the timestamp and snapshot
// keys, encrypted with the signer's passphrase), as the cluster's
// administrator over its local socket. It returns the two dump files.
func (p *ProductionNotary) Backup(ctx context.Context) (server, signer string, err error) {
	n := restores.Add(1)
	server = filepath.Join(p.pg.dir, fmt.Sprintf("notaryserver-%d.dump", n))
	signer = filepath.Join(p.pg.dir, fmt.Sprintf("notarysigner-%d.dump", n))
	for db, file := range map[string]string{"notaryserver": server, "notarysigner": signer} {
		if out, err := p.pg.admin(ctx, "pg_dump", "-Fc", "-d", db, "-f", file); err != nil {
			return "", "", fmt.Errorf("testenv: pg_dump %s: %w\n%s", db, err, out)
		}
	}
	return server, signer, nil
}

// Restore starts a second notary from dumps Backup wrote, as
// deploy/README.md restores one: a new PostgreSQL cluster with the same
// owners and empty databases, pg_restore --no-owner --role=OWNER, then
// notary-signer with signerPassphrase (NOTARY_SIGNER_<ALIAS>; "" = the
// original's) and notary-server, from deploy/'s templates, with the same
// certificates. It is stopped when t ends. With another passphrase Restore
// does not wait until it signs.
func (p *ProductionNotary) Restore(t testing.TB, serverDump, signerDump, signerPassphrase string) *ProductionNotary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	q, err := p.restore(ctx, serverDump, signerDump, signerPassphrase)
	if q != nil {
		t.Cleanup(func() {
			if err := q.close(); err != nil {
				t.Error(err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func (p *ProductionNotary) restore(ctx context.Context, serverDump, signerDump, pass string) (*ProductionNotary, error) {
	tools, err := BuildTools(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(p.env.Dir, fmt.Sprintf("production-restore-%d", restores.Add(1)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	q := &ProductionNotary{env: p.env, dir: dir, signerBin: tools.NotarySigner, signerEnv: p.signerEnv}
	if pass != "" {
		q.signerEnv = []string{"NOTARY_SIGNER_" + strings.ToUpper(signerAlias) + "=" + pass}
	}
	// The same certificates: a restore moves data, not identities.
	files := map[string][]byte{}
	for _, name := range []string{"signer-ca.crt", "db-ca.crt", "notary-signer.crt", "notary-signer.key",
		"notary-server-client.crt", "notary-server-client.key", "db-server.crt", "db-server.key", "db-signer.crt", "db-signer.key"} {
		b, err := os.ReadFile(filepath.Join(p.dir, name))
		if err != nil {
			return q, err
		}
		files[name] = b
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return q, err
		}
	}
	var pgFiles [3][]byte
	for i, name := range []string{"ca.crt", "server.crt", "server.key"} {
		if pgFiles[i], err = os.ReadFile(filepath.Join(p.pg.dir, name)); err != nil {
			return q, err
		}
	}
	q.pg, err = startPostgres(ctx, pgTLS{caPEM: pgFiles[0], certPEM: pgFiles[1], keyPEM: pgFiles[2]},
		[]pgDatabase{{name: "notaryserver", owner: "server"}, {name: "notarysigner", owner: "signer"}}, nil)
	if err != nil {
		return q, err
	}
	q.DBAddr = q.pg.addr
	for _, r := range []struct{ db, owner, dump string }{{"notaryserver", "server", serverDump}, {"notarysigner", "signer", signerDump}} {
		if out, err := q.pg.admin(ctx, "pg_restore", "--no-owner", "--role="+r.owner, "--exit-on-error", "-d", r.db, r.dump); err != nil {
			return q, fmt.Errorf("testenv: pg_restore %s: %w\n%s", r.db, err, out)
		}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(files["signer-ca.crt"]) {
		return q, errors.New("testenv: restore: no signer CA certificate")
	}
	if err := q.startSignerFirst(ctx, pool, files); err != nil {
		return q, err
	}
	if err := q.startNotaryServer(ctx, tools.NotaryServer); err != nil {
		return q, err
	}
	if pass != "" {
		return q, nil // another passphrase: it may well not sign
	}
	return q, q.waitSigning(ctx, time.Minute)
}

// admin runs a cluster tool (pg_dump, pg_restore) as the superuser over
// the local socket, as the cluster's OS user.
func (pg *postgres) admin(ctx context.Context, tool string, args ...string) (string, error) {
	_, port, _ := strings.Cut(pg.addr, ":")
	return pg.run(ctx, tool, append([]string{"-h", pg.sockDir, "-p", port, "-U", "postgres"}, args...)...)
}
