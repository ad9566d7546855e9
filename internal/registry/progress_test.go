package registry

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/sign-step/sign-step/internal/core"
)

// fakeClock moves step forward each time it is read, as if each read of a
// layer took step.
type fakeClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(c.step)
	return c.now
}

func (c *fakeClock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// stampedLines records each line with the fake time it was written at.
type stampedLines struct {
	clock *fakeClock
	mu    sync.Mutex
	lines []string
	at    []time.Time
}

func (s *stampedLines) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		s.lines = append(s.lines, l)
		s.at = append(s.at, s.clock.peek())
	}
	return len(p), nil
}

var progressLine = regexp.MustCompile(`^pushing layer (sha256:[0-9a-f]{12}): ([0-9.]+) MiB of ([0-9.]+) MiB \(([0-9]+)%\), ([0-9.]+) MiB/s$`)
var doneLine = regexp.MustCompile(`^pushed layer (sha256:[0-9a-f]{12}): ([0-9.]+) MiB in [0-9.]+s \([0-9.]+ MiB/s\)$`)

// TestPushProgressThrottled pushes an image with one 8 MiB layer and one
// small layer through a registry, with a clock that moves 100ms per read:
// the big layer gets a line at most once per interval (and about every
// interval), percentages that grow to the end, and one final line; the small
// layer prints nothing.
func TestPushProgressThrottled(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	big, err := random.Layer(8<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	small, err := random.Layer(1<<10, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, big, small)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	bigDigest, _ := big.Digest()

	for _, every := range []time.Duration{time.Second, 5 * time.Second} {
		t.Run(every.String(), func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Unix(0, 0), step: 100 * time.Millisecond}
			out := &stampedLines{clock: clock}
			r := New(WithTransport(srv.Client().Transport), WithProgress(Progress{Out: out, Every: every, Now: clock.Now}))
			ref, err := core.ParseRef(host + "/progress/" + strings.TrimSuffix(every.String(), "s") + ":1")
			if err != nil {
				t.Fatal(err)
			}
			start := clock.peek()
			if _, err := r.Push(context.Background(), dir, []core.Ref{ref}); err != nil {
				t.Fatal(err)
			}
			var at []time.Time
			last := int64(-1)
			done := 0
			for i, l := range out.lines {
				if m := doneLine.FindStringSubmatch(l); m != nil {
					if m[1] != bigDigest.String()[:19] || m[2] != "8.0" {
						t.Errorf("final line %q, want the 8 MiB layer %s", l, bigDigest)
					}
					done++
					continue
				}
				m := progressLine.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("unexpected line %q", l)
				}
				if m[1] != bigDigest.String()[:19] {
					t.Errorf("line %q is not for the big layer", l)
				}
				pct, _ := strconv.ParseInt(m[4], 10, 64)
				if pct < last || pct > 100 {
					t.Errorf("percent %d after %d: %q", pct, last, l)
				}
				last = pct
				at = append(at, out.at[i])
			}
			if done != 1 {
				t.Errorf("%d final lines, want 1 (for the big layer only):\n%s", done, strings.Join(out.lines, "\n"))
			}
			elapsed := clock.peek().Sub(start)
			// At most one line per interval; at least one per interval and a read.
			max, min := int(elapsed/every), int(elapsed/(every+clock.step))-1
			if len(at) > max || len(at) < min || len(at) == 0 {
				t.Errorf("%d progress lines in %s at one per %s, want %d..%d:\n%s", len(at), elapsed, every, min, max, strings.Join(out.lines, "\n"))
			}
			prev := start
			for _, a := range at {
				if a.Sub(prev) < every {
					t.Errorf("a progress line %s after the previous one, want at least %s", a.Sub(prev), every)
				}
				prev = a
			}
		})
	}
}
