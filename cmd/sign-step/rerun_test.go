package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// signDoc is sign's --output json document (report.json) as a consumer reads it.
type signDoc struct {
	Command string
	Changed bool
	Refs    []struct {
		Ref    string
		Result string
		Target struct{ Digest string }
		KeyIDs []string
	}
	Repositories []struct {
		GUN       string
		Published bool
	}
}

// decodeOne parses stdout as exactly one JSON document.
func decodeOne(t *testing.T, stdout string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, stdout)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than one JSON document:\n%s", stdout)
	}
}

// TestRerunPublishesNothing: a re-run whose tags are all signed at their
// digests, in every role it would write, by its key, publishes nothing (the
// notary server's timestamp version stays), reports unchanged and
// changed=false; --force, a moved tag, or a role another signer signed last
// publish again. The steps run in order on one repository with two signers.
func TestRerunPublishesNothing(t *testing.T) {
	t.Parallel()
	repo := env.Repo("rerun")
	ci := dockerSigner(t, "ci", repo)
	bob := addDockerSigner(t, ci.docker, "bob", repo)
	d1, _ := pushRandom(t, repo+":v1")
	d2, _ := pushRandom(t, repo+":v2")
	var moved string
	steps := []struct {
		name        string
		key         string
		args        []string
		before      func()
		wantResults []string // per ref
		wantChanged bool
	}{
		{name: "first sign", key: ci.keyFile, wantResults: []string{"signed", "signed"}, wantChanged: true},
		{name: "re-run", key: ci.keyFile, wantResults: []string{"unchanged", "unchanged"}},
		{name: "re-run again", key: ci.keyFile, wantResults: []string{"unchanged", "unchanged"}},
		{name: "force", key: ci.keyFile, args: []string{"--force"}, wantResults: []string{"signed", "signed"}, wantChanged: true},
		{name: "dry run of a re-run", key: ci.keyFile, args: []string{"--dry-run"}, wantResults: []string{"unchanged", "unchanged"}},
		// bob's own role lacks the tags; releases holds them, by ci's key.
		{name: "another signer", key: bob.keyFile, wantResults: []string{"signed", "signed"}, wantChanged: true},
		{name: "another signer re-runs", key: bob.keyFile, wantResults: []string{"unchanged", "unchanged"}},
		// bob's publish re-signed targets/releases (it held the tags
		// already): ci's own targets/ci still vouches for them.
		{name: "first signer re-runs after another signed releases", key: ci.keyFile, wantResults: []string{"unchanged", "unchanged"}},
		{name: "one tag moved", key: ci.keyFile, before: func() { moved, _ = pushRandom(t, repo+":v2") }, wantResults: []string{"unchanged", "signed"}, wantChanged: true},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		version := timestampVersion(t, repo)
		out := t.TempDir()
		args := append(append([]string{"sign", "--output", "json", "--output-dir", out}, st.args...), repo+":v1", repo+":v2")
		r := signStep(t, map[string]string{"SIGN_STEP_KEY": st.key, "SIGN_STEP_PASSPHRASE": repoPass}, args...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", st.name, r.code, r.stderr)
		}
		var doc signDoc
		decodeOne(t, r.stdout, &doc)
		for i, ref := range doc.Refs {
			if ref.Result != st.wantResults[i] {
				t.Errorf("%s: %s result %q, want %q", st.name, ref.Ref, ref.Result, st.wantResults[i])
			}
		}
		if doc.Changed != st.wantChanged || len(doc.Repositories) != 1 || doc.Repositories[0].Published != st.wantChanged {
			t.Errorf("%s: changed %v, repositories %+v; want changed and published %v", st.name, doc.Changed, doc.Repositories, st.wantChanged)
		}
		// A publish signs every role it writes with the run's key, also
		// targets/releases when it held the tags already.
		if by := roleSigners(t, repo, "targets/releases"); st.wantChanged && (len(doc.Refs[0].KeyIDs) != 1 || !strings.Contains(by, doc.Refs[0].KeyIDs[0])) {
			t.Errorf("%s: targets/releases is signed by %s, not by the run's key %v", st.name, by, doc.Refs[0].KeyIDs)
		}
		after := timestampVersion(t, repo)
		if moved := after != version; moved != st.wantChanged {
			t.Errorf("%s: timestamp version %d -> %d, want a publish: %v", st.name, version, after, st.wantChanged)
		}
		// report.json and sign.env say the same.
		b, err := os.ReadFile(filepath.Join(out, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep signDoc
		if err := json.Unmarshal(b, &rep); err != nil || rep.Changed != doc.Changed || len(rep.Refs) != 2 || rep.Refs[0].Result != doc.Refs[0].Result {
			t.Errorf("%s: report.json differs from stdout: %v\n%s", st.name, err, b)
		}
		env, _ := os.ReadFile(filepath.Join(out, "sign.env"))
		wantEnv := "SIGN_STEP_OUT_CHANGED=false\n"
		if st.wantChanged {
			wantEnv = "SIGN_STEP_OUT_CHANGED=true\n"
		}
		if !strings.Contains(string(env), wantEnv) {
			t.Errorf("%s: sign.env lacks %q:\n%s", st.name, wantEnv, env)
		}
		// An unchanged tag is still signed at its digest: signed-refs lists it.
		if !strings.Contains(string(env), "SIGN_STEP_OUT_SIGNED_REFS="+repo+":v1@"+d1) && !strings.Contains(strings.Join(st.args, " "), "--dry-run") {
			t.Errorf("%s: sign.env signed refs lack %s:v1:\n%s", st.name, repo, env)
		}
	}
	// docker agrees with the last state: v1 unmoved, v2 at the new image.
	stdout, _, err := ci.inspect(t, repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{d1, moved} {
		if !strings.Contains(stdout, strings.TrimPrefix(d, "sha256:")) {
			t.Errorf("docker trust inspect lacks %s:\n%s", d, stdout)
		}
	}
	if strings.Contains(stdout, strings.TrimPrefix(d2, "sha256:")) {
		t.Errorf("docker trust inspect still shows v2's old digest:\n%s", stdout)
	}
}

// roleSigners are the key IDs of the signatures on role's metadata on the
// notary server, comma separated.
func roleSigners(t *testing.T, gun, role string) string {
	t.Helper()
	resp, err := env.HTTPClient().Get(env.NotaryURL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta struct {
		Signatures []struct{ KeyID string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatalf("%s of %s: %v (status %d)", role, gun, err, resp.StatusCode)
	}
	var ids []string
	for _, s := range meta.Signatures {
		ids = append(ids, s.KeyID)
	}
	return strings.Join(ids, ",")
}
