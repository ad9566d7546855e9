package testenv

import (
	"bytes"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// FaultProxy is a TLS reverse proxy on loopback in front of one of the
// Env's servers that injects faults on demand: refused connections, 5xx
// answers, connections reset mid-body, delays, and rewritten bodies (for
// hostile-server tests). Faults are armed per test and counted down.
type FaultProxy struct {
	Addr string // "127.0.0.1:PORT", same CA as the Env

	mu        sync.Mutex
	status    int // answer this status ...
	statusN   int // ... to the next statusN requests
	resetN    int // reset the next resetN responses mid-body
	delay     time.Duration
	refuseTil time.Time
	rewrite   func(path string, body []byte) []byte
	requests  int
	rules     []*Rule
	seen      map[string]int // "METHOD path" → requests

	ln     net.Listener
	server *http.Server
	cert   tls.Certificate
}

// NewFaultProxy starts a proxy to target ("https://host:port"). Close it
// when done.
func (e *Env) NewFaultProxy(target string) (*FaultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.Dir, "server.crt"), filepath.Join(e.Dir, "server.key"))
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{cert: cert}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = e.Transport()
	rp.ModifyResponse = p.modify
	p.server = &http.Server{Handler: p.handler(rp), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.Addr = ln.Addr().String()
	p.serve(ln)
	return p, nil
}

func (p *FaultProxy) serve(ln net.Listener) {
	p.ln = tls.NewListener(&refusingListener{Listener: ln, p: p}, &tls.Config{Certificates: []tls.Certificate{p.cert}, NextProtos: []string{"http/1.1"}})
	go func() { _ = p.server.Serve(p.ln) }()
}

// refusingListener closes connections while the proxy refuses them, which
// the client sees as a reset connection.
type refusingListener struct {
	net.Listener
	p *FaultProxy
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.p.mu.Lock()
		refuse := time.Now().Before(l.p.refuseTil)
		l.p.mu.Unlock()
		if !refuse {
			return c, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, as a refused connection looks
		}
		c.Close()
	}
}

// Close stops the proxy.
func (p *FaultProxy) Close() error { return p.server.Close() }

// URL is the proxy's https URL.
func (p *FaultProxy) URL() string { return "https://" + p.Addr }

// Fail answers the next n requests with status (e.g. 503), sending
// Retry-After: 0 with 429 and 503.
func (p *FaultProxy) Fail(status, n int) { p.mu.Lock(); p.status, p.statusN = status, n; p.mu.Unlock() }

// Reset cuts the next n responses after half their body.
func (p *FaultProxy) Reset(n int) { p.mu.Lock(); p.resetN = n; p.mu.Unlock() }

// Delay holds every request for d before forwarding it.
func (p *FaultProxy) Delay(d time.Duration) { p.mu.Lock(); p.delay = d; p.mu.Unlock() }

// Refuse drops every new connection for d.
func (p *FaultProxy) Refuse(d time.Duration) {
	p.mu.Lock()
	p.refuseTil = time.Now().Add(d)
	p.mu.Unlock()
}

// Rewrite passes every successful response body through fn (nil to stop).
func (p *FaultProxy) Rewrite(fn func(path string, body []byte) []byte) {
	p.mu.Lock()
	p.rewrite = fn
	p.mu.Unlock()
}

// Requests counts the requests the proxy has seen.
func (p *FaultProxy) Requests() int { p.mu.Lock(); defer p.mu.Unlock(); return p.requests }

func (p *FaultProxy) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		if p.seen == nil {
			p.seen = map[string]int{}
		}
		p.seen[r.Method+" "+r.URL.Path]++
		rule := p.match(r)
		delay := p.delay
		status := 0
		if p.statusN > 0 && rule == nil {
			p.statusN--
			status = p.status
		}
		reset := false
		if p.resetN > 0 && rule == nil {
			p.resetN--
			reset = true
		}
		p.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "0")
			}
			http.Error(w, http.StatusText(status), status)
			return
		}
		if rule != nil {
			rule.apply(w, r, next)
			return
		}
		if !reset {
			next.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}}
		next.ServeHTTP(rec, r)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("fault proxy: connection cannot be hijacked")
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		// Promise the whole body, send half, then cut the connection.
		buf.WriteString("HTTP/1.1 " + strconv.Itoa(rec.status) + " " + http.StatusText(rec.status) + "\r\n")
		rec.header.Set("Content-Length", strconv.Itoa(rec.body.Len()))
		_ = rec.header.Write(buf)
		buf.WriteString("\r\n")
		buf.Write(rec.body.Bytes()[:rec.body.Len()/2])
		_ = buf.Flush()
		if tc, ok := conn.(*tls.Conn); ok {
			if nc, ok := tc.NetConn().(*net.TCPConn); ok {
				_ = nc.SetLinger(0)
			}
		}
	})
}

// Rule aims a fault at requests by method and exact path, e.g. the
// publish POST to /v2/<gun>/_trust/tuf/ (PublishPath). The request is
// forwarded to the real server, which acts on it (unless Drop); Before
// runs first, and Reset or Status replace the server's answer. A request
// a rule takes is not counted against Fail and Reset.
type Rule struct {
	Method, Path string
	Times        int    // the next Times matching requests; 0 means 1
	Before       func() // runs before forwarding, e.g. another client publishes so this one loses the race for real
	After        func() // runs after the server answered, before the client gets anything
	Reset        bool   // the client gets no answer: its connection is reset
	Status       int    // the client gets this status instead of the server's answer (e.g. 502)
	Drop         bool   // the server never sees the request (with Reset or Status)
}

// On arms rule.
func (p *FaultProxy) On(rule Rule) {
	if rule.Times == 0 {
		rule.Times = 1
	}
	p.mu.Lock()
	p.rules = append(p.rules, &rule)
	p.mu.Unlock()
}

// Count is how many requests with method and path the proxy has seen.
func (p *FaultProxy) Count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[method+" "+path]
}

// PublishPath is the path of gun's publish POST on notary.
func PublishPath(gun string) string { return "/v2/" + gun + "/_trust/tuf/" }

// match takes the first armed rule for r; p.mu is held.
func (p *FaultProxy) match(r *http.Request) *Rule {
	for _, rule := range p.rules {
		if rule.Times > 0 && rule.Method == r.Method && rule.Path == r.URL.Path {
			rule.Times--
			return rule
		}
	}
	return nil
}

func (rule *Rule) apply(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if rule.Before != nil {
		rule.Before()
	}
	rec := &recorder{header: http.Header{}}
	if !rule.Drop {
		next.ServeHTTP(rec, r)
	}
	if rule.After != nil {
		rule.After()
	}
	switch {
	case rule.Reset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("fault proxy: connection cannot be hijacked")
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*tls.Conn); ok {
			if nc, ok := tc.NetConn().(*net.TCPConn); ok {
				_ = nc.SetLinger(0) // RST
			}
		}
		conn.Close()
	case rule.Status != 0:
		http.Error(w, http.StatusText(rule.Status), rule.Status)
	default:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	}
}

func (p *FaultProxy) modify(resp *http.Response) error {
	p.mu.Lock()
	fn := p.rewrite
	p.mu.Unlock()
	if fn == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	body = fn(resp.Request.URL.Path, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Etag")
	return nil
}

// recorder buffers a response so the proxy can cut it.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// Seen returns how many requests of each "METHOD PATH" went through.
func (p *FaultProxy) Seen() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.seen)
}
