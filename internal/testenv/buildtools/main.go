// Command buildtools builds (or reuses cached) end-to-end test tools and prints their
// paths; `make tools` runs it to warm the cache. With -out DIR it also copies
// the patched notary-server and notary-signer, and notary's SQL migrations, to
// DIR (`make notary-server`): the very build the tests run, for a deployment.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/sign-step/sign-step/internal/testenv"
)

func main() {
	out := flag.String("out", "", "also copy notary-server, notary-signer and notary-migrations/ to this directory")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	tools, err := testenv.BuildTools(ctx)
	if err == nil && *out != "" {
		err = install(tools, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		os.Exit(1)
	}
	fmt.Printf("registry=%s\nnotary-server=%s\nnotary-signer=%s\nnotary=%s\n", tools.Registry, tools.NotaryServer, tools.NotarySigner, tools.Notary)
	if *out != "" {
		fmt.Printf("installed %s: notary-server notary-signer notary-migrations/\n", *out)
	}
}

// install copies the two servers and the migrations out of the cache, which
// other runs share and must not be edited in place.
func install(t testenv.Tools, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, bin := range []string{t.NotaryServer, t.NotarySigner} {
		if err := copyFile(bin, filepath.Join(dir, filepath.Base(bin)), 0o755); err != nil {
			return err
		}
	}
	migrations := filepath.Join(dir, "notary-migrations")
	if err := os.RemoveAll(migrations); err != nil {
		return fmt.Errorf("replacing %s: %w", migrations, err)
	}
	if err := os.CopyFS(migrations, os.DirFS(t.Migrations)); err != nil {
		return fmt.Errorf("copying migrations: %w", err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copying to %s: %w", dst, err)
	}
	// Rename, so a running server's binary is replaced, not overwritten.
	return os.Rename(tmp, dst)
}
