package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/sign"
	"github.com/sign-step/sign-step/internal/systems"
)

type migrateFlags struct {
	keyFlags
	systemFlags
	to          []string
	reposFile   string
	shard       string
	concurrency int
	outputDir   string
	output      string
	dryRun      bool
}

func (a *app) migrateCommand() *cobra.Command {
	var f migrateFlags
	cmd := &cobra.Command{
		Use:   "migrate --to cosign|notation [flags] REPOSITORY...",
		Short: "Backfill cosign or Notation signatures for every tag DCT trust data vouches for",
		Long: `migrate resolves every tag of each repository exactly as a trusted docker pull
does (targets/releases, then targets; --pin-root, --pin-ca and --trust-cache
honoured; tampered or expired trust data refused) and signs that digest with
each --to system unless our key already has. A digest no trust data vouches
for is never signed, nor one the registry does not serve. A second run
changes nothing. report.json lists per tag: digest, DCT signers, and each
system as present, added or (with --dry-run) missing.`,
		Args: cobra.ArbitraryArgs,
		RunE: a.ciRunE(func(ctx context.Context, args []string) (*ci.Result, error) { return a.runMigrate(ctx, f, args) }),
	}
	f.keyFlags.add(cmd, "private key that signs the new signatures (the DCT delegation key)")
	fl := cmd.Flags()
	f.systemFlags.add(fl)
	fl.StringSliceVar(&f.to, "to", nil, "signature system to add: cosign or notation (comma list or repeatable)")
	fl.StringVar(&f.reposFile, "repos-file", "", "file with one repository per line (# comments allowed)")
	fl.StringVar(&f.shard, "shard", "0/1", "this worker's share i/n of the repositories (stable hash)")
	fl.IntVar(&f.concurrency, "concurrency", 8, "repositories migrated at once")
	fl.StringVar(&f.outputDir, "output-dir", "", "where to write report.json (default as for sign)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "report what is missing; sign nothing")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// migrateStatus is one tag's line: "sha256:… cosign=added notation=present" or why it was skipped.
func migrateStatus(t sign.MigrateTag) string {
	switch {
	case t.Error != "":
		return "failed: " + t.Error
	case t.Skipped != "":
		return "skipped (not vouched for by trust data): " + t.Skipped
	}
	parts := []string{t.Digest}
	names := make([]string, 0, len(t.Systems))
	for n := range t.Systems {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		parts = append(parts, n+"="+t.Systems[n])
	}
	if len(t.Signers) > 0 {
		parts = append(parts, "dct-signers="+strings.Join(t.Signers, ","))
	}
	return strings.Join(parts, " ")
}

func (a *app) runMigrate(ctx context.Context, f migrateFlags, args []string) (*ci.Result, error) {
	if err := a.useOutput(f.output); err != nil {
		return nil, err
	}
	names, err := systems.ParseNames("to", f.to, sysCosign, sysNotation)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, usageErrorf("no system to migrate to: pass --to cosign or --to notation")
	}
	repos, shard, of, err := fleet(args, f.reposFile, f.shard)
	if err != nil {
		return nil, err
	}
	reg, trust, err := a.clients(ctx, &notary.Keyring{}, repos...)
	if err != nil {
		return nil, err
	}
	sys, err := a.signingSystems(ctx, names, f.systemFlags, f.keys, f.passphrase, reg)
	if err != nil {
		return nil, err
	}
	if err := a.artifacts(f.outputDir).Prepare(); err != nil {
		return nil, err // before anything is signed
	}
	s := a.useCases(reg, trust)
	s.Concurrency = f.concurrency
	results, err := s.Migrate(ctx, sign.MigrateRequest{Repos: repos, Shard: shard, Of: of, DryRun: f.dryRun}, sys)
	if results == nil && err != nil {
		return nil, err // nothing was tried
	}
	doc := map[string]any{"command": "migrate", "dryRun": f.dryRun, "systems": names, "repositories": results}
	if f.output == outputJSON {
		if perr := a.printJSON(doc); perr != nil && err == nil {
			err = perr
		}
	} else {
		for _, r := range results {
			if r.Error != "" && len(r.Tags) == 0 {
				fmt.Fprintf(a.stdout, "%s failed: %s\n", r.GUN, r.Error)
				continue
			}
			for _, t := range r.Tags {
				fmt.Fprintf(a.stdout, "%s:%s %s\n", r.GUN, t.Tag, migrateStatus(t))
			}
		}
	}
	if slices.Contains(names, sysCosign) && !f.dryRun {
		a.log.Info(systems.NoTlogNote)
	}
	arts := a.artifacts(f.outputDir)
	if werr := arts.WriteJSON(sign.ReportFile, doc); werr != nil {
		return nil, errors.Join(err, werr)
	}
	res := ci.MigrateResult(results, names, f.dryRun, arts.Path(), a.ciFiles("migrate", arts.Path(), sign.ReportFile, false))
	return &res, err
}
