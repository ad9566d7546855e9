package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sign-step/sign-step/internal/keyfile"
	"github.com/sign-step/sign-step/internal/notary"
	"github.com/sign-step/sign-step/internal/secrets"
	"github.com/sign-step/sign-step/internal/sign"
)

// keyFlags are --key/--passphrase as every writing command takes them.
type keyFlags struct {
	keys       []string
	passphrase string
}

func (k *keyFlags) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringArrayVar(&k.keys, "key", nil, what+": inline PEM, env://VAR, file://PATH or a path; repeatable; add the snapshot key where the repository keeps it on the client, as notary init does (default $SIGN_STEP_KEY)")
	cmd.Flags().StringVar(&k.passphrase, "passphrase", "", "passphrase of the keys: env://VAR, file://PATH or the value (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
}

// passphraseFlags names, per key flag, where its passphrase is given: the
// hint of an encrypted key without one names a flag the command has.
var passphraseFlags = map[string]string{
	"--root-key":    "--root-passphrase or DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
	"--targets-key": "--targets-passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
	"--new-key":     "--new-passphrase, else --passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
}

// oneKey resolves and decrypts a single key reference.
func (a *app) oneKey(ctx context.Context, ref, passRef, what string) (*notary.Key, error) {
	if ref == "" {
		return nil, usageErrorf("%s is required", what)
	}
	pem, origin, err := a.resolver().ResolvePEM(ctx, flagLabel(what), ref, secrets.PrivatePEM)
	if err != nil {
		return nil, err
	}
	var pass sign.Secret
	if passRef != "" {
		if pass, _, err = a.resolver().Resolve(ctx, passRef, secrets.Literal); err != nil {
			return nil, err
		}
	}
	return notary.ParseKey(notary.KeyMaterial{PEM: pem, Passphrase: pass, Origin: origin, PassphraseFrom: passphraseFlags[what]})
}

func (a *app) initCommand() *cobra.Command {
	var f struct {
		rootKey, rootPassphrase       string
		targetsKey, targetsPassphrase string
		targetsKeyOut                 string
	}
	cmd := &cobra.Command{
		Use:   "init REPOSITORY --root-key K (--targets-key K | --targets-key-out FILE)",
		Short: "Initialize a repository in notary without a prompt (idempotent with the same root)",
		Long: `init creates the repository's trust data as docker does: the root key's x509
certificate (CN = repository, 10 years) in root.json, the repository (targets) key you
give or one generated for you, and snapshot and timestamp managed by the server.
Run again with the same root, it changes nothing and writes no file.
--targets-key-out must name a new file: the repository is read first, the key is
generated and written only when the repository is created, and an existing file or
symlink there is refused (exit code 2) before anything is published.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			ref, err := sign.ParseRef(args[0])
			if err != nil {
				return err
			}
			if ref.Tag != "" || ref.Digest != "" {
				return usageErrorf("init takes a repository, not a tag: %s", args[0])
			}
			root, err := a.oneKey(ctx, f.rootKey, f.rootPassphrase, "--root-key")
			if err != nil {
				return err
			}
			// Flags and keys are checked before the server; --targets-key-out
			// after the repository is read, before anything is changed.
			targets, err := a.repositoryKey(ctx, f.targetsKey, f.targetsPassphrase, f.targetsKeyOut)
			if err != nil {
				return err
			}
			_, trust, err := a.clients(ctx, &notary.Keyring{}, args[0])
			if err != nil {
				return err
			}
			created, err := trust.Init(ctx, ref.Name(), root, targets.key)
			switch {
			case err != nil && targets.written:
				return fmt.Errorf("initializing %s: %w; the generated repository key is kept in %s: re-run with --targets-key %s (if the publish reached the server after all, that file holds the repository's key)", ref.Name(), err, targets.out, targets.out)
			case err != nil:
				return err
			case created:
				fmt.Fprintf(a.stdout, "initialized %s (root %s, repository key %s)\n", ref.Name(), root.ID(), targets.id)
			case targets.out != "":
				fmt.Fprintf(a.stdout, "%s is already initialized with this root key; changed nothing and did not write %s\n", ref.Name(), targets.out)
			default:
				fmt.Fprintf(a.stdout, "%s is already initialized with this root key; changed nothing\n", ref.Name())
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.rootKey, "root-key", "", "root private key (PEM, env://, file:// or path)")
	fl.StringVar(&f.rootPassphrase, "root-passphrase", "", "root key passphrase (default $DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE)")
	fl.StringVar(&f.targetsKey, "targets-key", "", "repository (targets) private key to use")
	fl.StringVar(&f.targetsPassphrase, "targets-passphrase", "", "its passphrase, and the one a generated key is encrypted with (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
	fl.StringVar(&f.targetsKeyOut, "targets-key-out", "", "generate the repository key into this new file, encrypted (mode 0600), only when the repository is created; refused if the file exists")
	return cmd
}

// initTargets is the repository key init uses: the one given, or one
// generated and written to out, only once the repository is known to be new.
type initTargets struct {
	given   *notary.Key
	out     string
	pass    sign.Secret
	id      string // of the key used
	written bool   // out holds a key this run generated
}

// repositoryKey checks --targets-key or --targets-key-out without the
// server. out is looked at only when the repository turns out to be new: a
// re-run of an init that wrote it finds it there and the repository
// initialized, and changes nothing.
func (a *app) repositoryKey(ctx context.Context, ref, passRef, out string) (*initTargets, error) {
	switch {
	case ref != "" && out != "":
		return nil, usageErrorf("--targets-key and --targets-key-out exclude each other")
	case ref != "":
		k, err := a.oneKey(ctx, ref, passRef, "--targets-key")
		if err != nil {
			return nil, err
		}
		return &initTargets{given: k}, nil
	case out == "":
		return nil, usageErrorf("give the repository key with --targets-key, or --targets-key-out FILE to generate one")
	}
	pass, err := a.passphrase(ctx, passRef)
	if err != nil {
		return nil, err
	}
	if len(pass) == 0 {
		return nil, usageErrorf("a passphrase is needed to encrypt the generated repository key: --targets-passphrase or DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE")
	}
	return &initTargets{out: out, pass: pass}, nil
}

// key is called by Init when it will create the repository.
func (t *initTargets) key() (*notary.Key, error) {
	if t.given != nil {
		t.id = t.given.ID()
		return t.given, nil
	}
	k, pem, _, err := notary.GenerateKey("targets", t.pass)
	if err != nil {
		return nil, err
	}
	// Written before the publish: a repository whose key was lost would be
	// unmanageable, a key file for a publish that failed is not. Create
	// refuses an existing file, so nothing is published then either.
	if err := keyfile.Create(keyfile.File{Path: t.out, Body: pem, Mode: keyfile.PrivateMode}); err != nil {
		return nil, fmt.Errorf("--targets-key-out: %w", err)
	}
	t.id, t.written = k.ID(), true
	return k, nil
}

func (a *app) passphrase(ctx context.Context, ref string) (sign.Secret, error) {
	if ref == "" {
		return nil, nil
	}
	v, _, err := a.resolver().Resolve(ctx, ref, secrets.Literal)
	return v, err
}

func (a *app) signerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "signer", Short: "Add or remove signers (targets/<name> and targets/releases), as docker trust signer does"}
	var add keyFlags
	var pubRef string
	addCmd := &cobra.Command{
		Use:   "add NAME --public-key PEM REPOSITORY...",
		Short: "Add a signer's public key to repositories (needs each repository's targets key)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			if pubRef == "" {
				return usageErrorf("--public-key is required")
			}
			pub, _, err := a.resolver().ResolvePEM(ctx, flagLabel("public-key"), pubRef, secrets.PublicPEM)
			if err != nil {
				return err
			}
			trust, err := a.adminClient(ctx, add, args[1:]...)
			if err != nil {
				return err
			}
			guns, err := repoNames(args[1:])
			if err != nil {
				return err
			}
			for _, gun := range guns {
				id, err := trust.AddSigner(ctx, gun, args[0], pub)
				if err != nil {
					return fmt.Errorf("adding signer %s to %s: %w", args[0], gun, err)
				}
				fmt.Fprintf(a.stdout, "added signer %s (key %s) to %s\n", args[0], id, gun)
			}
			return nil
		},
	}
	add.add(addCmd, "repository (targets) key")
	addCmd.Flags().StringVar(&pubRef, "public-key", "", "the signer's public key or certificate (PEM, env://, file:// or path)")
	var rm keyFlags
	rmCmd := &cobra.Command{
		Use:   "remove NAME REPOSITORY...",
		Short: "Remove a signer from repositories; tags only it signed become unsigned",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			trust, err := a.adminClient(ctx, rm, args[1:]...)
			if err != nil {
				return err
			}
			guns, err := repoNames(args[1:])
			if err != nil {
				return err
			}
			for _, gun := range guns {
				if err := trust.RemoveSigner(ctx, gun, args[0]); err != nil {
					return fmt.Errorf("removing signer %s from %s: %w", args[0], gun, err)
				}
				fmt.Fprintf(a.stdout, "removed signer %s from %s\n", args[0], gun)
			}
			return nil
		},
	}
	rm.add(rmCmd, "repository (targets) key")
	cmd.AddCommand(addCmd, rmCmd)
	return cmd
}

func (a *app) adminClient(ctx context.Context, k keyFlags, repos ...string) (*notary.Client, error) {
	keys, err := a.loadKeys(ctx, k.keys, k.passphrase, "")
	if err != nil {
		return nil, err
	}
	_, trust, err := a.clients(ctx, keys, repos...)
	return trust, err
}

// repoNames checks every repository reference before anything changes.
func repoNames(refs []string) ([]string, error) {
	guns := make([]string, len(refs))
	for i, r := range refs {
		gun, err := repoName(r)
		if err != nil {
			return nil, err
		}
		guns[i] = gun
	}
	return guns, nil
}

func repoName(s string) (string, error) {
	r, err := sign.ParseRef(s)
	if err != nil {
		return "", err
	}
	if r.Tag != "" || r.Digest != "" {
		return "", usageErrorf("give a repository, not a tag: %s", s)
	}
	return r.Name(), nil
}

func (a *app) keyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Generate and rotate delegation keys"}
	var passRef, out, pubOut string
	gen := &cobra.Command{
		Use:   "generate NAME --out FILE",
		Short: "Make an ECDSA P-256 delegation key in docker's format; prints the public key",
		Long: `generate writes the private key encrypted with the passphrase, in the PEM format
docker trust key generate writes (so docker trust key load and --key accept it), and
prints the public key PEM (docker's NAME.pub) for signer add. As docker refuses an
existing NAME.pub, it refuses (exit code 2) when --out or --pub-out names anything
that exists, a symlink included, and then writes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			if out == "" {
				return usageErrorf("--out FILE is required: the private key is never printed")
			}
			paths := []string{out}
			if pubOut != "" {
				paths = append(paths, pubOut)
			}
			// As docker's "public key file already exists": refuse before generating.
			if err := keyfile.Check(paths...); err != nil {
				return err
			}
			pass, err := a.passphrase(ctx, passRef)
			if err != nil {
				return err
			}
			k, pem, pub, err := notary.GenerateKey(args[0], pass)
			if err != nil {
				return err
			}
			files := []keyfile.File{{Path: out, Body: pem, Mode: keyfile.PrivateMode}}
			if pubOut != "" {
				files = append(files, keyfile.File{Path: pubOut, Body: pub, Mode: keyfile.PublicMode})
			}
			if err := keyfile.Create(files...); err != nil {
				return err
			}
			a.log.Info("generated key", "name", args[0], "id", k.ID(), "file", out)
			_, err = a.stdout.Write(pub)
			return err
		},
	}
	gen.Flags().StringVar(&passRef, "passphrase", "", "passphrase the key is encrypted with (default $DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE)")
	gen.Flags().StringVar(&out, "out", "", "private key file to create (mode 0600); refused if it exists")
	gen.Flags().StringVar(&pubOut, "pub-out", "", "also create this public key file (mode 0644); refused if it exists")

	var rot keyFlags
	var newKeyRef, newPassRef string
	rotate := &cobra.Command{
		Use:   "rotate NAME REPOSITORY --new-key K",
		Short: "Replace a signer's key; tags stay signed throughout",
		Long: `rotate adds the new key to targets/NAME and targets/releases, re-signs both roles
with it, then removes the old keys. Needs the repository (targets) key in --key.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.withTimeout(cmd.Context())
			defer cancel()
			gun, err := repoName(args[1])
			if err != nil {
				return err
			}
			if newPassRef == "" {
				newPassRef = rot.passphrase
			}
			newKey, err := a.oneKey(ctx, newKeyRef, newPassRef, "--new-key")
			if err != nil {
				return err
			}
			keys, err := a.loadKeys(ctx, rot.keys, rot.passphrase, "")
			if err != nil {
				return err
			}
			keys.Add(newKey)
			_, trust, err := a.clients(ctx, keys, args[1])
			if err != nil {
				return err
			}
			old, err := trust.RotateSignerKey(ctx, gun, args[0], newKey)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "rotated signer %s of %s to key %s (removed %v)\n", args[0], gun, newKey.ID(), old)
			return nil
		},
	}
	rot.add(rotate, "repository (targets) key")
	rotate.Flags().StringVar(&newKeyRef, "new-key", "", "the signer's new private key")
	rotate.Flags().StringVar(&newPassRef, "new-passphrase", "", "its passphrase (default: --passphrase)")
	cmd.AddCommand(gen, rotate)
	return cmd
}
