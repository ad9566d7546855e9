package notary

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// hosts is a transport that records the hosts asked and answers nothing,
// so that no test reaches the network.
type hosts struct {
	mu  sync.Mutex
	got []string
}

func (h *hosts) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.got = append(h.got, r.URL.Host)
	h.mu.Unlock()
	return nil, errors.New("offline test transport")
}

// docker.io's default notary, notary.docker.io, is retired on 2026-12-08:
// from then on a docker.io repository without a fixed server fails in one
// line before any request; before, and with a fixed server, it is asked.
func TestDockerHubNotaryRetirement(t *testing.T) {
	t.Parallel()
	before := DockerHubNotaryRetired.Add(-time.Second)
	cases := []struct {
		name      string
		now       time.Time
		server    string
		gun       string
		wantHost  string // the host asked; "" when nothing may be asked
		wantRetry bool
	}{
		{"docker.io before the date", before, "", "docker.io/library/alpine", "notary.docker.io", false},
		{"docker.io on the date", DockerHubNotaryRetired, "", "docker.io/library/alpine", "", true},
		{"docker.io after the date", DockerHubNotaryRetired.AddDate(1, 0, 0), "", "docker.io/team/app", "", true},
		{"docker.io with a fixed server", DockerHubNotaryRetired.AddDate(0, 1, 0), "https://notary.example.com", "docker.io/library/alpine", "notary.example.com", false},
		{"notary.docker.io named explicitly", DockerHubNotaryRetired.AddDate(0, 1, 0), "https://notary.docker.io", "docker.io/library/alpine", "notary.docker.io", false},
		{"another registry after the date", DockerHubNotaryRetired.AddDate(0, 1, 0), "", "registry.example.com/app", "registry.example.com", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rt := &hosts{}
			opts := []Option{WithTransport(rt), WithClock(func() time.Time { return c.now })}
			if c.server != "" {
				opts = append(opts, WithServer(c.server))
			}
			cl, err := New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Open(context.Background(), c.gun)
			if err == nil {
				t.Fatal("Open succeeded offline")
			}
			var retired *RetiredServerError
			if got := errors.As(err, &retired); got != c.wantRetry {
				t.Fatalf("retired = %v, want %v: %v", got, c.wantRetry, err)
			}
			if c.wantRetry {
				if core.ClassOf(err) != core.ClassNotary {
					t.Errorf("class %d, want %d", core.ClassOf(err), core.ClassNotary)
				}
				for _, want := range []string{"notary.docker.io", "retired on 2026-12-08", "--notary-server", c.gun} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if len(rt.got) != 0 {
					t.Errorf("asked %v after the retirement", rt.got)
				}
				return
			}
			if len(rt.got) == 0 || rt.got[0] != c.wantHost {
				t.Errorf("asked %v, want %s first", rt.got, c.wantHost)
			}
		})
	}
}
