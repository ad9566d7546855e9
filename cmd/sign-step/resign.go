package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/sign"
)

type resignFlags struct {
	keyFlags
	reposFile    string
	warnWithin   time.Duration
	minRemaining time.Duration
	shard        string
	concurrency  int
	outputDir    string
	dryRun       bool
	output       string
}

func (a *app) resignCommand() *cobra.Command {
	var f resignFlags
	cmd := &cobra.Command{
		Use:   "resign [flags] REPOSITORY...",
		Short: "Re-sign (witness) the roles our keys hold so metadata does not expire; for scheduled jobs",
		Long: `resign re-signs every delegation role our keys are listed in (and targets when we hold
that key) without changing any target, moving its expiry 3 years forward. With
--min-remaining it skips roles that still have long enough, so it is cheap to run daily.
--shard i/n picks this worker's share of the repositories by a stable hash.`,
		Args: cobra.ArbitraryArgs,
		RunE: a.ciRunE(func(ctx context.Context, args []string) (*ci.Result, error) { return a.runResign(ctx, f, args) }),
	}
	f.keyFlags.add(cmd, "private key")
	fl := cmd.Flags()
	fl.StringVar(&f.reposFile, "repos-file", "", "file with one repository per line (# comments allowed)")
	durationVar(fl, &f.warnWithin, "warn-within", 30*24*time.Hour, "warn when a role, the root or the snapshot expires sooner than this (e.g. 30d, 720h)")
	durationVar(fl, &f.minRemaining, "min-remaining", 0, "skip roles that expire later than this from now (e.g. 180d, 4320h)")
	fl.StringVar(&f.shard, "shard", "0/1", "this worker's share i/n of the repositories (stable hash)")
	fl.IntVar(&f.concurrency, "concurrency", 8, "repositories re-signed at once")
	fl.StringVar(&f.outputDir, "output-dir", "", "where to write report.json (default as for sign)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "report what is due; publish nothing")
	addOutputFlag(cmd, &f.output)
	return cmd
}

// resignStatus is a repository's line of resign's text output.
func resignStatus(r sign.ResignResult, dryRun bool) string {
	status := "resigned " + strings.Join(r.Witnessed, ",")
	switch {
	case r.Error != "":
		return "failed: " + r.Error
	case len(r.Witnessed) == 0 && len(r.Skipped) == 0:
		status = "nothing to re-sign"
	case len(r.Witnessed) == 0:
		status = "fresh (nothing due)"
	case dryRun:
		status = "would resign " + strings.Join(r.Witnessed, ",")
	}
	switch {
	case len(r.NeverSigned) == 0:
	case status == "nothing to re-sign":
		status += " (never signed into: " + strings.Join(r.NeverSigned, ",") + ")"
	default:
		status += " (never signed into, nothing to re-sign: " + strings.Join(r.NeverSigned, ",") + ")"
	}
	return status
}

// parseShard reads "i/n".
func parseShard(s string) (int, int, error) {
	i, n, ok := strings.Cut(s, "/")
	si, err1 := strconv.Atoi(i)
	sn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
		return 0, 0, usageErrorf("--shard %q: want i/n with 0 <= i < n", s)
	}
	return si, sn, nil
}

// fleet is the repositories of a fleet command (resign, migrate): the
// arguments and --repos-file, and this worker's --shard of them.
func fleet(args []string, reposFile, shardFlag string) (repos []string, shard, of int, err error) {
	repos = args
	if reposFile != "" {
		more, err := readLines(reposFile)
		if err != nil {
			return nil, 0, 0, usageErrorf("reading --repos-file: %v", err)
		}
		repos = append(repos, more...)
	}
	if len(repos) == 0 {
		return nil, 0, 0, usageErrorf("no repository given: pass REPOSITORY... or --repos-file")
	}
	shard, of, err = parseShard(shardFlag)
	return repos, shard, of, err
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

func (a *app) runResign(ctx context.Context, f resignFlags, args []string) (*ci.Result, error) {
	if err := a.useOutput(f.output); err != nil {
		return nil, err
	}
	repos, shard, of, err := fleet(args, f.reposFile, f.shard)
	if err != nil {
		return nil, err
	}
	reg, trust, err := a.keyedClients(ctx, f.keyFlags, repos...) // --repos-file's too: the login goes to every repository's registry
	if err != nil {
		return nil, err
	}
	if err := a.artifacts(f.outputDir).Prepare(); err != nil {
		return nil, err // before anything is published
	}
	s := a.useCases(reg, trust)
	s.Concurrency = f.concurrency
	results, err := s.Resign(ctx, sign.ResignRequest{Repos: repos, WarnWithin: f.warnWithin, MinRemaining: f.minRemaining, Shard: shard, Of: of, DryRun: f.dryRun})
	if results == nil && err != nil {
		return nil, err // nothing was tried
	}
	rep := sign.NewResignReport(results, f.dryRun)
	if f.output == outputJSON {
		if perr := a.printJSON(rep); perr != nil && err == nil {
			err = perr
		}
	}
	for _, r := range results {
		if f.output != outputJSON {
			fmt.Fprintf(a.stdout, "%s %s\n", r.GUN, resignStatus(r, f.dryRun))
		}
		for _, w := range r.Warnings {
			a.log.Warn("expiring soon", "detail", w)
		}
	}
	arts := a.artifacts(f.outputDir)
	if werr := arts.WriteJSON(sign.ReportFile, rep); werr != nil {
		return nil, errors.Join(err, werr)
	}
	res := ci.ResignResult(rep, arts.Path(), a.ciFiles("resign", arts.Path(), sign.ReportFile, false), a.now(), f.warnWithin)
	return &res, err
}
