package sign

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sign-step/sign-step/internal/core"
)

type fakeKey string

func (k fakeKey) ID() string { return string(k) }

// fakeAdmin is a notary server with one repository state per GUN: exists
// (with root key root), and the errors a call fails with.
type fakeAdmin struct {
	exists   map[string]string // GUN → root key ID
	signers  map[string]bool   // "GUN/name"
	failGUN  string            // AddSigner/RemoveSigner fail here
	rotate   error             // RotateSignerKey's error
	renewErr error
	// recorded
	initTargets []string // IDs Init created repositories with
	renewed     []string // new root IDs RenewRoot was asked for
	published   int      // RenewRoot publishes (after beforePublish)
}

func (f *fakeAdmin) Init(_ context.Context, gun string, root Key, targets func() (Key, error)) (bool, error) {
	if id, ok := f.exists[gun]; ok {
		if id == root.ID() {
			return false, nil
		}
		return false, core.Classedf(core.ClassNotary, "%s is already initialized with another root key", gun)
	}
	k, err := targets()
	if err != nil {
		return false, err
	}
	f.initTargets = append(f.initTargets, k.ID())
	if f.renewErr != nil { // the publish fails
		return false, f.renewErr
	}
	return true, nil
}

func (f *fakeAdmin) AddSigner(_ context.Context, gun, name string, _ []byte) (string, error) {
	if gun == f.failGUN {
		return "", core.Classedf(core.ClassKey, "needs its repository (targets) key")
	}
	f.signers[gun+"/"+name] = true
	return "id-" + name, nil
}

func (f *fakeAdmin) RemoveSigner(_ context.Context, gun, name string) error {
	if gun == f.failGUN || !f.signers[gun+"/"+name] {
		return core.Classedf(core.ClassUsage, "no signer %s in %s", name, gun)
	}
	delete(f.signers, gun+"/"+name)
	return nil
}

func (f *fakeAdmin) RotateSignerKey(_ context.Context, _, _ string, _ Key) ([]string, error) {
	if f.rotate != nil {
		return nil, f.rotate
	}
	return []string{"old"}, nil
}

func (f *fakeAdmin) RenewRoot(_ context.Context, gun string, oldRoot, newRoot Key, before func() error) (*RootRenewal, error) {
	if f.exists[gun] != oldRoot.ID() {
		return nil, core.Classedf(core.ClassKey, "--root-key %s is not the root key of %s", oldRoot.ID(), gun)
	}
	target := oldRoot
	if newRoot != nil {
		target = newRoot
	}
	f.renewed = append(f.renewed, target.ID())
	if before != nil {
		if err := before(); err != nil {
			return nil, err
		}
	}
	if f.renewErr != nil {
		return nil, f.renewErr
	}
	f.published++
	return &RootRenewal{GUN: gun, OldKey: oldRoot.ID(), NewKey: target.ID()}, nil
}

// fakeKeys generates keys named gen-<name>, counting them.
type fakeKeys struct{ made int }

func (k *fakeKeys) Delegation(name string, pass core.Secret) (Key, core.Secret, []byte, error) {
	if err := ValidSignerName(name); err != nil && name != "targets" {
		return nil, nil, nil, err
	}
	if len(pass) == 0 {
		return nil, nil, nil, core.Classedf(core.ClassUsage, "a passphrase is needed")
	}
	k.made++
	return fakeKey("gen-" + name), core.Secret("PRIVATE " + name), []byte("PUBLIC " + name), nil
}

func (k *fakeKeys) Root(pass core.Secret) (Key, core.Secret, error) {
	if len(pass) == 0 {
		return nil, nil, core.Classedf(core.ClassUsage, "a passphrase is needed")
	}
	k.made++
	return fakeKey("gen-root"), core.Secret("PRIVATE root"), nil
}

// fakeFiles is a file system of existing paths; Create refuses them as
// keyfile does, all or nothing.
type fakeFiles struct {
	existing map[string]bool
	written  map[string]KeyFile
}

func (f *fakeFiles) Check(paths ...string) error {
	for _, p := range paths {
		if f.existing[p] {
			return core.Classedf(core.ClassUsage, "%s already exists: not overwriting it", p)
		}
	}
	return nil
}

func (f *fakeFiles) Create(files ...KeyFile) error {
	for _, kf := range files {
		if err := f.Check(kf.Path); err != nil {
			return err
		}
	}
	for _, kf := range files {
		f.written[kf.Path] = kf
	}
	return nil
}

type adminFakes struct {
	trust *fakeAdmin
	keys  *fakeKeys
	files *fakeFiles
}

func newAdmin(exists map[string]string, existing ...string) (*Admin, adminFakes) {
	fk := adminFakes{
		trust: &fakeAdmin{exists: exists, signers: map[string]bool{}},
		keys:  &fakeKeys{},
		files: &fakeFiles{existing: map[string]bool{}, written: map[string]KeyFile{}},
	}
	for _, p := range existing {
		fk.files.existing[p] = true
	}
	return &Admin{Trust: fk.trust, Keys: fk.keys, Files: fk.files}, fk
}

func TestInit(t *testing.T) {
	t.Parallel()
	const gun = "r.example/app"
	cases := []struct {
		name        string
		exists      map[string]string
		existing    []string
		req         InitRequest
		wantErr     string
		wantClass   core.Class
		wantCreated bool
		wantMade    int
		wantWritten string
	}{
		{name: "new repository, generated key written", exists: map[string]string{},
			req:         InitRequest{Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")},
			wantCreated: true, wantMade: 1, wantWritten: "t.key"},
		{name: "new repository, given key", exists: map[string]string{},
			req:         InitRequest{Root: fakeKey("root"), Targets: fakeKey("given")},
			wantCreated: true},
		{name: "exists with this root: no key generated, no file written", exists: map[string]string{gun: "root"},
			req: InitRequest{Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")}},
		{name: "exists with this root and the out file too: still nothing", exists: map[string]string{gun: "root"}, existing: []string{"t.key"},
			req: InitRequest{Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")}},
		{name: "exists with another root", exists: map[string]string{gun: "other"},
			req:     InitRequest{Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")},
			wantErr: "another root key", wantClass: core.ClassNotary},
		{name: "out file exists: refused, nothing created", exists: map[string]string{}, existing: []string{"t.key"},
			req:     InitRequest{Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")},
			wantErr: "--targets-key-out: t.key already exists", wantClass: core.ClassUsage, wantMade: 1},
		{name: "both key and out", exists: map[string]string{},
			req:     InitRequest{Root: fakeKey("root"), Targets: fakeKey("given"), TargetsOut: "t.key"},
			wantErr: "exclude each other", wantClass: core.ClassUsage},
		{name: "neither key nor out", exists: map[string]string{},
			req:     InitRequest{Root: fakeKey("root")},
			wantErr: "--targets-key-out FILE to generate one", wantClass: core.ClassUsage},
		{name: "out without passphrase", exists: map[string]string{},
			req:     InitRequest{Root: fakeKey("root"), TargetsOut: "t.key"},
			wantErr: "a passphrase is needed", wantClass: core.ClassUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, fk := newAdmin(tc.exists, tc.existing...)
			tc.req.GUN = gun
			res, err := a.Init(context.Background(), tc.req)
			checkErr(t, err, tc.wantErr, tc.wantClass)
			if res.Created != tc.wantCreated || fk.keys.made != tc.wantMade || res.Written != tc.wantWritten {
				t.Errorf("created %v, keys made %d, written %q; want %v, %d, %q", res.Created, fk.keys.made, res.Written, tc.wantCreated, tc.wantMade, tc.wantWritten)
			}
			if _, ok := fk.files.written["t.key"]; ok != (tc.wantWritten != "") {
				t.Errorf("files written: %v", fk.files.written)
			}
			if tc.wantCreated && len(fk.trust.initTargets) != 1 {
				t.Errorf("repository created with %v", fk.trust.initTargets)
			}
		})
	}
}

// A publish that fails after the key file was written says where the key is.
func TestInitPublishFailureKeepsKey(t *testing.T) {
	t.Parallel()
	a, fk := newAdmin(map[string]string{})
	fk.trust.renewErr = core.Classedf(core.ClassNotary, "notary server unavailable")
	_, err := a.Init(context.Background(), InitRequest{GUN: "r.example/app", Root: fakeKey("root"), TargetsOut: "t.key", TargetsPass: core.Secret("pw")})
	checkErr(t, err, "the generated repository key is kept in t.key: re-run with --targets-key t.key", core.ClassNotary)
	if _, ok := fk.files.written["t.key"]; !ok {
		t.Errorf("key not written")
	}
}

func TestSignerAddRemove(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		remove    bool
		signer    string
		pub       []byte
		guns      []string
		failGUN   string
		wantDone  int
		wantErr   string
		wantClass core.Class
	}{
		{name: "add to two", signer: "ci", pub: []byte("PUB"), guns: []string{"a", "b"}, wantDone: 2},
		{name: "add stops at the failing repository, keeps what was done", signer: "ci", pub: []byte("PUB"), guns: []string{"a", "b", "c"}, failGUN: "b",
			wantDone: 1, wantErr: "adding signer ci to b: needs its repository (targets) key", wantClass: core.ClassKey},
		{name: "add releases refused", signer: "releases", pub: []byte("PUB"), guns: []string{"a"}, wantErr: "releases is a reserved keyword", wantClass: core.ClassUsage},
		{name: "add bad name refused", signer: "CI!", pub: []byte("PUB"), guns: []string{"a"}, wantErr: "must match", wantClass: core.ClassUsage},
		{name: "add without key", signer: "ci", guns: []string{"a"}, wantErr: "--public-key is required", wantClass: core.ClassUsage},
		{name: "remove releases refused: it would unsign every tag", remove: true, signer: "releases", guns: []string{"a"}, wantErr: "reserved", wantClass: core.ClassUsage},
		{name: "remove unknown signer", remove: true, signer: "nobody", guns: []string{"a"}, wantErr: "removing signer nobody from a: no signer nobody in a", wantClass: core.ClassUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, fk := newAdmin(nil)
			fk.trust.failGUN = tc.failGUN
			var done []SignerChange
			var err error
			if tc.remove {
				done, err = a.RemoveSigner(context.Background(), tc.signer, tc.guns)
			} else {
				done, err = a.AddSigner(context.Background(), tc.signer, tc.pub, tc.guns)
			}
			checkErr(t, err, tc.wantErr, tc.wantClass)
			if len(done) != tc.wantDone {
				t.Errorf("done %v, want %d", done, tc.wantDone)
			}
			if !tc.remove && len(fk.trust.signers) != tc.wantDone {
				t.Errorf("server signers %v", fk.trust.signers)
			}
		})
	}
}

// A signer added then removed is gone.
func TestSignerAddThenRemove(t *testing.T) {
	t.Parallel()
	a, fk := newAdmin(nil)
	ctx := context.Background()
	if _, err := a.AddSigner(ctx, "ci", []byte("PUB"), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveSigner(ctx, "ci", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if len(fk.trust.signers) != 0 {
		t.Errorf("left %v", fk.trust.signers)
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		req       GenerateKeyRequest
		existing  []string
		wantFiles []string
		wantErr   string
		wantClass core.Class
	}{
		{name: "private and public", req: GenerateKeyRequest{Name: "ci", Pass: core.Secret("pw"), Out: "ci.key", PubOut: "ci.pub"}, wantFiles: []string{"ci.key", "ci.pub"}},
		{name: "private only", req: GenerateKeyRequest{Name: "ci", Pass: core.Secret("pw"), Out: "ci.key"}, wantFiles: []string{"ci.key"}},
		{name: "existing private file refused", req: GenerateKeyRequest{Name: "ci", Pass: core.Secret("pw"), Out: "ci.key", PubOut: "ci.pub"}, existing: []string{"ci.key"},
			wantErr: "ci.key already exists", wantClass: core.ClassUsage},
		{name: "existing public file refused, private not written", req: GenerateKeyRequest{Name: "ci", Pass: core.Secret("pw"), Out: "ci.key", PubOut: "ci.pub"}, existing: []string{"ci.pub"},
			wantErr: "ci.pub already exists", wantClass: core.ClassUsage},
		{name: "no --out", req: GenerateKeyRequest{Name: "ci", Pass: core.Secret("pw")}, wantErr: "--out FILE is required", wantClass: core.ClassUsage},
		{name: "no passphrase", req: GenerateKeyRequest{Name: "ci", Out: "ci.key"}, wantErr: "a passphrase is needed", wantClass: core.ClassUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, fk := newAdmin(nil, tc.existing...)
			got, err := a.GenerateKey(context.Background(), tc.req)
			checkErr(t, err, tc.wantErr, tc.wantClass)
			if len(fk.files.written) != len(tc.wantFiles) {
				t.Errorf("written %v, want %v", fk.files.written, tc.wantFiles)
			}
			if tc.wantErr != "" {
				if fk.keys.made != 0 && len(tc.existing) > 0 {
					t.Errorf("generated a key although a file exists")
				}
				return
			}
			if fk.files.written[tc.req.Out].Public || (tc.req.PubOut != "" && !fk.files.written[tc.req.PubOut].Public) {
				t.Errorf("modes: %+v", fk.files.written)
			}
			if got.ID != "gen-ci" || string(got.PublicPEM) != "PUBLIC ci" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		signer    string
		newKey    Key
		rotate    error
		wantErr   string
		wantClass core.Class
		wantOld   int
	}{
		{name: "rotated", signer: "ci", newKey: fakeKey("new"), wantOld: 1},
		{name: "fails before any publish: plain error", signer: "ci", newKey: fakeKey("new"), rotate: core.Classedf(core.ClassUsage, "no signer ci in a"),
			wantErr: "no signer ci in a", wantClass: core.ClassUsage},
		{name: "half-way: says what stands and how to finish, class kept", signer: "ci", newKey: fakeKey("new"),
			rotate:  &HalfwayError{Done: "added key new to targets/ci and targets/releases (the old keys are still valid)", Err: core.Classedf(core.ClassNotary, "publishing: 503")},
			wantErr: "rotating signer ci of a: added key new to targets/ci and targets/releases (the old keys are still valid); then publishing: 503; re-run the same rotate to finish", wantClass: core.ClassNotary},
		{name: "releases refused", signer: "releases", newKey: fakeKey("new"), wantErr: "reserved", wantClass: core.ClassUsage},
		{name: "no new key", signer: "ci", wantErr: "--new-key is required", wantClass: core.ClassUsage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, fk := newAdmin(nil)
			fk.trust.rotate = tc.rotate
			old, err := a.RotateKey(context.Background(), "a", tc.signer, tc.newKey)
			checkErr(t, err, tc.wantErr, tc.wantClass)
			if len(old) != tc.wantOld {
				t.Errorf("removed %v", old)
			}
			var half *HalfwayError
			if tc.rotate != nil && errors.As(tc.rotate, &half) && !errors.As(err, &half) {
				t.Errorf("half-way error lost: %v", err)
			}
		})
	}
}

func TestRenewRoot(t *testing.T) {
	t.Parallel()
	const gun = "r.example/app"
	cases := []struct {
		name          string
		req           RenewRootRequest
		existing      []string
		renewErr      error
		wantErr       string
		wantClass     core.Class
		wantNewKey    string
		wantPublished int
		wantWritten   bool
	}{
		{name: "renew the certificate", req: RenewRootRequest{OldRoot: fakeKey("root")}, wantNewKey: "root", wantPublished: 1},
		{name: "rotate to a given key", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRoot: fakeKey("next")}, wantNewKey: "next", wantPublished: 1},
		{name: "rotate to a generated key, written before the publish", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRootOut: "root.key", NewRootPass: core.Secret("pw")},
			wantNewKey: "gen-root", wantPublished: 1, wantWritten: true},
		{name: "new key is the current one", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRoot: fakeKey("root")},
			wantErr: "--new-root-key is the current root key", wantClass: core.ClassUsage},
		{name: "both new key and out", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRoot: fakeKey("next"), NewRootOut: "root.key"},
			wantErr: "exclude each other", wantClass: core.ClassUsage},
		{name: "out exists: refused before generating or publishing", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRootOut: "root.key", NewRootPass: core.Secret("pw")}, existing: []string{"root.key"},
			wantErr: "--new-root-key-out: root.key already exists", wantClass: core.ClassUsage},
		{name: "wrong root key", req: RenewRootRequest{OldRoot: fakeKey("stranger")}, wantErr: "is not the root key", wantClass: core.ClassKey},
		{name: "no root key", req: RenewRootRequest{}, wantErr: "--root-key is required", wantClass: core.ClassUsage},
		{name: "publish fails after the key was written: says where it is", req: RenewRootRequest{OldRoot: fakeKey("root"), NewRootOut: "root.key", NewRootPass: core.Secret("pw")},
			renewErr: core.Classedf(core.ClassNotary, "503"), wantErr: "the generated root key is kept in root.key", wantClass: core.ClassNotary, wantWritten: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, fk := newAdmin(map[string]string{gun: "root"}, tc.existing...)
			fk.trust.renewErr = tc.renewErr
			tc.req.GUN = gun
			r, err := a.RenewRoot(context.Background(), tc.req)
			checkErr(t, err, tc.wantErr, tc.wantClass)
			if fk.trust.published != tc.wantPublished {
				t.Errorf("published %d, want %d", fk.trust.published, tc.wantPublished)
			}
			if _, ok := fk.files.written["root.key"]; ok != tc.wantWritten {
				t.Errorf("written %v, want %v", fk.files.written, tc.wantWritten)
			}
			if tc.wantErr == "" && r.NewKey != tc.wantNewKey {
				t.Errorf("new key %s, want %s", r.NewKey, tc.wantNewKey)
			}
			if tc.wantErr != "" && len(tc.existing) > 0 && fk.keys.made != 0 {
				t.Errorf("generated a key although the file exists")
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string, class core.Class) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if got := core.ClassOf(err); got != class {
		t.Errorf("class %v, want %v (%v)", got, class, err)
	}
}
