package notary

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestPostSpy: what the spy makes of the server's answer to a publish POST.
func TestPostSpy(t *testing.T) {
	t.Parallel()
	const path = "https://notary.example/v2/registry.example/app/_trust/tuf/"
	answer := func(status int, body string) func() (*http.Response, error) {
		return func() (*http.Response, error) {
			return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body))}, nil
		}
	}
	fail := func(err error) func() (*http.Response, error) {
		return func() (*http.Response, error) { return nil, err }
	}
	cases := []struct {
		name                string
		method, url         string
		answer              func() (*http.Response, error)
		want                postOutcome
		ambiguous, recorded bool
	}{
		{name: "lost race", method: "POST", url: path, answer: answer(400, `{"errors":[{"code":"VERSION","message":"A newer version of metadata is already available."}]}`),
			want: postOutcome{sent: true, status: 400, conflict: true}, recorded: true},
		{name: "lost race, JSON re-serialized by a proxy", method: "POST", url: path, answer: answer(400, "{\n  \"errors\": [ { \"code\" : \"VERSION\" } ]\n}"),
			want: postOutcome{sent: true, status: 400, conflict: true}, recorded: true},
		{name: "other rejection", method: "POST", url: path, answer: answer(400, `{"errors":[{"code":"INVALID_UPDATE","detail":"VERSION"}]}`),
			want: postOutcome{sent: true, status: 400}, recorded: true},
		{name: "not JSON", method: "POST", url: path, answer: answer(400, `"code":"VERSION"`),
			want: postOutcome{sent: true, status: 400}, recorded: true},
		{name: "accepted", method: "POST", url: path, answer: answer(200, ``),
			want: postOutcome{sent: true, status: 200}, recorded: true},
		{name: "proxy 502", method: "POST", url: path, answer: answer(502, `bad gateway`),
			want: postOutcome{sent: true, status: 502}, ambiguous: true, recorded: true},
		{name: "reset", method: "POST", url: path, answer: fail(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}),
			want: postOutcome{sent: true}, ambiguous: true, recorded: true},
		{name: "never connected", method: "POST", url: path, answer: fail(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}),
			want: postOutcome{}, recorded: true},
		{name: "a GET is not a publish", method: "GET", url: path + "root.json", answer: answer(400, `{"errors":[{"code":"VERSION"}]}`)},
		{name: "a key rotation is not a publish", method: "POST", url: path + "snapshot.key", answer: answer(400, `{"errors":[{"code":"VERSION"}]}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &postSpy{next: roundTripperFunc(func(*http.Request) (*http.Response, error) { return tc.answer() })}
			spy.last = postOutcome{status: -1} // what a request that is no publish must leave alone
			req, _ := http.NewRequest(tc.method, tc.url, strings.NewReader("files"))
			resp, err := spy.RoundTrip(req)
			if resp != nil {
				// The notary client still reads the body.
				if b, _ := io.ReadAll(resp.Body); len(b) == 0 && tc.want.status == 400 {
					t.Error("the spy consumed the body")
				}
			}
			got := spy.outcome()
			if !tc.recorded {
				if got.status != -1 {
					t.Errorf("recorded %+v for a request that is no publish", got)
				}
				return
			}
			if (got.failure != nil) != (err != nil) || !errors.Is(got.failure, err) {
				t.Errorf("failure %v, want the round trip's %v", got.failure, err)
			}
			got.failure = nil
			if got != tc.want {
				t.Errorf("outcome %+v, want %+v", got, tc.want)
			}
			if a := (&postAttempt{postOutcome: got}).ambiguous(); a != tc.ambiguous {
				t.Errorf("ambiguous = %v, want %v", a, tc.ambiguous)
			}
		})
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
