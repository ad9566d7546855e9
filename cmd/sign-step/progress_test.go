package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// timedLines is stderr with the time each line was written.
type timedLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	at    []time.Time
}

func (w *timedLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // an unfinished line waits for its end
			break
		}
		w.lines = append(w.lines, strings.TrimSuffix(line, "\n"))
		w.at = append(w.at, time.Now())
	}
	return len(p), nil
}

// TestPushProgressLines signs --source with a 64 MiB layer through the real
// registry and checks stderr: lines for that layer at no more than one per
// interval (the flag's, or 5s in CI), a final line, none at log level warn.
func TestPushProgressLines(t *testing.T) {
	t.Parallel()
	layer, err := random.Layer(64<<20, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := layout.Write(dir, mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})); err != nil {
		t.Fatal(err)
	}
	d, _ := layer.Digest()
	name := regexp.QuoteMeta(d.String()[:19])
	pushing := regexp.MustCompile(`^pushing layer ` + name + `: [0-9.]+ MiB of 64\.0 MiB \([0-9]+%\), [0-9.]+ MiB/s$`)
	pushed := regexp.MustCompile(`^pushed layer ` + name + `: 64\.0 MiB in [0-9.]+s \([0-9.]+ MiB/s\)$`)
	cases := []struct {
		name     string
		args     []string
		vars     map[string]string
		interval time.Duration
		quiet    bool
	}{
		{name: "interval flag", args: []string{"--progress-interval", "20ms"}, interval: 20 * time.Millisecond},
		{name: "CI default", vars: map[string]string{"GITLAB_CI": "true"}, interval: 5 * time.Second},
		{name: "log level warn", args: []string{"--progress-interval", "20ms", "--log-level", "warn"}, quiet: true},
	}
	repos := make([]string, len(cases))
	for i := range cases {
		repos[i] = env.Repo("progress" + string(rune('a'+i)))
	}
	s := dockerSigner(t, "ci", repos...)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{
				"HOME": t.TempDir(), "SIGN_STEP_NOTARY_SERVER": env.NotaryURL, "SIGN_STEP_NOTARY_CA": env.CACertFile,
				"SIGN_STEP_REGISTRY_CA": env.CACertFile, "SIGN_STEP_OUTPUT_DIR": filepath.Join(t.TempDir(), "out"),
				"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": repoPass,
			}
			for k, v := range tc.vars {
				vars[k] = v
			}
			var stdout bytes.Buffer
			stderr := &timedLines{}
			args := append(append([]string{"sign", "--source", dir}, tc.args...), repos[i]+":1")
			start := time.Now()
			code := run(context.Background(), args, func(k string) string { return vars[k] }, &stdout, stderr)
			elapsed := time.Since(start)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, strings.Join(stderr.lines, "\n"))
			}
			var at []time.Time
			done := 0
			for j, l := range stderr.lines {
				switch {
				case pushing.MatchString(l):
					at = append(at, stderr.at[j])
				case pushed.MatchString(l):
					done++
				case strings.Contains(l, "layer"):
					t.Errorf("malformed progress line %q", l)
				}
			}
			log := strings.Join(stderr.lines, "\n")
			if tc.quiet {
				if len(at)+done != 0 {
					t.Errorf("progress at log level warn:\n%s", log)
				}
				return
			}
			if done != 1 {
				t.Errorf("%d final lines for the layer, want 1:\n%s", done, log)
			}
			if max := int(elapsed/tc.interval) + 1; len(at) > max {
				t.Errorf("%d progress lines in %s, want at most %d (one per %s):\n%s", len(at), elapsed, max, tc.interval, log)
			}
			if tc.interval < time.Second && len(at) == 0 {
				t.Errorf("no progress line for a 64 MiB push at one per %s (%s):\n%s", tc.interval, elapsed, log)
			}
			// Lines are decided at least interval apart; writing them may
			// lag a little.
			for j := 1; j < len(at); j++ {
				if gap := at[j].Sub(at[j-1]); gap < tc.interval*8/10 {
					t.Errorf("progress lines %s apart, want about %s or more", gap, tc.interval)
				}
			}
			t.Logf("%d progress lines in %s", len(at), elapsed)
		})
	}
}
