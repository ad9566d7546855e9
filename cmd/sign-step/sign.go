package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/ci"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/sign"
)

type signFlags struct {
	keyFlags
	sourceLogin
	trustDir     string
	source       string
	expectDigest string
	outputDir    string
	dryRun       bool
	force        bool
	output       string
	progress     time.Duration
	alsoSign     []string
	systemFlags
}

func (a *app) signCommand() *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign [flags] REGISTRY/REPOSITORY:TAG[@sha256:DIGEST]...",
		Short: "Push (optionally) and sign tags, one notary publish per repository",
		Long: `sign records each tag's manifest digest and size in the notary repository of
its image, in every role docker would use (targets/releases and targets/<signer>
where our key is listed, or targets when there are no delegations).

The digest signed is the hash of the manifest bytes sign-step read (or
pushed), never a registry's claim. REPOSITORY:TAG@sha256:X, or
--expect-digest sha256:X for every ref, pins it: a tag not at X (with
--source: a source image that is not X) fails the run.

Everything is checked before anything is pushed or published: one bad
reference, key, role or pin fails the run and changes nothing.

A re-run publishes nothing when every tag is already signed at its digest,
in every role it would write, by our key: each ref's result is unchanged and
changed is false. --force publishes anyway.`,
		Args: needArgs("no image reference given"),
		RunE: a.ciRunE(func(ctx context.Context, args []string) (*ci.Result, error) { return a.runSign(ctx, f, args) }),
	}
	fl := cmd.Flags()
	f.keyFlags.add(cmd, "private key")
	fl.StringVar(&f.trustDir, "trust-dir", "", "also read keys from a docker trust directory (e.g. ~/.docker/trust)")
	fl.StringVar(&f.source, "source", "", "push this image first: an OCI layout directory, a docker save tarball or a registry reference")
	fl.StringVar(&f.expectDigest, "expect-digest", "", "refuse, with nothing pushed or published, unless every ref (and --source) is this manifest digest (sha256:...), e.g. the one your build pushed")
	f.sourceLogin.addFlags(fl)
	fl.StringVar(&f.outputDir, "output-dir", "", "where to write trust-inspect.json, trust-inspect.txt and report.json (default: $RUNNER_TEMP, $CI_PROJECT_DIR or $WORKSPACE /sign-step, else ./sign-step)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "resolve and check everything, push and publish nothing")
	fl.BoolVar(&f.force, "force", false, "publish even when every tag is already signed at its digest in every role by our key (a re-run otherwise publishes nothing)")
	fl.DurationVar(&f.progress, "progress-interval", 0, "time between two progress lines of a layer pushed from --source (default 5s in CI, 1s elsewhere; --log-level warn turns them off)")
	addOutputFlag(cmd, &f.output)
	fl.StringSliceVar(&f.alsoSign, "also-sign", nil, "after the DCT publish, also sign every digest signed with cosign and/or notation (comma list or repeatable)")
	f.systemFlags.add(fl)
	return cmd
}

func (a *app) runSign(ctx context.Context, f signFlags, refs []string) (*ci.Result, error) {
	if err := a.useOutput(f.output); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, usageErrorf("no image reference given: sign-step sign REGISTRY/REPOSITORY:TAG...")
	}
	keys, err := a.loadKeys(ctx, f.keys, f.passphrase, f.trustDir)
	if err != nil {
		return nil, err
	}
	a.log.Info("keys loaded", "ids", strings.Join(keys.IDs(), ","))
	reg, trust, err := a.clientsFor(ctx, keys, loginRoute{destinations: refs, source: f.source, sourceLogin: f.sourceLogin},
		registry.WithProgress(a.pushProgress(f.progress)))
	if err != nil {
		return nil, err
	}
	arts := a.artifacts(f.outputDir)
	if err := arts.Prepare(); err != nil {
		return nil, err // before anything is pushed or published
	}
	also, err := a.prepareAlsoSign(ctx, f.alsoSign, f.systemFlags, f.keys, f.passphrase, reg)
	if err != nil {
		return nil, err // before anything is pushed or published
	}
	s := a.useCases(reg, trust)
	rep, err := s.Sign(ctx, sign.SignRequest{Refs: refs, Source: f.source, ExpectDigest: f.expectDigest, DryRun: f.dryRun, Force: f.force, Systems: also.signers()})
	if err != nil {
		if rep != nil {
			// Some repositories may be published: the report says which.
			_ = sign.WriteArtifacts(arts, rep, nil)
		}
		return nil, err
	}
	// DCT is published; the other systems' signatures are being committed
	// meanwhile. The artifacts say so even if those fail.
	var outErr error
	if f.output == outputJSON {
		outErr = a.printJSON(rep)
	} else {
		var b strings.Builder // one write through the redactor, not one per ref
		for _, r := range rep.Refs {
			fmt.Fprintf(&b, "%s %s@%s %s\n", r.Result, r.Ref, r.Descriptor.Digest, strings.Join(r.Roles, ","))
		}
		_, outErr = io.WriteString(a.stdout, b.String())
	}
	if outErr == nil {
		outErr = sign.WriteArtifacts(arts, rep, rep.Inspect)
	}
	alsoErr := rep.FinishSystems() // never exit while they commit
	also.print(rep.Systems)
	if outErr != nil {
		return nil, outErr
	}
	a.log.Info("artifacts written", "dir", arts.Path())
	res := ci.SignResult(rep, arts.Path(), a.ciFiles("sign", arts.Path(), sign.ReportFile, true), a.now())
	res = ci.WithSystems(res, also.systemNames(), rep.Systems)
	return &res, alsoErr
}

// pushProgress is where push progress goes: stderr, a line per layer every
// interval (0: 5s in CI logs, which keep every line, 1s elsewhere); none
// above log level info.
func (a *app) pushProgress(interval time.Duration) registry.Progress {
	if a.logLevel.Level() > slog.LevelInfo {
		return registry.Progress{}
	}
	if interval <= 0 {
		interval = time.Second
		if a.ci.system != ci.None {
			interval = 5 * time.Second
		}
	}
	return registry.Progress{Out: a.stderr, Every: interval}
}

// loadKeys resolves --key/--passphrase/--trust-dir into an in-memory keyring.
func (a *app) loadKeys(ctx context.Context, keyRefs []string, passRef, trustDir string) (*notary.Keyring, error) {
	return a.keyLoader().Keyring(ctx, keyRefs, passRef, trustDir)
}

// outputDir is --output-dir, else the CI system's scratch or workspace directory.
func (a *app) outputDir(flag string) string {
	if flag != "" {
		return flag
	}
	for _, env := range []string{"RUNNER_TEMP", "CI_PROJECT_DIR", "WORKSPACE"} {
		if v := a.getenv(env); v != "" {
			return filepath.Join(v, "sign-step")
		}
	}
	return "sign-step"
}
