package registry

import (
	"errors"
	"net/http"
	"testing"
)

type countingRT struct{ n int }

func (c *countingRT) RoundTrip(*http.Request) (*http.Response, error) {
	c.n++
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

// TestHTTPSOnly: plain HTTP goes out only to a registry named insecure,
// matched on host and port; anything else is refused without being sent.
func TestHTTPSOnly(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		sent bool
	}{
		{"https://10.0.0.5:5000/v2/", true},
		{"https://registry.example.com/v2/", true},
		{"http://10.0.0.5:5000/v2/", true},
		{"http://Registry.Local:5000/v2/", true},
		{"http://10.0.0.5:5001/v2/", false},
		{"http://10.0.0.5/v2/", false},
		{"http://127.0.0.1:5000/v2/", false},
		{"http://registry.example.com/v2/", false},
		{"http://auth.registry.local:5000/token", false},
	}
	for _, tc := range cases {
		next := &countingRT{}
		r := New(WithTransport(next), WithInsecure([]string{"10.0.0.5:5000", "registry.local:5000"}))
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		resp, err := r.opts.transport.RoundTrip(req)
		var plain *PlainHTTPError
		switch {
		case tc.sent && (err != nil || next.n != 1):
			t.Errorf("%s: not sent (err %v)", tc.url, err)
		case !tc.sent && (next.n != 0 || !errors.As(err, &plain) || plain.Host != req.URL.Host):
			t.Errorf("%s: sent %d times, err %v; want refused unsent", tc.url, next.n, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

func TestParseInsecure(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   []string
		want []string // nil: refused
	}{
		{[]string{"10.0.0.5:5000", " Registry.Example.com ", "[::1]:5000", ""}, []string{"10.0.0.5:5000", "registry.example.com", "[::1]:5000"}},
		{[]string{"http://10.0.0.5:5000"}, nil},
		{[]string{"10.0.0.5:5000/team"}, nil},
		{[]string{"ci:pw@10.0.0.5"}, nil},
		{[]string{"bad host"}, nil},
	}
	for _, tc := range cases {
		got, err := ParseInsecure(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q accepted as %q", tc.in, got)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}
