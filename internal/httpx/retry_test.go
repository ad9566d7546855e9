package httpx

import (
	"context"
	"errors"
	"io"
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
				if string(body) != "payload" && r.Method == http.MethodPost {
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
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("payload"))
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
