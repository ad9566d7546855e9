package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sample is one timed process (or loop of processes).
type sample struct {
	wall   time.Duration
	maxRSS int64 // KiB, largest of the processes timed (rusage ru_maxrss)
}

// proc runs one process with exactly env and returns its wall time and
// peak RSS (ru_maxrss from wait4). Output is kept for error messages only.
func proc(ctx context.Context, env []string, bin string, args ...string) (sample, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			s.maxRSS = ru.Maxrss
		}
	}
	if err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return s, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), shortArgs(args), err, tail)
	}
	return s, nil
}

// timeBin is GNU time, which forks (a fresh small address space) before it
// execs the command. ru_maxrss from Go's own wait4 is useless here: Go starts
// children with vfork semantics (CLONE_VM), and Linux carries the high-water
// mark of the shared address space, i.e. this benchmark's own RSS, across
// exec, so every child would report at least the parent's RSS.
const timeBin = "/usr/bin/time"

// procRSS is proc with the peak RSS measured by GNU time (about 1 ms more
// per process, counted against the tool measured); without GNU time it
// falls back to proc's rusage, an upper bound.
func procRSS(ctx context.Context, env []string, bin string, args ...string) (sample, error) {
	if _, err := os.Stat(timeBin); err != nil {
		return proc(ctx, env, bin, args...)
	}
	f, err := os.CreateTemp("", "bench-rss-")
	if err != nil {
		return sample{}, err
	}
	f.Close()
	defer os.Remove(f.Name())
	s, err := proc(ctx, env, timeBin, append([]string{"-f", "%M", "-o", f.Name(), bin}, args...)...)
	if err != nil {
		return s, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return s, err
	}
	if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &s.maxRSS); err != nil {
		return s, fmt.Errorf("reading GNU time output %q: %w", b, err)
	}
	return s, nil
}

// loop runs fn n times and sums the wall times (max of RSS).
func loop(n int, fn func(i int) (sample, error)) (sample, error) {
	var total sample
	for i := 0; i < n; i++ {
		s, err := fn(i)
		if err != nil {
			return total, err
		}
		total.wall += s.wall
		total.maxRSS = max(total.maxRSS, s.maxRSS)
	}
	return total, nil
}

func shortArgs(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 300 {
		s = s[:300] + fmt.Sprintf("… (%d args)", len(args))
	}
	return s
}

// stats summarizes samples: median, min, max.
type stats struct {
	n                int
	median, min, max time.Duration
	rss              int64 // KiB, max over samples
}

func summarize(ss []sample) stats {
	if len(ss) == 0 {
		return stats{}
	}
	d := make([]time.Duration, len(ss))
	var rss int64
	for i, s := range ss {
		d[i] = s.wall
		rss = max(rss, s.maxRSS)
	}
	slices.Sort(d)
	med := d[len(d)/2]
	if len(d)%2 == 0 {
		med = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return stats{n: len(d), median: med, min: d[0], max: d[len(d)-1], rss: rss}
}

func (s stats) String() string {
	return fmt.Sprintf("%s (%s–%s, n=%d)", ms(s.median), ms(s.min), ms(s.max), s.n)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func ratio(a, b stats) float64 {
	if b.median == 0 {
		return 0
	}
	return float64(a.median) / float64(b.median)
}

// order returns the names rotated by round, so every tool runs first,
// second, ... in turn.
func order[T any](round int, items []T) []T {
	n := len(items)
	out := make([]T, n)
	for i := range items {
		out[i] = items[(i+round)%n]
	}
	return out
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
