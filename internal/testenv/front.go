package testenv

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"sync"
	"time"
)

// Front is an attacker's (or a flaky network's) reverse proxy on 127.0.0.1
// in front of one of the Env's servers. It records every HTTP request it
// gets and every connection it accepts, so a test can tell "refused before
// anything was sent" from "sent, then refused". Kinds:
//   - NewTLSFront with a certificate from the Env's CA issued for another
//     name: a man in the middle the client must refuse;
//   - NewPlainFront: a plain-HTTP listener a client must not talk to
//     unless told the registry is insecure; it forwards to the real server
//     (over https) so that an allowed client works through it;
//   - either, with Fail, answers chosen requests with an error status.
type Front struct {
	Addr string // "127.0.0.1:PORT"

	mu       sync.Mutex
	requests []string // "METHOD /path" of every request received
	conns    int
	fail     func(*http.Request) int

	server *http.Server
}

// NewTLSFront serves https with cert in front of target ("https://host:port").
func (e *Env) NewTLSFront(target string, cert tls.Certificate) (*Front, error) {
	return e.newFront(target, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
}

// NewPlainFront serves plain HTTP in front of target ("https://host:port").
func (e *Env) NewPlainFront(target string) (*Front, error) { return e.newFront(target, nil) }

// ServerCert is the Env's own server certificate (127.0.0.1, ::1,
// localhost), for a front that is not itself the attack.
func (e *Env) ServerCert() (tls.Certificate, error) {
	return tls.LoadX509KeyPair(filepath.Join(e.Dir, "server.crt"), filepath.Join(e.Dir, "server.key"))
}

func (e *Env) newFront(target string, tlsConfig *tls.Config) (*Front, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	f := &Front{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// The backend builds absolute URLs (upload Locations) for the
			// front's address and scheme, as behind a real proxy.
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: e.Transport(),
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	f.server = &http.Server{Handler: f.handler(rp), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.Addr = ln.Addr().String()
	ln = &countingListener{Listener: ln, f: f}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	go func() { _ = f.server.Serve(ln) }()
	return f, nil
}

// Fail answers every request for which fn returns a status with that
// status (0: forward it). nil forwards everything.
func (f *Front) Fail(fn func(*http.Request) int) { f.mu.Lock(); f.fail = fn; f.mu.Unlock() }

// Requests lists the requests received, in order, as "METHOD /path".
func (f *Front) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// Conns counts the TCP connections accepted (TLS handshakes included,
// whether or not a request followed).
func (f *Front) Conns() int { f.mu.Lock(); defer f.mu.Unlock(); return f.conns }

// Close stops the front.
func (f *Front) Close() error { return f.server.Close() }

func (f *Front) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.Path)
		fail := f.fail
		f.mu.Unlock()
		if fail != nil {
			if status := fail(r); status != 0 {
				http.Error(w, http.StatusText(status), status)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

type countingListener struct {
	net.Listener
	f *Front
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.f.mu.Lock()
		l.f.conns++
		l.f.mu.Unlock()
	}
	return c, err
}
