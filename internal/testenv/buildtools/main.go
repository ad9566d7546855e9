// Command buildtools builds (or reuses cached) end-to-end test tools and prints their
// paths; `make tools` runs it to warm the cache.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/sign-step/sign-step/internal/testenv"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	tools, err := testenv.BuildTools(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		os.Exit(1)
	}
	fmt.Printf("registry=%s\nnotary-server=%s\nnotary-signer=%s\nnotary=%s\n", tools.Registry, tools.NotaryServer, tools.NotarySigner, tools.Notary)
}
