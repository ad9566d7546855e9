// Command buildact builds (or finds cached) nektos/act, the runner implementation
// the action tests run under, and prints its path; `make tools` runs it so no
// test pays for the build.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/sign-step/sign-step/internal/testenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// No deadline of its own: CI's limit is the one that matters.
	bin, err := testenv.BuildAct(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildact:", err)
		stop()
		os.Exit(1)
	}
	fmt.Println(bin)
}
