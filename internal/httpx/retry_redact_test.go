package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestRetryErrorsHideQueries: a presigned blob URL carries its signature in
// the query; no retry error may print it, whichever way the retries end.
func TestRetryErrorsHideQueries(t *testing.T) {
	t.Parallel()
	const secret = "SIGNATURE0123456789"
	cases := []struct {
		name     string
		deadline time.Duration
		closed   bool
		body     string // > limit: BufferBodies refuses it
	}{
		{name: "after the retries", closed: true},
		{name: "at the deadline", closed: true, deadline: 50 * time.Millisecond},
		{name: "oversized body", body: strings.Repeat("x", 100)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.(http.Flusher).Flush() // no Content-Length: BufferBodies reads and counts
				_, _ = w.Write([]byte(tc.body))
			}))
			url := srv.URL
			if tc.closed {
				srv.Close() // connection refused: retried
			} else {
				defer srv.Close()
			}
			p := RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}
			if tc.deadline > 0 {
				p = RetryPolicy{Attempts: 1000, Base: 20 * time.Millisecond, Max: 20 * time.Millisecond}
			}
			rt := Retry(BufferBodies(http.DefaultTransport, 10), p)
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/blob?X-Amz-Signature="+secret+"&X-Amz-Credential=AKIA"+secret, nil)
			resp, err := rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "X-Amz-Signature=***") {
				t.Errorf("error shows the query or not the redacted URL: %v", err)
			}
		})
	}
}
