package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/utils"
)

// expireSoon re-signs role of gun with keyFile so that it expires in d, and
// uploads it: metadata that really expires, signed by the real key, as a
// repository nobody re-signed for three years would have.
func expireSoon(t *testing.T, gun, role, keyFile string, d time.Duration) {
	t.Helper()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := utils.ParsePEMPrivateKey(pemBytes, repoPass)
	if err != nil {
		t.Fatal(err)
	}
	ks := trustmanager.NewKeyMemoryStore(func(string, string, bool, int) (string, bool, error) { return "", false, nil })
	if err := ks.AddKey(trustmanager.KeyInfo{Role: data.RoleName(role), Gun: data.GUN(gun)}, priv); err != nil {
		t.Fatal(err)
	}
	remote, err := store.NewNotaryServerStore(env.NotaryURL, data.GUN(gun), env.Transport())
	if err != nil {
		t.Fatal(err)
	}
	repo, _, err := client.LoadTUFRepo(client.TUFLoadOptions{GUN: data.GUN(gun), CryptoService: cryptoservice.NewCryptoService(ks), RemoteStore: remote})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := repo.SignTargets(data.RoleName(role), time.Now().Add(d))
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.SetMulti(map[string][]byte{role: body}); err != nil {
		t.Fatalf("uploading short-lived %s: %v", role, err)
	}
}

// TestExpiredMetadata: an expired delegation stops verify; resign with the
// delegation key renews it; an expired targets role is refused by resign
// with what to do.
func TestExpiredMetadata(t *testing.T) {
	t.Parallel()
	a := setupWithSignStep(t, "expiry")
	digest, _ := pushRandom(t, a.repo+":v1")
	signVars := with(a.vars, "SIGN_STEP_KEY", a.signerKey)
	mustRun(t, signVars, "sign", a.repo+":v1")

	expireSoon(t, a.repo, "targets/releases", a.signerKey, 2*time.Second)
	time.Sleep(3 * time.Second)
	if r := signStep(t, nil, "verify", a.repo+":v1"); r.code != 8 || !strings.Contains(r.stderr, "targets/releases expired") {
		t.Fatalf("verify with an expired targets/releases: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	r := signStep(t, signVars, "resign", a.repo)
	if r.code != 0 {
		t.Fatalf("resign of an expired delegation: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if v := mustRun(t, nil, "verify", a.repo+":v1"); !strings.Contains(v.stdout, digest) {
		t.Errorf("after resign verify says %q", v.stdout)
	}

	expireSoon(t, a.repo, "targets", a.targetsKey, 2*time.Second)
	time.Sleep(3 * time.Second)
	r = signStep(t, signVars, "resign", a.repo)
	if r.code != 6 || !strings.Contains(r.stdout, "expired targets metadata cannot be re-signed in place") {
		t.Errorf("resign of a repository whose targets expired: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
}
