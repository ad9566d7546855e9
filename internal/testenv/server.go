package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	readyTimeout  = 30 * time.Second
	startAttempts = 3
)

// server is a started server process whose output goes to a log file.
type server struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
}

// serverSpec describes how to run one server.
type serverSpec struct {
	name   string                              // also names the log and config files
	bin    string                              // binary path
	config func(addr string) ([]string, error) // writes the config for addr and returns the args
	health string                              // path polled over HTTPS until it answers
	ok     func(status int) bool               // whether a health status means "ready"
}

// startServer starts spec on a free loopback port and waits until it is ready.
// It retries with a new port when another process grabbed the port first.
func startServer(ctx context.Context, dir string, client *http.Client, spec serverSpec) (*server, string, error) {
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, "", err
		}
		args, err := spec.config(addr)
		if err != nil {
			return nil, "", err
		}
		s, err := spawn(dir, spec.name, spec.bin, args)
		if err != nil {
			return nil, "", err
		}
		err = s.waitReady(ctx, client, "https://"+addr+spec.health, spec.ok)
		if err == nil {
			return s, addr, nil
		}
		s.stop()
		tail := s.logTail()
		if attempt < startAttempts && strings.Contains(tail, "address already in use") {
			continue
		}
		return nil, "", fmt.Errorf("testenv: start %s on %s: %w\n--- %s (tail) ---\n%s", spec.name, addr, err, s.log, tail)
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func spawn(dir, name, bin string, args []string) (*server, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// A minimal environment keeps host settings (REGISTRY_*, proxies) out, and stops
	// the registry's OpenTelemetry exporter from dialing a collector.
	cmd.Env = []string{"HOME=" + dir, "TMPDIR=" + dir, "OTEL_TRACES_EXPORTER=none"}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Kill the server if the test binary dies without Close (panic, -timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	s := &server{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s, nil
}

func (s *server) waitReady(ctx context.Context, client *http.Client, url string, ok func(int) bool) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if ok(resp.StatusCode) {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-s.done:
			return fmt.Errorf("process exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", readyTimeout, errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// stop kills the process and waits for it to exit.
func (s *server) stop() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// logTail returns the last few KB of the server log for error messages.
func (s *server) logTail() string {
	const max = 4 << 10
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
