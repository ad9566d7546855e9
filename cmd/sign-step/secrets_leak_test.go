package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/theupdateframework/notary/tuf/utils"
)

// trickyPass holds characters that JSON, Go quoting, slog, URL encoding and
// GitHub's command escaping all change.
const trickyPass = `p<a"s%s\w:1,`

// encryptedKey is a fresh delegation key, encrypted with pass, as PEM.
func encryptedKey(t *testing.T, pass string) string {
	t.Helper()
	k, err := utils.GenerateECDSAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := utils.ConvertPrivateKeyToPKCS8(k, "ci", "", pass)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem)
}

// leaked returns the first part of a secret found in out: the secret, or any
// 8 bytes of it (no part of a key may show). Lines the runner consumes and
// never shows (::add-mask::) are skipped.
func leaked(out string, secrets ...string) string {
	text := leakable(out)
	for _, s := range secrets {
		if strings.Contains(text, s) {
			return s
		}
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(text, s[i:i+8]) {
				return s[i : i+8]
			}
		}
	}
	return ""
}

// TestSecretInputsNeverEchoed gives secrets where sign-step used to print
// them: a base64 key where a PEM or path is expected, and a password in a
// server URL. Each run must end with one line, its exit code and no part
// of the secret, also on GitHub, where the error becomes an annotation.
func TestSecretInputsNeverEchoed(t *testing.T) {
	t.Parallel()
	const pass = "key-pass-0123456789"
	key := encryptedKey(t, pass)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	b64wrapped := b64[:76] + "\n" + b64[76:152] + "\n" + b64[152:] // base64 without -w0
	// Base64 of a whole PEM is a key shape sign-step reads (TestKeyShapesSign);
	// with its first bytes lost it is no key, and may not be echoed.
	b64, b64wrapped = b64[4:], b64wrapped[4:]
	repo := env.Repo("leak") + ":v1"
	cases := []struct {
		name    string
		vars    map[string]string
		args    []string
		secrets []string
		code    int
		msg     string
	}{
		{"base64 key in SIGN_STEP_KEY", map[string]string{"SIGN_STEP_KEY": b64, "SIGN_STEP_PASSPHRASE": pass},
			[]string{"sign", repo}, []string{b64}, 9, "--key (or SIGN_STEP_KEY): not a PEM and not a readable file"},
		{"wrapped base64 key in SIGN_STEP_KEY", map[string]string{"SIGN_STEP_KEY": b64wrapped, "SIGN_STEP_PASSPHRASE": pass},
			[]string{"sign", repo}, strings.Split(b64wrapped, "\n"), 9, "--key (or SIGN_STEP_KEY): not a PEM and not a readable file"},
		{"base64 key in --key", map[string]string{"SIGN_STEP_PASSPHRASE": pass},
			[]string{"sign", "--key", b64, repo}, []string{b64}, 9, "--key (or SIGN_STEP_KEY): not a PEM and not a readable file"},
		{"base64 root key", nil,
			[]string{"init", env.Repo("leak-init"), "--root-key", b64, "--root-passphrase", pass, "--targets-key-out", filepath.Join(t.TempDir(), "t.key")},
			[]string{b64}, 9, "--root-key (or SIGN_STEP_ROOT_KEY): not a PEM and not a readable file"},
		{"base64 Vault client key", map[string]string{"SIGN_STEP_KEY": key},
			[]string{"sign", "--passphrase", "vault://secret/ci#passphrase", "--vault-addr", "https://127.0.0.1:1", "--vault-token", "t0ken-value",
				"--vault-client-cert", env.CACertFile, "--vault-client-key", b64, repo},
			[]string{b64}, 9, "--vault-client-key (or SIGN_STEP_VAULT_CLIENT_KEY): not a PEM and not a readable file"},
		{"password in --notary-server", map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": pass},
			[]string{"sign", "--notary-server", "https://ci:S3cretPassw0rd@127.0.0.1:1", repo}, []string{"S3cretPassw0rd"}, 2,
			"--notary-server (or SIGN_STEP_NOTARY_SERVER, DOCKER_CONTENT_TRUST_SERVER): a URL with credentials (user:password@) is refused and not shown; give credentials with --notary-auth"},
		{"URL-encoded password in --notary-server", map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": pass},
			[]string{"sign", "--notary-server", "https://ci:p%40ss%3Aw0rd-secret@127.0.0.1:1", repo}, []string{"p%40ss%3Aw0rd-secret", "p@ss:w0rd-secret"}, 2,
			"a URL with credentials (user:password@) is refused"},
		{"password in DOCKER_CONTENT_TRUST_SERVER", map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": pass,
			"SIGN_STEP_NOTARY_SERVER": "", "DOCKER_CONTENT_TRUST_SERVER": "https://ci:S3cretPassw0rd@127.0.0.1:1"},
			[]string{"sign", repo}, []string{"S3cretPassw0rd"}, 2, "--notary-server (or SIGN_STEP_NOTARY_SERVER, DOCKER_CONTENT_TRUST_SERVER): a URL with credentials"},
		{"password in --vault-addr", map[string]string{"SIGN_STEP_KEY": key},
			[]string{"sign", "--passphrase", "vault://secret/ci#passphrase", "--vault-addr", "https://ci:S3cretVaultPw@127.0.0.1:1", "--vault-token", "t0ken-value", repo},
			[]string{"S3cretVaultPw"}, 2, "--vault-addr (or SIGN_STEP_VAULT_ADDR, VAULT_ADDR): a URL with credentials (user:password@) is refused and not shown; log in with --vault-method"},
		{"password in VAULT_ADDR", map[string]string{"SIGN_STEP_KEY": key, "VAULT_ADDR": "https://ci:S3cretVaultPw@127.0.0.1:1", "VAULT_TOKEN": "t0ken-value"},
			[]string{"sign", "--passphrase", "vault://secret/ci#passphrase", repo}, []string{"S3cretVaultPw"}, 2, "--vault-addr (or SIGN_STEP_VAULT_ADDR, VAULT_ADDR): a URL with credentials"},
	}
	for _, c := range cases {
		for _, gh := range []bool{false, true} {
			name := c.name
			if gh {
				name += " on GitHub"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				vars := map[string]string{"SIGN_STEP_LOG_LEVEL": "debug"}
				for k, v := range c.vars {
					vars[k] = v
				}
				if gh {
					vars["GITHUB_ACTIONS"] = "true"
					vars["GITHUB_STEP_SUMMARY"] = filepath.Join(t.TempDir(), "summary")
				}
				r := signStep(t, vars, c.args...)
				summary, _ := os.ReadFile(vars["GITHUB_STEP_SUMMARY"])
				for where, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "summary": string(summary)} {
					if s := leaked(out, c.secrets...); s != "" {
						t.Errorf("%s shows %q:\n%s", where, s, out)
					}
				}
				if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
					t.Fatalf("exit %d, want %d with %q\nstderr: %s", r.code, c.code, c.msg, r.stderr)
				}
				if lines := strings.Count(r.stderr, "\n"); lines != 1 {
					t.Errorf("stderr has %d lines, want one:\n%s", lines, r.stderr)
				}
				if gh && !strings.Contains(r.stdout, "::error title=sign-step") {
					t.Errorf("no annotation on GitHub:\n%s", r.stdout)
				}
			})
		}
	}
}

// A passphrase file ends with a newline when written by `echo pass > f` or
// Jenkins' writeFile: it signs. More trailing whitespace is named in the
// error.
func TestPassphraseFileLineEnding(t *testing.T) {
	t.Parallel()
	repo := env.Repo("passfile")
	s := dockerSigner(t, "ci", repo)
	pushRandom(t, repo+":v1")
	cases := []struct {
		name, content string
		code          int
		msg           string
	}{
		{"newline", repoPass + "\n", 0, ""},
		{"CRLF", repoPass + "\r\n", 0, ""},
		{"trailing spaces", repoPass + "  \n", 3, "wrong passphrase); note that the passphrase ends with 2 whitespace or newline characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "pass")
			if err := os.WriteFile(f, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r := signStep(t, map[string]string{"SIGN_STEP_KEY": s.keyFile, "SIGN_STEP_PASSPHRASE": "file://" + f}, "sign", repo+":v1")
			if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
				t.Fatalf("exit %d, want %d with %q\nstderr: %s", r.code, c.code, c.msg, r.stderr)
			}
			if s := leaked(r.stdout+r.stderr, repoPass); s != "" {
				t.Errorf("output shows %q", s)
			}
		})
	}
}

// echoingServer is a notary server whose token service refuses the
// credentials it was sent with an error that quotes the password,
// JSON-encoded as registries write errors: sign-step prints the service's
// message, and must not show the password in any form.
func echoingServer(t *testing.T) (serverURL, caFile string) {
	t.Helper()
	var realm string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`",service="notary"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, pass, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": "wrong password " + pass}}})
	}))
	realm = srv.URL + "/token"
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pem := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(srv.Certificate().Raw) + "\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(caFile, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.URL, caFile
}

// TestEscapedSecretNotShown sends a password with characters every
// encoder escapes to a registry whose token service echoes it in its error
// (go-containerregistry quotes such bodies in its errors; notary's token
// failures are reported without the body), and looks for it in the error
// line, the debug log, and GitHub's annotation (which escapes % as %25) and
// job summary.
func TestEscapedSecretNotShown(t *testing.T) {
	t.Parallel()
	server, caFile := echoingServer(t)
	const pass = "key-pass-0123456789"
	key := encryptedKey(t, pass)
	forms := []string{trickyPass, strings.ReplaceAll(trickyPass, "%", "%25"), strings.Trim(strconv.Quote(trickyPass), `"`), url.QueryEscape(trickyPass),
		base64.StdEncoding.EncodeToString([]byte(trickyPass)), base64.StdEncoding.EncodeToString([]byte("ci:" + trickyPass))}
	// The password comes from the flags, or from docker's config.json as
	// `docker login` writes it (registered when read).
	home := t.TempDir()
	host := strings.TrimPrefix(server, "https://")
	dockerCfg := `{"auths": {"` + host + `": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("ci:"+trickyPass)) + `"}}}`
	if err := os.MkdirAll(filepath.Join(home, ".docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(dockerCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		creds map[string]string
	}{
		{"flags", map[string]string{"SIGN_STEP_REGISTRY_USERNAME": "ci", "SIGN_STEP_REGISTRY_PASSWORD": trickyPass}},
		{"config.json", map[string]string{"HOME": home}},
	} {
		for _, gh := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s github=%v", c.name, gh), func(t *testing.T) {
				t.Parallel()
				vars := map[string]string{"SIGN_STEP_KEY": key, "SIGN_STEP_PASSPHRASE": pass, "SIGN_STEP_LOG_LEVEL": "debug",
					"SIGN_STEP_REGISTRY_CA": caFile}
				for k, v := range c.creds {
					vars[k] = v
				}
				if gh {
					vars["GITHUB_ACTIONS"] = "true"
					vars["GITHUB_STEP_SUMMARY"] = filepath.Join(t.TempDir(), "summary")
				}
				// verify --allow-unsigned-digests asks only the registry.
				r := signStep(t, vars, "verify", "--allow-unsigned-digests", host+"/echo@sha256:"+strings.Repeat("0", 64))
				summary, _ := os.ReadFile(vars["GITHUB_STEP_SUMMARY"])
				for where, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "summary": string(summary)} {
					for _, f := range forms {
						if strings.Contains(leakable(out), f) {
							t.Errorf("%s shows %q:\n%s", where, f, out)
						}
					}
				}
				if r.code != 5 || !strings.Contains(r.stderr, "wrong password ***") {
					t.Fatalf("exit %d, want 5 with the server's echo, redacted\nstderr: %s", r.code, r.stderr)
				}
				if gh && !strings.Contains(r.stdout, "::error title=sign-step verify failed::") {
					t.Errorf("no annotation:\n%s", r.stdout)
				}
			})
		}
	}
}

// leakable is out without the lines the runner consumes (::add-mask::).
func leakable(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "::add-mask::") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// A panic is a bug: one redacted line, exit code 1, no Go trace.
func TestPanicIsOneRedactedLine(t *testing.T) {
	t.Parallel()
	const secret = "pass-0123456789-secret"
	vars := map[string]string{"HOME": t.TempDir(), "PASS": secret}
	getenv := func(k string) string {
		if k == "KEY" { // read after the passphrase was resolved and masked
			panic(fmt.Sprintf("boom with %q and %s", secret, secret))
		}
		return vars[k]
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sign", "--passphrase", "env://PASS", "--key", "env://KEY", "registry.example.com/a:b"}, getenv, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	const want = `sign-step: internal error: boom with "***" and ***`
	if !strings.HasPrefix(stderr.String(), want) || !strings.HasSuffix(stderr.String(), ", please report it\n") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", stderr.String(), want)
	}
	if strings.Contains(stderr.String()+stdout.String(), "pass-0123456789") {
		t.Error("the secret is shown")
	}
}

// Only the Vault fields a run reads are masked: a registry: or username:
// field next to the key must not turn references and artifacts into ***.
func TestVaultUnusedFieldsNotMasked(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	repo := env.Repo("vault-fields")
	s := dockerSigner(t, "ci", repo)
	digest, _ := pushRandom(t, repo+":v1")
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	path := "ci/" + vaultName("fields")
	if err := v.PutKV2(path, map[string]any{"key": string(keyPEM), "passphrase": repoPass,
		"registry": env.RegistryHost, "repository": strings.TrimPrefix(repo, env.RegistryHost+"/"), "signer": "ci"}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	r := signStep(t, map[string]string{"SIGN_STEP_VAULT_ADDR": v.Addr, "SIGN_STEP_VAULT_CA": v.CACertFile, "SIGN_STEP_VAULT_TOKEN": readPolicyToken(t, v),
		"SIGN_STEP_VAULT_SECRETS": "secret/" + path + " key | KEY ; secret/" + path + " passphrase | PASSPHRASE"}, "sign", "--output-dir", out, repo+":v1")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if want := "signed " + repo + ":v1@" + digest; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	for _, f := range []string{"report.json", "trust-inspect.json"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "***") || !strings.Contains(string(b), strings.TrimPrefix(repo, env.RegistryHost+"/")) {
			t.Errorf("%s hides unused Vault fields:\n%s", f, b)
		}
	}
	if s := leaked(r.stdout+r.stderr, repoPass); s != "" {
		t.Errorf("output shows %q", s)
	}
}

// A URL in an error keeps its query values hidden, as in the debug trace:
// here a notary server sends clients to a token service whose URL carries
// a signature, and that service is down.
func TestErrorURLQueryHidden(t *testing.T) {
	t.Parallel()
	down := httptest.NewTLSServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+downURL+`/token?sig=presigned-secret-123",service="notary"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pem := "-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(srv.Certificate().Raw) + "\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(caFile, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	const pass = "key-pass-0123456789"
	// Every command that reports per repository (stdout and report.json,
	// not only the final error line), in and out of GitHub action mode.
	for _, args := range [][]string{{"sign"}, {"resign"}, {"migrate", "--to", "cosign"}} {
		for _, gh := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s github=%v", args[0], gh), func(t *testing.T) {
				t.Parallel()
				out := filepath.Join(t.TempDir(), "out")
				vars := map[string]string{"SIGN_STEP_KEY": encryptedKey(t, pass), "SIGN_STEP_PASSPHRASE": pass, "SIGN_STEP_RETRIES": "0",
					"SIGN_STEP_NOTARY_SERVER": srv.URL, "SIGN_STEP_NOTARY_CA": caFile, "SIGN_STEP_OUTPUT_DIR": out}
				if gh {
					vars["GITHUB_ACTIONS"] = "true"
					vars["GITHUB_STEP_SUMMARY"] = filepath.Join(t.TempDir(), "summary")
				}
				ref := env.Repo("query")
				if args[0] == "sign" {
					ref += ":v1"
				}
				r := signStep(t, vars, append(args, ref)...)
				summary, err := os.ReadFile(vars["GITHUB_STEP_SUMMARY"])
				if gh && err != nil {
					t.Fatalf("no job summary to check: %v", err) // an absent file would pass the leak check
				}
				report, err := os.ReadFile(filepath.Join(out, "report.json"))
				if args[0] != "sign" && err != nil { // sign fails before it has a report
					t.Fatalf("no report.json to check: %v", err)
				}
				if s := leaked(r.stdout+r.stderr+string(summary)+string(report), "presigned-secret-123"); s != "" {
					t.Errorf("output shows %q:\nstdout: %s\nstderr: %s\nsummary: %s\nreport.json: %s", s, r.stdout, r.stderr, summary, report)
				}
				if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "/token?") {
					t.Errorf("exit %d, want a failure naming the token URL:\n%s\n%s", r.code, r.stdout, r.stderr)
				}
			})
		}
	}
}
