// Command buildvault builds (or finds in the user cache) the Vault server
// binary that vaultenv tests run, and prints its path. `make tools` runs it
// so that the first test run does not pay for the build.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/sign-step/sign-step/internal/testenv/vaultenv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// No deadline of its own: on a busy 2-core machine the build can take
	// 20+ minutes, and CI's own limit is the one that matters.
	bin, err := vaultenv.Binary(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildvault:", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
