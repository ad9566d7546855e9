// Command buildcosign builds (or reuses the cached) cosign CLI, the judge of
// the cosign signature tests, and prints its path; `make tools` runs it.
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
	path, err := testenv.CosignCLI(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		os.Exit(1)
	}
	fmt.Printf("cosign=%s\n", path)
}
