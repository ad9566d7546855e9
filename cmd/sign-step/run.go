package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/redact"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

// app is what every command shares: the environment, the redacted streams
// and the logger.
type app struct {
	getenv   func(string) string
	secrets  *redact.Set
	stdout   io.Writer
	stderr   io.Writer
	log      *slog.Logger
	logLevel *slog.LevelVar
	common   commonFlags
	warnings *warnSink // the run's warnings, printed after a successful run

	ci    ciState          // the CI system and, on GitHub, its backend (action.go)
	vault vaultState       // --vault-* flags and the run's Vault session (vault.go)
	now   func() time.Time // the run's clock (tests move it past dates such as notary.docker.io's retirement)
	auth  authState        // --allow-token-realm, read-only scopes (auth.go)
}

type commonFlags struct {
	logLevel         string
	timeout          time.Duration
	notaryServer     string
	notaryCA         []string
	registryCA       []string
	registryUsername string
	registryPassword string
	dockerConfig     string
	pinRoot          []string
	pinCA            string
	retries          int
	trustCache       string
	insecureRegistry []string
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return runAt(ctx, time.Now, args, getenv, stdout, stderr)
}

// runAt is run on the clock now.
func runAt(ctx context.Context, now func() time.Time, args []string, getenv func(string) string, stdout, stderr io.Writer) (code int) {
	secrets := &redact.Set{}
	secrets.AlsoHide(httpx.RedactURLQueries) // stdout, stderr, logs and artifacts alike
	a := &app{getenv: getenv, secrets: secrets, warnings: &warnSink{}, stdout: secrets.Writer(stdout), stderr: secrets.Writer(stderr), logLevel: &slog.LevelVar{}, now: now}
	defer a.recoverPanic(ctx, &code)
	a.setupCI(stdout, stderr, args) // before anything is printed: GitHub masks
	a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: a.logLevel, ReplaceAttr: dropTime}))
	root := a.rootCommand()
	var cmd *cobra.Command
	var err error
	if a.ci.action { // run by GitHub as the action: the inputs are the command line
		args, err = a.actionArgs(root)
	}
	if err == nil {
		root.SetArgs(args)
		root.SetOut(a.stdout)
		root.SetErr(a.stderr)
		cmd, err = root.ExecuteContextC(ctx)
	}
	err = a.closeVault(ctx, err) // revoke the Vault token, success or failure
	if a.ci.action {
		err = inputError(err) // the action's user knows inputs, not flags
	}
	err = a.finishCI(cmd, err)
	if err == nil {
		for _, w := range a.warnings.All() {
			a.log.Warn(w)
		}
		return 0
	}
	var silent *silentError
	if errors.As(err, &silent) {
		return silent.code
	}
	fmt.Fprintf(a.stderr, "sign-step: %s\n", oneLine(err.Error()))
	if c := core.ClassOf(err); c != 0 {
		return int(c)
	}
	return 1
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "sign-step",
		Short:         "Sign image tags in a Notary v1 (Docker Content Trust) server, without a daemon or a prompt",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd, a.getenv); err != nil {
				return err
			}
			if err := a.checkServerURLs(); err != nil {
				return err
			}
			return a.setLogLevel(a.common.logLevel)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&a.common.logLevel, "log-level", "info", "log level: debug, info, warn, error (debug adds HTTP traces, secrets redacted)")
	durationVar(pf, &a.common.timeout, "timeout", 10*time.Minute, "overall deadline of the run (e.g. 90s, 10m, 1h)")
	pf.IntVar(&a.common.retries, "retries", httpx.DefaultRetry.Attempts, "retries of a request that failed on a connection error, 429, 502, 503 or 504 (with backoff and jitter); the only retry count: registry, notary and Vault reads (which Vault also retries on 500); a Vault login is never retried")
	pf.StringVar(&a.common.notaryServer, "notary-server", "", "notary server URL (default: $DOCKER_CONTENT_TRUST_SERVER, else https://<registry host>; for docker.io, notary.docker.io until its retirement on 2026-12-08, then required)")
	pf.StringArrayVar(&a.common.notaryCA, "notary-ca", nil, "CA certificate (PEM, path, file:// or env://) trusted for the notary server; repeatable")
	pf.StringArrayVar(&a.common.registryCA, "registry-ca", nil, "CA certificate (PEM, path, file:// or env://) trusted for the registry; repeatable")
	pf.StringSliceVar(&a.common.insecureRegistry, "insecure-registry", nil, "allow plain HTTP to this registry (HOST or HOST:PORT as in the image reference; certificates of https are still checked); repeatable. Without it registries are reached over https only")
	pf.StringVar(&a.common.registryUsername, "registry-username", "", "registry username, sent only to the registries of the references given and their notary server (default: docker config.json and credential helpers)")
	pf.StringVar(&a.common.registryPassword, "registry-password", "", "registry password or token (value, env:// or file://)")
	pf.StringArrayVar(&a.common.pinRoot, "pin-root", nil, "pin each repository's root to this key ID (as docker trust inspect shows it) instead of trusting it on first use; repeatable")
	pf.StringVar(&a.common.pinCA, "pin-ca", "", "pin each repository's root certificate to this CA (PEM file) instead of trusting it on first use")
	pf.StringVar(&a.common.trustCache, "trust-cache", "", "keep verified trust metadata here between runs (cache it in CI): trusts the first root across runs and catches a server replaying older metadata")
	pf.StringVar(&a.common.dockerConfig, "docker-config", "", "docker config directory with config.json and tls/<host>/ (default: $DOCKER_CONFIG, else ~/.docker)")
	a.addVaultFlags(pf)
	a.addAuthFlags(pf)
	root.AddCommand(a.signCommand(), a.inspectCommand(), a.verifyCommand(), a.revokeCommand(), a.resignCommand(),
		a.initCommand(), a.signerCommand(), a.keyCommand(), versionCommand(), a.migrateCommand())
	root.AddCommand(a.rootCommandGroup())
	usageArgs(root)
	return root
}

// setLogLevel applies --log-level; RUNNER_DEBUG=1 (GitHub's "re-run with
// debug logging") asks for debug over any configured level.
func (a *app) setLogLevel(s string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return usageErrorf("invalid --log-level %q: want debug, info, warn or error", s)
	}
	if a.getenv("RUNNER_DEBUG") == "1" && l > slog.LevelDebug {
		l = slog.LevelDebug
	}
	a.logLevel.Set(l)
	return nil
}

// runE is a command's RunE: run under --timeout.
func (a *app) runE(run func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := a.withTimeout(cmd.Context())
		defer cancel()
		return run(ctx, args)
	}
}

// withTimeout bounds the whole run by --timeout.
func (a *app) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.common.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.common.timeout)
}

func dropTime(_ []string, attr slog.Attr) slog.Attr {
	if attr.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return attr
}

// oneLine keeps the error message on one line, as CI logs show it, with
// the query values of every URL in it hidden (httpx.RedactURLsIn).
func oneLine(s string) string {
	return httpx.RedactURLsIn(strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " "))
}

func usageErrorf(format string, args ...any) error {
	return core.Classedf(core.ClassUsage, format, args...)
}

// silentError carries an exit code for output already printed (inspect
// prints docker's own messages and exits as docker does).
type silentError struct {
	err  error
	code int
}

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }
