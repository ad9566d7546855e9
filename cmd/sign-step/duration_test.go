package main

import (
	"testing"
	"time"
)

// One duration syntax for every flag: Go durations with days in front.
func TestParseDuration(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	cases := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30d", 30 * day, false},
		{"180d", 180 * day, false},
		{"1d12h", day + 12*time.Hour, false},
		{"4320h", 4320 * time.Hour, false},
		{"10m", 10 * time.Minute, false},
		{"90s", 90 * time.Second, false},
		{"0", 0, false},
		{"0d", 0, false},
		{"5", 0, true},
		{"d", 0, true},
		{"-1d", 0, true},
		{"-5m", 0, true},
		{"1.5d", 0, true},
		{"30x", 0, true},
		{"1d1d", 0, true},
		{"", 0, true},
	}
	for _, c := range cases {
		got, err := parseDuration(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.wantErr)
		}
	}
	d := durationValue(30 * day)
	if d.String() != "30d" {
		t.Errorf("30 days shown as %s", d.String())
	}
}
