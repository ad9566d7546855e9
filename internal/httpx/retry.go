package httpx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// RetryPolicy bounds retries. The zero value does not retry.
type RetryPolicy struct {
	Attempts int           // retries after the first try
	Base     time.Duration // first backoff; doubled each retry, with jitter
	Max      time.Duration // cap of one backoff (and of a Retry-After wait)
	// SafeToRepeat marks requests that are not idempotent by method but
	// that the caller knows can be sent twice (a registry's upload-start
	// POST opens a new session; a lost one is only an orphan). Nil: none.
	SafeToRepeat func(*http.Request) bool
}

// DefaultRetry is what sign-step uses unless --retries says otherwise.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 250 * time.Millisecond, Max: 10 * time.Second}

// Retry retries requests that failed for reasons that pass: connection
// errors, 429 (honouring Retry-After), 502, 503 and 504. It never retries
// other statuses (400, 401, 403, 404 ...), and never a request whose body
// cannot be replayed. A request that is not idempotent (POST, PATCH) is
// retried only when the server cannot have acted on it: the connection
// was never made, or the server answered 429 or 503. After a reset or a
// 502/504 it may have been applied, and only the caller can find out (a
// notary publish re-reads the server). Waits end with the request's context.
func Retry(next http.RoundTripper, p RetryPolicy) http.RoundTripper {
	if p.Attempts <= 0 {
		return next
	}
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		backoff := p.Base
		last := "" // the previous attempt's failure, for an error that ends at the deadline
		for attempt := 0; ; attempt++ {
			if attempt > 0 && req.Body != nil && req.Body != http.NoBody {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				req = req.Clone(req.Context())
				req.Body = body
			}
			resp, err := next.RoundTrip(req)
			wait, retry := shouldRetry(resp, err, backoff, p.Max)
			if !retry || attempt >= p.Attempts || !replayable(req) || !p.repeatable(req) && !unapplied(resp, err) {
				if err != nil && last != "" && req.Context().Err() != nil {
					// The deadline struck inside this attempt: its own error says only
					// that, so name what kept failing before it.
					return resp, fmt.Errorf("%w (after %d retries of %s %s; last failure: %s)", err, attempt, req.Method, RedactURL(req.URL), last)
				}
				return resp, annotate(req, resp, err, attempt)
			}
			last = describe(resp, err)
			if resp != nil {
				// Drain so the connection is reused.
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
				resp.Body.Close()
			}
			t := time.NewTimer(wait)
			select {
			case <-req.Context().Done():
				t.Stop()
				return nil, fmt.Errorf("%s %s: %w (last failure: %s)", req.Method, RedactURL(req.URL), req.Context().Err(), describe(resp, err))
			case <-t.C:
			}
			backoff *= 2
		}
	})
}

func (p RetryPolicy) repeatable(req *http.Request) bool {
	return idempotent(req.Method) || p.SafeToRepeat != nil && p.SafeToRepeat(req)
}

// UploadStart reports a registry's blob upload-start (or cross-repository
// mount) POST, which can be repeated: each opens its own upload session.
func UploadStart(req *http.Request) bool {
	return req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/")
}

// idempotent reports whether sending a request twice does what sending it
// once does (RFC 9110, 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// unapplied reports a failure after which the server cannot have acted on
// the request: no connection was made, or it refused to serve it.
func unapplied(resp *http.Response, err error) bool {
	if err != nil {
		var op *net.OpError
		return errors.As(err, &op) && op.Op == "dial"
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
}

func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// shouldRetry decides from one outcome, and how long to wait.
func shouldRetry(resp *http.Response, err error, backoff, max time.Duration) (time.Duration, bool) {
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || core.IsCertificateError(err) {
			return 0, false
		}
		var ne net.Error
		if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return jitter(backoff, max), true
		}
		return 0, false
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return min(d, max), true
		}
		return jitter(backoff, max), true
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return jitter(backoff, max), true
	}
	return 0, false
}

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// jitter is a random duration in [d/2, 3d/2), capped.
func jitter(d, cap time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return min(d/2+rand.N(d), cap)
}

// annotate names the server and the attempts on a final failure.
func annotate(req *http.Request, resp *http.Response, err error, attempt int) error {
	if err == nil || attempt == 0 {
		return err
	}
	return fmt.Errorf("%w (after %d retries of %s %s)", err, attempt, req.Method, RedactURL(req.URL))
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	if resp != nil {
		return resp.Status
	}
	return "none"
}

// BufferBodies reads each response body of up to limit bytes inside the
// round trip, so that a connection cut mid-body is a round-trip error that
// Retry can retry. For small documents only (notary metadata): larger
// bodies pass through unbuffered.
func BufferBodies(next http.RoundTripper, limit int64) http.RoundTripper {
	return BufferBodiesOf(next, limit, func(*http.Request) bool { return true })
}

// BufferBodiesOf is BufferBodies for the requests match selects (registry
// manifests, small, among blobs that must stream).
func BufferBodiesOf(next http.RoundTripper, limit int64, match func(*http.Request) bool) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil || !match(req) || resp.ContentLength > limit {
			return resp, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", req.Method, RedactURL(req.URL), err)
		}
		if int64(len(body)) > limit {
			return nil, fmt.Errorf("%s %s: response larger than %d bytes", req.Method, RedactURL(req.URL), limit)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	})
}
