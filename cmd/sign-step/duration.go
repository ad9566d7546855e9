package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// parseDuration is the one duration syntax of every flag: a Go duration
// (90s, 10m, 4320h) with days allowed in front (30d, 1d12h). Negative
// durations are refused: every duration flag is a span of time.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i >= 0 {
		n, err := strconv.Atoi(t[:i])
		if err != nil || n < 0 || n > 100*365 {
			return 0, durationError(s)
		}
		days, t = time.Duration(n)*24*time.Hour, t[i+1:]
		if t == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, durationError(s)
	}
	return days + d, nil
}

func durationError(s string) error {
	return fmt.Errorf("invalid duration %q: want a number with a unit: s, m, h or d (90s, 10m, 2h, 30d, 1d12h)", s)
}

// durationValue is a pflag.Value read by parseDuration.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) Type() string { return "duration" }

// String shows whole days as days, as the help texts speak of them.
func (d *durationValue) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

// durationVar defines a duration flag with the days syntax.
func durationVar(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var((*durationValue)(p), name, usage)
}
