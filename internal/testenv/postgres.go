package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sign-step/sign-step/deploy"
)

// PostgresUnavailableError says this machine has no PostgreSQL server to run:
// outside CI the tests that need one skip with its message, in CI they fail.
type PostgresUnavailableError struct{ Reason string }

func (e *PostgresUnavailableError) Error() string {
	return "PostgreSQL server binaries unavailable: " + e.Reason +
		" (install Debian's postgresql package: apt-get install -y postgresql; .ci/run does this)"
}

// postgres is a private PostgreSQL cluster on a loopback port, run from
// Debian's server binaries as an unprivileged OS user (initdb and postgres
// refuse to run as root). Only TLS connections with a client certificate
// are accepted over TCP; the Unix socket, in a directory only that user
// (and root) can enter, trusts local clients for setup.
type postgres struct {
	addr    string // 127.0.0.1:PORT
	dir     string // owned by the cluster's OS user; removed on close
	bin     string // directory of initdb, postgres, psql, pg_isready
	cred    *syscall.Credential
	proc    *server
	sockDir string
}

// pgDatabase is a database with its owner, who logs in over TCP with a
// client certificate whose CN is the owner's name.
type pgDatabase struct{ name, owner string }

// pgTLS is the PEM material postgres serves and verifies clients with.
type pgTLS struct{ caPEM, certPEM, keyPEM []byte }

// postgresBinDir finds initdb on PATH, or under Debian's versioned
// /usr/lib/postgresql/*/bin (not on PATH), newest first.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(found, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	if len(found) == 0 {
		return "", &PostgresUnavailableError{Reason: "no initdb on PATH or under /usr/lib/postgresql/*/bin"}
	}
	return filepath.Dir(found[0]), nil
}

func pgMajor(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// pgCredential returns the OS user to run the cluster as: nil (ourselves)
// unless we are root, then Debian's postgres user.
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &PostgresUnavailableError{Reason: "running as root and there is no postgres user to run the cluster as: " + err.Error()}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("testenv: postgres user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startPostgres initializes a cluster in a new temp dir, starts it, creates
// dbs with their owners and applies each db's migrations (*.up.sql in name
// order, as golang-migrate would) as its owner.
func startPostgres(ctx context.Context, tlsm pgTLS, dbs []pgDatabase, migrations map[string]string) (_ *postgres, err error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"postgres", "psql", "pg_isready"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			return nil, &PostgresUnavailableError{Reason: fmt.Sprintf("%s has initdb but no %s", bin, tool)}
		}
	}
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sign-step-pg-")
	if err != nil {
		return nil, err
	}
	pg := &postgres{dir: dir, bin: bin, cred: cred, sockDir: filepath.Join(dir, "sock")}
	defer func() {
		if err != nil {
			err = errors.Join(err, pg.close())
		}
	}()
	files := map[string][]byte{"ca.crt": tlsm.caPEM, "server.crt": tlsm.certPEM, "server.key": tlsm.keyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(pg.sockDir, 0o700); err != nil {
		return nil, err
	}
	if err := pg.chown(dir, "sock", "ca.crt", "server.crt", "server.key"); err != nil {
		return nil, err
	}

	data := filepath.Join(dir, "data")
	if out, err := pg.run(ctx, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("testenv: initdb: %w\n%s", err, out)
	}
	// Least privilege over TCP: each owner reaches only its own database,
	// over TLS, with a certificate; deploy/'s pg_hba.conf and TLS settings,
	// with the setup socket (in a dir only the cluster's user enters) trusted.
	hba := deploy.HBA{LocalMethod: "trust", ClientNet: "127.0.0.1/32"}
	for _, db := range dbs {
		hba.Databases = append(hba.Databases, deploy.Database{Name: db.name, Owner: db.owner})
	}
	hbaConf, err := deploy.RenderString(deploy.PGHBA, hba)
	if err != nil {
		return nil, err
	}
	tlsConf, err := deploy.RenderString(deploy.PGTLS, deploy.PGTLSFiles{
		Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"), CA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hbaConf+"\n"), 0o600); err != nil {
		return nil, err
	}
	// Included from postgresql.conf, as deploy/README.md says.
	if err := os.WriteFile(filepath.Join(data, "postgresql-tls.conf"), []byte(tlsConf+"\n"), 0o600); err != nil {
		return nil, err
	}
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = conf.WriteString("\ninclude 'postgresql-tls.conf'\n")
	if err := errors.Join(err, conf.Close()); err != nil {
		return nil, err
	}
	if err := pg.chown(dir, "data/pg_hba.conf", "data/postgresql-tls.conf"); err != nil {
		return nil, err
	}
	if err := pg.start(ctx, data); err != nil {
		return nil, err
	}

	for _, db := range dbs {
		if out, err := pg.psql(ctx, "postgres", "postgres",
			"-c", fmt.Sprintf(`CREATE ROLE %q LOGIN`, db.owner),
			"-c", fmt.Sprintf(`CREATE DATABASE %q OWNER %q`, db.name, db.owner)); err != nil {
			return nil, fmt.Errorf("testenv: creating database %s: %w\n%s", db.name, err, out)
		}
		dir := migrations[db.name]
		if dir == "" {
			continue
		}
		ups, _ := filepath.Glob(filepath.Join(dir, "*.up.sql"))
		if len(ups) == 0 {
			return nil, fmt.Errorf("testenv: no *.up.sql migrations in %s", dir)
		}
		slices.Sort(ups)
		for _, f := range ups {
			// As deploy/README.md runs them: the administrator, as the owner.
			if out, err := pg.psql(ctx, db.name, "postgres", "--single-transaction", "-c", fmt.Sprintf("SET ROLE %q", db.owner), "-f", f); err != nil {
				return nil, fmt.Errorf("testenv: migration %s on %s: %w\n%s", filepath.Base(f), db.name, err, out)
			}
		}
	}
	return pg, nil
}

// start runs postgres in the foreground on a free port (a new one if
// another process took it first) and waits until it accepts connections.
func (pg *postgres) start(ctx context.Context, data string) error {
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		_, port, _ := strings.Cut(addr, ":")
		args := []string{"-D", data, "-p", port, "-h", "127.0.0.1", "-k", pg.sockDir,
			// Throwaway data: durability costs time and buys nothing.
			"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
		s, err := spawnAs(filepath.Join(pg.dir, "postgres.log"), pg.dir, pg.cred, nil, filepath.Join(pg.bin, "postgres"), args...)
		if err != nil {
			return err
		}
		pg.proc, pg.addr = s, addr
		err = pg.waitReady(ctx, port)
		if err == nil {
			return nil
		}
		s.stop()
		pg.proc = nil
		tail := s.logTail()
		if attempt < startAttempts && strings.Contains(tail, "already in use") {
			continue
		}
		return fmt.Errorf("testenv: start postgres on %s: %w\n--- %s (tail) ---\n%s", addr, err, s.log, tail)
	}
}

func (pg *postgres) waitReady(ctx context.Context, port string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		out, err := exec.CommandContext(ctx, filepath.Join(pg.bin, "pg_isready"), "-q", "-h", pg.sockDir, "-p", port).CombinedOutput()
		if err == nil {
			return nil
		}
		select {
		case <-pg.proc.done:
			return fmt.Errorf("process exited: %v", pg.proc.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w (%s)", readyTimeout, err, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// psql runs SQL as user on db over the Unix socket, stopping at the first error.
func (pg *postgres) psql(ctx context.Context, db, user string, args ...string) (string, error) {
	_, port, _ := strings.Cut(pg.addr, ":")
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, "psql"), append([]string{
		"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.sockDir, "-p", port, "-U", user, "-d", db}, args...)...)
	cmd.Env = []string{"HOME=" + pg.dir, "PGCONNECT_TIMEOUT=10"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// run runs a cluster tool as the cluster's OS user.
func (pg *postgres) run(ctx context.Context, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(pg.bin, tool), args...)
	cmd.Dir = pg.dir
	cmd.Env = []string{"HOME=" + pg.dir, "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// chown hands the cluster dir and the named entries in it to the cluster's user.
func (pg *postgres) chown(dir string, names ...string) error {
	if pg.cred == nil {
		return nil
	}
	for _, p := range append([]string{dir}, names...) {
		if p != dir {
			p = filepath.Join(dir, p)
		}
		if err := os.Chown(p, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// close stops the cluster and removes its directory.
func (pg *postgres) close() error {
	if pg.proc != nil {
		// SIGINT is postgres's fast shutdown; kill if it lingers.
		_ = pg.proc.cmd.Process.Signal(os.Interrupt)
		select {
		case <-pg.proc.done:
		case <-time.After(10 * time.Second):
			pg.proc.stop()
		}
		pg.proc = nil
	}
	return os.RemoveAll(pg.dir)
}

// spawnAs starts bin with args as cred (nil: ourselves) with a minimal
// environment plus env, output to logPath. The kernel kills it if the test
// binary dies without closing it: Go sets the parent-death signal after
// switching user, so the switch does not clear it.
func spawnAs(logPath, dir string, cred *syscall.Credential, env []string, bin string, args ...string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + dir, "TMPDIR=" + dir, "LANG=C"}, env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", filepath.Base(bin), err)
	}
	s := &server{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s, nil
}
