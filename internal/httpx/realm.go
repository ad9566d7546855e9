package httpx

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// RealmPolicy says which token realms a registry or notary server may send
// sign-step's credentials to. A realm on a public address or a DNS name is
// allowed (go-containerregistry's rule), as is one on the server's own host
// at any port (docker's: https://10.1.2.3:5000 with its token service at
// https://10.1.2.3:5001/auth). A realm on any other loopback, private,
// link-local or unspecified IP literal could be an internal service the
// server points us at (169.254.169.254): it is refused unless the user
// named its host in Allowed (--allow-token-realm).
type RealmPolicy struct {
	Allowed []string // hosts (HOST or HOST:PORT) the user allows
}

// RealmError is a realm the policy refused.
type RealmError struct {
	Realm  string // as the server sent it
	Server string // host[:port] that sent the challenge
	Host   string // the realm's host, what --allow-token-realm takes
}

func (e *RealmError) Error() string {
	return fmt.Sprintf("token realm %s of %s is on a private address (%s), not on the server's own host: if that token service is yours, allow it with --allow-token-realm %s",
		e.Realm, e.Server, e.Host, e.Host)
}

// Check returns a *RealmError if realm is refused for a challenge sent by
// server (host[:port]), nil otherwise. A realm that does not parse is left
// to the auth client, which refuses it on its own.
func (p RealmPolicy) Check(realm, server string) error {
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" {
		return nil
	}
	if !PrivateIP(u.Hostname()) || SameHost(u.Host, server) || p.allows(u) {
		return nil
	}
	return &RealmError{Realm: realm, Server: server, Host: u.Hostname()}
}

// SameHost reports whether a and b (host[:port]) name the same host, any port.
func SameHost(a, b string) bool {
	return strings.EqualFold(hostname(a), hostname(b))
}

func (p RealmPolicy) allows(u *url.URL) bool {
	for _, h := range p.Allowed {
		h = strings.TrimSpace(h)
		if strings.EqualFold(h, u.Host) || strings.EqualFold(strings.Trim(h, "[]"), u.Hostname()) {
			return true
		}
	}
	return false
}

// PrivateIP reports whether host is an IP literal in a loopback, private,
// link-local or unspecified range (IPv4-mapped IPv6 as its IPv4, a zone
// ignored), the ranges go-containerregistry refuses for realms.
func PrivateIP(host string) bool {
	host, _, _ = strings.Cut(strings.Trim(host, "[]"), "%")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified()
}

func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
