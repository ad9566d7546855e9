package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Errors that name a request hide its query, as the debug trace does:
// presigned blob URLs (S3, GCS, R2) carry their credentials there.
func TestErrorsHideQueryValues(t *testing.T) {
	t.Parallel()
	const query = "?X-Amz-Credential=cred-secret-123&X-Amz-Signature=sig-secret-456"
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(unavailable.Close)
	large := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 50)))
		w.(http.Flusher).Flush() // chunked: no Content-Length, so BufferBodies reads it
		_, _ = w.Write([]byte(strings.Repeat("x", 50)))
	}))
	t.Cleanup(large.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	fast := RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond}
	cases := []struct {
		name    string
		rt      http.RoundTripper
		url     string
		timeout time.Duration
		want    string
	}{
		{"connection refused after retries", Retry(http.DefaultTransport, fast), closed.URL, time.Minute, "after 2 retries of GET"},
		{"deadline while waiting to retry", Retry(http.DefaultTransport, RetryPolicy{Attempts: 2, Base: time.Minute, Max: time.Minute}), unavailable.URL, 100 * time.Millisecond, "context deadline exceeded"},
		{"body over the limit", BufferBodies(http.DefaultTransport, 10), large.URL, time.Minute, "response larger than 10 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/blobs/sha256:abc"+query, nil)
			resp, err := c.rt.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "/blobs/sha256:abc") {
				t.Errorf("error %q, want %q naming the request", err, c.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the query: %v", err)
			}
		})
	}
}
