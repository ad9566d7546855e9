package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
)

// Listen makes the token service also answer on host (an IP literal) at a
// free port, with a certificate of the Env's CA for that IP, and returns
// the realm URL there ("https://HOST:PORT/token"). On Linux all of
// 127.0.0.0/8 is loopback, so 127.0.0.2 stands for another private host.
func (ts *TokenService) Listen(e *Env, host string) (string, error) {
	ip := net.ParseIP(host)
	if ip == nil {
		return "", fmt.Errorf("testenv: %q is not an IP literal", host)
	}
	ca, err := e.CA()
	if err != nil {
		return "", err
	}
	cert, err := ca.Issue(nil, []net.IP{ip})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	go func() { _ = ts.srv.Serve(tln) }() // Close stops every listener
	return "https://" + ln.Addr().String() + "/token", nil
}

// realmRegistries are the token registries started on demand, by realm.
var realmRegistries struct {
	mu   sync.Mutex
	regs map[string]*TokenRegistry
}

// TokenRegistryWithRealm returns a registry and a notary-server that trust
// the tokens of e.Token's service but send clients to realm for them (a
// realm of Listen, or the service's own https://127.0.0.1:PORT/token). They
// are started on first use and shared by every test asking for that realm;
// Env.Close stops them. It needs WithTokenRegistry.
func (e *Env) TokenRegistryWithRealm(ctx context.Context, realm string) (*TokenRegistry, error) {
	realmRegistries.mu.Lock()
	defer realmRegistries.mu.Unlock()
	if r, ok := realmRegistries.regs[realm]; ok {
		return r, nil
	}
	if e.Token == nil {
		return nil, fmt.Errorf("testenv: TokenRegistryWithRealm needs WithTokenRegistry")
	}
	tools, err := BuildTools(ctx) // cached
	if err != nil {
		return nil, err
	}
	ts := e.Token.Tokens
	suffix := fmt.Sprintf("-realm%d", len(realmRegistries.regs)+1)
	client := e.HTTPClient()
	t := &TokenRegistry{Tokens: ts, Username: e.Token.Username, Password: e.Token.Password}
	e.mu.Lock() // e.servers: tests run in parallel
	defer e.mu.Unlock()
	if t.Host, err = e.start(ctx, client, tokenRegistrySpecAt("registry-token"+suffix, tools.Registry, e.Dir, ts, realm)); err != nil {
		return nil, err
	}
	addr, err := e.start(ctx, client, tokenNotarySpecAt("notary-server-token"+suffix, tools.NotaryServer, e.Dir, ts, realm))
	if err != nil {
		return nil, err
	}
	t.NotaryURL = "https://" + addr
	if realmRegistries.regs == nil {
		realmRegistries.regs = map[string]*TokenRegistry{}
	}
	realmRegistries.regs[realm] = t
	return t, nil
}
