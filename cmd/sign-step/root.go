package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/sign"
)

// rootFlags are root renew's flags.
type rootFlags struct {
	keyFlags                      // other keys the publish needs
	rootKey, rootPassphrase       string
	newRootKey, newRootPassphrase string
	newRootKeyOut                 string
}

func (a *app) rootCommandGroup() *cobra.Command {
	cmd := &cobra.Command{Use: "root", Short: "Renew or rotate a repository's root (needs the root key)"}
	var f rootFlags
	renew := &cobra.Command{
		Use:   "renew REPOSITORY --root-key K [--new-root-key K2 | --new-root-key-out FILE]",
		Short: "Re-sign root.json with a new root certificate, or rotate it to a new root key",
		Long: `renew gives the repository's root a new x509 certificate (CN = repository, 10 years, as
docker's init makes it) and re-signs root.json (version + 1, expiring 10 years out), so
that publishes without the root key work again: the notary client re-signs root in every
publish once root.json expires within 6 months, and then needs the root key.

With --new-root-key (or --new-root-key-out FILE, which generates one, encrypted, into a
new file) root moves to that key instead; root.json is signed by the old root key and the
new one, so docker and notary clients that trusted the old root accept the new one.

The root key ID docker trust inspect shows ("Root") and --pin-root takes is the
certificate's: it changes with every renewal, even for the same key. Both IDs are printed.`,
		Args: cobra.ExactArgs(1),
		RunE: a.runE(func(ctx context.Context, args []string) error { return a.runRootRenew(ctx, f, args[0]) }),
	}
	fl := renew.Flags()
	fl.StringVar(&f.rootKey, "root-key", "", "the repository's current root private key (PEM, env://, file://, vault:// or path)")
	fl.StringVar(&f.rootPassphrase, "root-passphrase", "", "its passphrase (default $DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE)")
	fl.StringVar(&f.newRootKey, "new-root-key", "", "rotate root to this private key (default: keep the root key, renew its certificate)")
	fl.StringVar(&f.newRootPassphrase, "new-root-passphrase", "", "its passphrase, and the one a generated key is encrypted with (default: --root-passphrase)")
	fl.StringVar(&f.newRootKeyOut, "new-root-key-out", "", "rotate root to a new key generated into this new file, encrypted (mode 0600); refused if the file exists")
	f.keyFlags.add(renew, "other keys the publish needs, e.g. the snapshot key of a repository whose snapshot key is not on the server (the notary CLI's init keeps it)")
	cmd.AddCommand(renew)
	return cmd
}

func (a *app) runRootRenew(ctx context.Context, f rootFlags, repo string) error {
	gun, err := repoName(repo)
	if err != nil {
		return err
	}
	if f.newRootKey != "" && f.newRootKeyOut != "" {
		return usageErrorf("--new-root-key and --new-root-key-out exclude each other")
	}
	if f.newRootPassphrase == "" {
		f.newRootPassphrase = f.rootPassphrase
	}
	kl := a.keyLoader()
	req := sign.RenewRootRequest{GUN: gun, NewRootOut: f.newRootKeyOut}
	if req.OldRoot, err = kl.One(ctx, f.rootKey, f.rootPassphrase, "--root-key"); err != nil {
		return err
	}
	switch {
	case f.newRootKey != "":
		if req.NewRoot, err = kl.One(ctx, f.newRootKey, f.newRootPassphrase, "--new-root-key"); err != nil {
			return err
		}
	case f.newRootKeyOut != "":
		if req.NewRootPass, err = kl.Passphrase(ctx, f.newRootPassphrase); err != nil {
			return err
		}
	}
	others := &notary.Keyring{}
	if len(f.keys) > 0 {
		if others, err = a.loadKeys(ctx, f.keys, f.passphrase, ""); err != nil {
			return err
		}
	}
	_, trust, err := a.clients(ctx, others, repo)
	if err != nil {
		return err
	}
	renewal, err := a.admin(trust).RenewRoot(ctx, req)
	if renewal != nil {
		a.printRenewal(renewal)
	}
	return err
}

// printRenewal says what changed, and what --pin-root users must change.
func (a *app) printRenewal(r *sign.RootRenewal) {
	verb := "renewed the root certificate of"
	if r.NewKey != r.OldKey {
		verb = "rotated the root key of"
	}
	fmt.Fprintf(a.stdout, "%s %s: root.json version %d expires %s, certificate expires %s\n", verb, r.GUN, r.Version, r.Expires.Format(time.RFC3339), r.CertExpires.Format(time.RFC3339))
	fmt.Fprintf(a.stdout, "root key ID (docker trust inspect \"Root\", --pin-root): %s -> %s\n", strings.Join(r.OldKeyIDs, ","), strings.Join(r.NewKeyIDs, ","))
	fmt.Fprintf(a.stdout, "root key (canonical ID of the private key): %s -> %s\n", r.OldKey, r.NewKey)
	fmt.Fprintf(a.stdout, "--pin-root %s no longer matches %s: pin %s (give both while runs switch over)\n", strings.Join(r.OldKeyIDs, ","), r.GUN, strings.Join(r.NewKeyIDs, ","))
}
