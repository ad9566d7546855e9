// Command sign-step signs container image tags in a Notary v1 (Docker
// Content Trust) server without a Docker daemon or a prompt. main only wires:
// signals, the process environment and streams, and the exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if os.Getenv("GOGC") == "" {
		// CI runners are small and shared: collect at 70% heap growth, not
		// 100%. Measured: peak RSS of 1 tag into a 5000-tag repository
		// 47-48 → 42-43 MiB, with no change of time above the noise.
		debug.SetGCPercent(70)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}
