package httpx

import (
	"errors"
	"strings"
	"testing"
)

func TestRealmPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		realm   string
		server  string
		allowed []string
		refused bool
	}{
		{"DNS name", "https://auth.example.com/token", "10.1.2.3:5000", nil, false},
		{"localhost is a name", "https://localhost:5001/token", "10.1.2.3:5000", nil, false},
		{"public IP", "https://8.8.8.8/token", "10.1.2.3:5000", nil, false},
		{"same host:port", "https://10.1.2.3:5000/token", "10.1.2.3:5000", nil, false},
		{"same host, other port (docker allows)", "https://10.1.2.3:5001/auth", "10.1.2.3:5000", nil, false},
		{"same host, default port", "https://10.1.2.3/auth", "10.1.2.3:5000", nil, false},
		{"same IPv6 host", "https://[fd00::1]:5001/auth", "[fd00::1]:5000", nil, false},
		{"other private IP", "https://10.1.2.4:5001/auth", "10.1.2.3:5000", nil, true},
		{"other loopback", "https://127.0.0.2:5001/token", "127.0.0.1:5000", nil, true},
		{"metadata service", "http://169.254.169.254/latest/meta-data", "registry.example.com", nil, true},
		{"IPv4-mapped IPv6", "https://[::ffff:10.0.0.1]/t", "registry.example.com", nil, true},
		{"IPv6 link-local with zone", "https://[fe80::1%25eth0]/t", "registry.example.com", nil, true},
		{"unspecified", "https://0.0.0.0/t", "registry.example.com", nil, true},
		{"private IP allowed by host", "https://10.1.2.4:5001/auth", "10.1.2.3:5000", []string{"10.1.2.4"}, false},
		{"private IP allowed by host:port", "https://10.1.2.4:5001/auth", "10.1.2.3:5000", []string{"10.1.2.4:5001"}, false},
		{"allowed at another port only", "https://10.1.2.4:5001/auth", "10.1.2.3:5000", []string{"10.1.2.4:6000"}, true},
		{"allowed IPv6 in brackets", "https://[fd00::2]/auth", "[fd00::1]:5000", []string{"[fd00::2]"}, false},
		{"a name does not match its IP", "https://10.1.2.3:5001/auth", "registry.example.com", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := RealmPolicy{Allowed: tt.allowed}.Check(tt.realm, tt.server)
			if (err != nil) != tt.refused {
				t.Fatalf("Check(%s, %s) = %v, refused want %v", tt.realm, tt.server, err, tt.refused)
			}
			var re *RealmError
			if err != nil && (!errors.As(err, &re) || !strings.Contains(err.Error(), "--allow-token-realm "+re.Host)) {
				t.Errorf("error %q does not name --allow-token-realm HOST", err)
			}
		})
	}
}
