package notary_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/sign-step/sign-step/internal/inspect"
	"github.com/sign-step/sign-step/internal/notary"
)

// fakeReader is a canned client.ReadOnly. GetAllTargetMetadataByName filters
// targets by name and returns ErrNoSuchTarget when none match, like notary.
type fakeReader struct {
	targets             []client.TargetSignedStruct
	roles               []client.RoleWithSignatures
	delegations         []data.Role
	targetsErr          error
	rolesErr, delegsErr error
}

func (f *fakeReader) ListTargets(...data.RoleName) ([]*client.TargetWithRole, error) {
	panic("not used by TrustInfo")
}

func (f *fakeReader) GetTargetByName(string, ...data.RoleName) (*client.TargetWithRole, error) {
	panic("not used by TrustInfo")
}

func (f *fakeReader) GetAllTargetMetadataByName(name string) ([]client.TargetSignedStruct, error) {
	if f.targetsErr != nil {
		return nil, f.targetsErr
	}
	var out []client.TargetSignedStruct
	for _, t := range f.targets {
		if name == "" || t.Target.Name == name {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, client.ErrNoSuchTarget(name)
	}
	return out, nil
}

func (f *fakeReader) ListRoles() ([]client.RoleWithSignatures, error) { return f.roles, f.rolesErr }
func (f *fakeReader) GetDelegationRoles() ([]data.Role, error)        { return f.delegations, f.delegsErr }

func target(name, content string, role data.RoleName) client.TargetSignedStruct {
	return client.TargetSignedStruct{
		Role:   data.DelegationRole{BaseRole: data.BaseRole{Name: role}},
		Target: client.Target{Name: name, Hashes: data.Hashes{"sha256": []byte(content)}},
	}
}

func role(name data.RoleName, keys ...string) data.Role {
	return data.Role{Name: name, RootRole: data.RootRole{KeyIDs: keys, Threshold: 1}}
}

// Base roles as docker's notary test fakes list them (root "rootID",
// targets "targetsID"), plus the others ListRoles returns, which docker skips.
var baseRoles = []client.RoleWithSignatures{
	{Role: role("timestamp", "tsID")},
	{Role: role(data.CanonicalRootRole, "rootID")},
	{Role: role(data.CanonicalTargetsRole, "targetsID")},
	{Role: role("snapshot", "snapID")},
	{Role: role("targets/alice", "A")},
}

// dockerLoaded mirrors docker's LoadedNotaryRepository test fake.
func dockerLoaded() *fakeReader {
	const rel = notary.ReleasesRole
	return &fakeReader{
		targets: []client.TargetSignedStruct{
			target("red", "red-digest", rel), target("red", "red-digest", "targets/alice"), target("red", "red-digest", "targets/bob"),
			target("blue", "blue-digest", rel), target("blue", "blue-digest", "targets/alice"),
			target("green", "green-digest", rel),
		},
		roles:       baseRoles,
		delegations: []data.Role{role(rel, "A", "B"), role("targets/alice", "A"), role("targets/bob", "B")},
	}
}

// dockerNoSigners mirrors docker's LoadedWithNoSignersNotaryRepository.
func dockerNoSigners() *fakeReader {
	return &fakeReader{targets: []client.TargetSignedStruct{target("green", "green-digest", data.CanonicalTargetsRole)}, roles: baseRoles}
}

var admin = []inspect.Signer{{Name: inspect.AdminRoot, Keys: []string{"rootID"}}, {Name: inspect.AdminRepository, Keys: []string{"targetsID"}}}

func digest(s string) string { return hex.EncodeToString([]byte(s)) }

func TestTrustInfo(t *testing.T) {
	t.Parallel()
	aliceBob := []inspect.Signer{{Name: "alice", Keys: []string{"A"}}, {Name: "bob", Keys: []string{"B"}}}
	cases := []struct {
		name, ref, tag string
		repo           *fakeReader
		want           inspect.Repository
		// golden names docker's expected JSON and pretty output in
		// internal/inspect/testdata, checked end to end when set.
		jsonGolden, prettyGolden string
	}{
		{
			name: "all tags, several signers", ref: "signed-repo", repo: dockerLoaded(),
			want: inspect.Repository{Name: "signed-repo", Signers: aliceBob, AdministrativeKeys: admin, SignedTags: []inspect.SignedTag{
				{Tag: "red", Digest: digest("red-digest"), Signers: []string{"alice", "bob"}},
				{Tag: "blue", Digest: digest("blue-digest"), Signers: []string{"alice"}},
				{Tag: "green", Digest: digest("green-digest")},
			}},
			jsonGolden: "json-full-repo-with-signers.golden", prettyGolden: "pretty-full-repo-with-signers.golden",
		},
		{
			name: "unsigned tag in signed repo", ref: "signed-repo:unsigned", tag: "unsigned", repo: dockerLoaded(),
			want:       inspect.Repository{Name: "signed-repo:unsigned", Signers: aliceBob, AdministrativeKeys: admin},
			jsonGolden: "json-unsigned-tag-with-signers.golden", prettyGolden: "pretty-unsigned-tag-with-signers.golden",
		},
		{
			name: "repo admin only", ref: "signed-repo", repo: dockerNoSigners(),
			want: inspect.Repository{Name: "signed-repo", AdministrativeKeys: admin,
				SignedTags: []inspect.SignedTag{{Tag: "green", Digest: digest("green-digest")}}},
			jsonGolden: "json-full-repo-no-signers.golden", prettyGolden: "pretty-full-repo-no-signers.golden",
		},
		{
			name: "one tag", ref: "signed-repo:green", tag: "green", repo: dockerNoSigners(),
			want: inspect.Repository{Name: "signed-repo:green", AdministrativeKeys: admin,
				SignedTags: []inspect.SignedTag{{Tag: "green", Digest: digest("green-digest")}}},
			jsonGolden: "json-one-tag-no-signers.golden", prettyGolden: "pretty-one-tag-no-signers.golden",
		},
		{
			name: "empty repo", ref: "reg/img:unsigned-tag", tag: "unsigned-tag", repo: &fakeReader{roles: baseRoles},
			want:       inspect.Repository{Name: "reg/img:unsigned-tag", AdministrativeKeys: admin},
			jsonGolden: "json-empty-repo.golden",
		},
		{
			// Delegation errors are not fatal for docker: no signers shown.
			name: "delegations unreadable", ref: "r", repo: &fakeReader{roles: baseRoles, delegations: []data.Role{role("targets/x", "X")}, delegsErr: errors.New("boom")},
			want: inspect.Repository{Name: "r", AdministrativeKeys: admin},
		},
		{
			name: "no such target, wrapped", ref: "r", repo: &fakeReader{roles: baseRoles, targetsErr: fmt.Errorf("walk: %w", client.ErrNoSuchTarget(""))},
			want: inspect.Repository{Name: "r", AdministrativeKeys: admin},
		},
		{
			// Only targets/releases and targets release a tag; a digest only
			// a delegate signed is not shown; one pair in both released roles
			// is one row; nested delegations keep their path; base roles and
			// releases are never signers.
			name: "release rules", ref: "r",
			repo: &fakeReader{
				targets: []client.TargetSignedStruct{
					target("v1", "one", data.CanonicalTargetsRole),
					target("v1", "one", notary.ReleasesRole),
					target("v1", "one", "targets/team/ci"),
					target("v1", "other", "targets/alice"),
					target("v2", "two", "targets/alice"),
				},
				roles: baseRoles,
				delegations: []data.Role{
					role(notary.ReleasesRole, "R"), role("targets/team", "T"), role("targets/team/ci", "C2", "C1"),
					role(data.CanonicalTargetsRole, "ignored"), role("targets/team", "T2"),
				},
			},
			want: inspect.Repository{Name: "r", AdministrativeKeys: admin,
				SignedTags: []inspect.SignedTag{{Tag: "v1", Digest: digest("one"), Signers: []string{"team/ci"}}},
				Signers:    []inspect.Signer{{Name: "team", Keys: []string{"T2"}}, {Name: "team/ci", Keys: []string{"C2", "C1"}}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := notary.TrustInfo(tc.repo, tc.ref, tc.tag)
			if err != nil {
				t.Fatalf("TrustInfo: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("TrustInfo =\n %#v\nwant\n %#v", got, tc.want)
			}
			for golden, format := range map[string]func(*bytes.Buffer, []inspect.Repository) error{
				tc.jsonGolden:   func(b *bytes.Buffer, r []inspect.Repository) error { return inspect.JSON(b, r) },
				tc.prettyGolden: func(b *bytes.Buffer, r []inspect.Repository) error { return inspect.Pretty(b, r) },
			} {
				if golden == "" {
					continue
				}
				want, err := os.ReadFile(filepath.Join("..", "inspect", "testdata", golden))
				if err != nil {
					t.Fatal(err)
				}
				var out bytes.Buffer
				if err := format(&out, []inspect.Repository{got}); err != nil {
					t.Fatal(err)
				}
				if out.String() != string(want) {
					t.Errorf("%s:\n got %q\nwant %q", golden, out.String(), want)
				}
			}
		})
	}
}

func TestTrustInfoErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		repo    *fakeReader
		wantMsg string
		// is reports whether err still exposes notary's typed cause.
		is func(error) bool
	}{
		{
			name:    "repository does not exist",
			repo:    &fakeReader{targetsErr: client.ErrRepositoryNotExist{}},
			wantMsg: "no signatures or cannot access reg/img:1",
			is:      func(err error) bool { var e client.ErrRepositoryNotExist; return errors.As(err, &e) },
		},
		{
			name:    "repository not initialized",
			repo:    &fakeReader{targetsErr: client.ErrRepoNotInitialized{}},
			wantMsg: "no signatures or cannot access reg/img:1",
			is:      func(err error) bool { var e client.ErrRepoNotInitialized; return errors.As(err, &e) },
		},
		{
			name:    "roles unreadable",
			repo:    &fakeReader{rolesErr: client.ErrRepoNotInitialized{}},
			wantMsg: "no signers for reg/img:1",
			is:      func(err error) bool { var e client.ErrRepoNotInitialized; return errors.As(err, &e) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := notary.TrustInfo(tc.repo, "reg/img:1", "1")
			if err == nil || err.Error() != tc.wantMsg {
				t.Fatalf("error = %v, want %q", err, tc.wantMsg)
			}
			if !tc.is(err) {
				t.Errorf("error %v does not wrap notary's cause", err)
			}
			if got.Name != "reg/img:1" || got.Err != err {
				t.Errorf("Repository = %+v, want Name and Err set", got)
			}
			// docker: stdout "[]\n", message on stderr.
			var out bytes.Buffer
			if jerr := inspect.JSON(&out, []inspect.Repository{got}); out.String() != "[]\n" || jerr == nil || jerr.Error() != tc.wantMsg {
				t.Errorf("JSON wrote %q, returned %v", out.String(), jerr)
			}
		})
	}
}
