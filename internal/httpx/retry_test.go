package httpx

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	fast := RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 20 * time.Millisecond}
	cases := []struct {
		name       string
		statuses   []int // served in order, then 200
		retryAfter string
		wantStatus int
		wantCalls  int32
	}{
		{"503 then ok", []int{503, 503}, "", 200, 3},
		{"429 honours Retry-After", []int{429}, "0", 200, 2},
		{"502 and 504", []int{502, 504}, "", 200, 3},
		{"gives up after attempts", []int{503, 503, 503, 503, 503}, "", 503, 4},
		{"404 is final", []int{404}, "", 404, 1},
		{"401 is final", []int{401}, "", 401, 1},
		{"400 is final", []int{400}, "", 400, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				if string(body) != "payload" {
					t.Errorf("retried body = %q", body)
				}
				n := int(calls.Add(1)) - 1
				if n < len(tc.statuses) {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.statuses[n])
					return
				}
				w.WriteHeader(200)
			}))
			defer srv.Close()
			rt := Retry(http.DefaultTransport, fast)
			// PUT is idempotent: its body is replayed on every retry.
			req, _ := http.NewRequest(http.MethodPut, srv.URL, strings.NewReader("payload"))
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || calls.Load() != tc.wantCalls {
				t.Errorf("status %d after %d calls, want %d after %d", resp.StatusCode, calls.Load(), tc.wantStatus, tc.wantCalls)
			}
		})
	}
}

func TestRetryConnectionRefusedNamesServerAndStopsAtDeadline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	rt := Retry(http.DefaultTransport, RetryPolicy{Attempts: 100, Base: 50 * time.Millisecond, Max: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v2/", nil)
	start := time.Now()
	_, err := rt.RoundTrip(req)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline", err)
	}
	if !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not name the server and the last failure: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %s after a 300ms deadline", d)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	if d, ok := retryAfter("3"); !ok || d != 3*time.Second {
		t.Errorf("retryAfter(3) = %s %v", d, ok)
	}
	if _, ok := retryAfter("soon"); ok {
		t.Error("retryAfter(soon) accepted")
	}
	if d, ok := retryAfter(time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)); !ok || d != 0 {
		t.Errorf("past date = %s %v", d, ok)
	}
}

// TestRetryPOST: a POST (a notary publish) may have been applied when its
// answer is lost, so it is sent again only when the server cannot have
// acted on it.
func TestRetryPOST(t *testing.T) {
	t.Parallel()
	fast := RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 20 * time.Millisecond}
	cases := []struct {
		name      string
		first     func(w http.ResponseWriter) // the first answer; later ones are 200
		wantCalls int32
		wantErr   bool
	}{
		{name: "503 is retried", first: func(w http.ResponseWriter) { w.WriteHeader(503) }, wantCalls: 2},
		{name: "429 is retried", first: func(w http.ResponseWriter) { w.Header().Set("Retry-After", "0"); w.WriteHeader(429) }, wantCalls: 2},
		{name: "502 is not", first: func(w http.ResponseWriter) { w.WriteHeader(502) }, wantCalls: 1},
		{name: "504 is not", first: func(w http.ResponseWriter) { w.WriteHeader(504) }, wantCalls: 1},
		{name: "a reset after the request arrived is not", first: func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			conn.Close()
		}, wantCalls: 1, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				if calls.Add(1) == 1 {
					tc.first(w)
				}
			}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("payload"))
			resp, err := Retry(http.DefaultTransport, fast).RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if (err != nil) != tc.wantErr || calls.Load() != tc.wantCalls {
				t.Errorf("err %v after %d calls, want error %v after %d", err, calls.Load(), tc.wantErr, tc.wantCalls)
			}
		})
	}
	t.Run("connection refused is retried", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // refused until the server below listens there
		var calls atomic.Int32
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })}
		defer srv.Close()
		rt := Retry(roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil && calls.Load() == 0 {
				if ln, lerr := net.Listen("tcp", addr); lerr == nil {
					go func() { _ = srv.Serve(ln) }()
				}
			}
			return resp, err
		}), fast)
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr, strings.NewReader("payload"))
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatalf("refused POST not retried: %v", err)
		}
		resp.Body.Close()
		if calls.Load() != 1 {
			t.Errorf("server saw %d POSTs, want 1", calls.Load())
		}
	})
}

// A registry's upload-start POST only opens a session, so a policy that
// names it safe retries it after a 502 like an idempotent request; every
// other POST under the same policy is still sent once.
func TestRetrySafeToRepeat(t *testing.T) {
	t.Parallel()
	policy := RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 20 * time.Millisecond, SafeToRepeat: UploadStart}
	cases := []struct {
		path      string
		wantCalls int32
	}{
		{"/v2/team/app/blobs/uploads/", 2},
		{"/v2/team/app/_trust/tuf/", 1},
		{"/v2/team/app/blobs/uploads/abc", 1}, // a chunk of an open session is not
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.ReadAll(r.Body)
				if calls.Add(1) == 1 {
					w.WriteHeader(http.StatusBadGateway)
				}
			}))
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader("payload"))
			resp, err := Retry(http.DefaultTransport, policy).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
		})
	}
}
