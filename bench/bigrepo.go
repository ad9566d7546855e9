package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/notary/client"
	"github.com/theupdateframework/notary/client/changelist"
	"github.com/theupdateframework/notary/cryptoservice"
	store "github.com/theupdateframework/notary/storage"
	"github.com/theupdateframework/notary/trustmanager"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
)

// bigTag is the name of the i-th staged tag: release-style names with a
// build number and a commit, about as long as real ones.
func bigTag(i int) string {
	return fmt.Sprintf("release-2026.%05d-build.%010d-commit.%x", i, 7000000+i, sha256.Sum256([]byte(fmt.Sprint("commit", i))))[:80]
}

// stageBig signs n targets (distinct digests) into targets/releases and
// targets/ci of gun in one publish, in this process, with notary's own
// client library and the ci key of the notary CLI's trust dir: the same
// code `notary addhash` + `notary publish` runs, without 2n processes.
func (w *world) stageBig(gun string, n int) error {
	keys, err := trustmanager.NewKeyFileStore(w.notaryTrustDir(), func(string, string, bool, int) (string, bool, error) { return repoPass, false, nil })
	if err != nil {
		return err
	}
	remote, err := store.NewNotaryServerStore(w.env.NotaryURL, data.GUN(gun), w.env.Transport())
	if err != nil {
		return err
	}
	repo, err := client.NewRepository(data.GUN(gun), w.env.NotaryURL, remote, store.NewMemoryStore(nil),
		trustpinning.TrustPinConfig{}, cryptoservice.NewCryptoService(keys), changelist.NewMemChangelist())
	if err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		sum := sha256.Sum256([]byte(fmt.Sprint("manifest", gun, i)))
		t := &client.Target{Name: bigTag(i), Hashes: data.Hashes{"sha256": sum[:]}, Length: int64(1000 + i%4000)}
		if err := repo.AddTarget(t, "targets/releases", "targets/"+signer); err != nil {
			return err
		}
	}
	return repo.Publish()
}

func (w *world) notaryTrustDir() string { return filepath.Join(w.dir, "notary-home", "trust") }

// roleBytes downloads a role of gun as any client would (for sizes and the
// curl baseline's upload body).
func (w *world) roleBytes(gun, role string) ([]byte, error) {
	resp, err := w.env.HTTPClient().Get(w.env.NotaryURL + "/v2/" + gun + "/_trust/tuf/" + role + ".json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", role, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// curlChanged is the byte-moving floor of a 1-tag sign: curl downloads the
// two changed roles and uploads them (one multipart POST, as a publish).
// The server refuses the upload (same versions), after reading it whole.
func (w *world) curlChanged(ctx context.Context, gun, body string) (sample, error) {
	base := w.env.NotaryURL + "/v2/" + gun + "/_trust/tuf/"
	s1, err := proc(ctx, nil, "curl", "-sS", "--fail", "--cacert", w.env.CACertFile,
		"-o", "/dev/null", base+"targets/releases.json", "-o", "/dev/null", base+"targets/"+signer+".json")
	if err != nil {
		return s1, err
	}
	if w.curlDown == nil {
		w.curlDown = map[string][]sample{}
	}
	w.curlDown[gun] = append(w.curlDown[gun], s1)
	s2, err := proc(ctx, nil, "curl", "-sS", "--cacert", w.env.CACertFile, "-o", "/dev/null",
		"-H", "Content-Type: "+strings.SplitN(body, "\n", 2)[0], "--data-binary", "@"+strings.SplitN(body, "\n", 2)[1], base)
	s1.wall += s2.wall
	return s1, err
}

// uploadBody writes the multipart body of a publish of the two roles
// and returns "CONTENT-TYPE\nPATH".
func (w *world) uploadBody(gun string) (string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, role := range []string{"targets/releases", "targets/" + signer} {
		b, err := w.roleBytes(gun, role)
		if err != nil {
			return "", err
		}
		part, err := mw.CreateFormFile("files", role)
		if err != nil {
			return "", err
		}
		part.Write(b)
	}
	mw.Close()
	f := filepath.Join(w.dir, "upload-"+strings.ReplaceAll(gun, "/", "_"))
	return mw.FormDataContentType() + "\n" + f, os.WriteFile(f, buf.Bytes(), 0o600)
}

// traceRequests runs sign-step once with --log-level debug and counts its
// HTTP requests by server (the debug trace logs one line per request).
func (w *world) traceRequests(ctx context.Context, args ...string) (total int, by map[string]int, lines []string, postMS float64, err error) {
	out, err := os.MkdirTemp(w.dir, "out-")
	if err != nil {
		return 0, nil, nil, 0, err
	}
	defer os.RemoveAll(out)
	env := w.signStepEnv(out)
	for i, e := range env {
		if strings.HasPrefix(e, "SIGN_STEP_LOG_LEVEL=") {
			env[i] = "SIGN_STEP_LOG_LEVEL=debug"
		}
	}
	cmd := exec.CommandContext(ctx, w.signStep, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, io.Discard
	if err := cmd.Run(); err != nil {
		return 0, nil, nil, 0, fmt.Errorf("%w: %s", err, tail(stderr.String()))
	}
	by = map[string]int{}
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, "msg=http ") {
			continue
		}
		method, raw := field(l, "method="), field(l, "url=")
		u, perr := url.Parse(raw)
		if perr != nil {
			continue
		}
		server := "registry"
		if "https://"+u.Host == w.env.NotaryURL {
			server = "notary"
		}
		by[server]++
		total++
		p := u.Path
		if i := strings.Index(p, "/_trust/tuf/"); i >= 0 {
			p = "…/_trust/tuf/" + p[i+len("/_trust/tuf/"):]
		} else if i := strings.Index(p, "/manifests/"); i >= 0 {
			p = "…" + p[i:]
		}
		lines = append(lines, server+" "+method+" "+p+" ("+field(l, "ms=")+" ms)")
		if method == "POST" && server == "notary" {
			postMS, _ = strconv.ParseFloat(field(l, "ms="), 64)
		}
	}
	return total, by, lines, postMS, nil
}

func field(line, key string) string {
	i := strings.Index(line, key)
	if i < 0 {
		return ""
	}
	v := line[i+len(key):]
	if strings.HasPrefix(v, `"`) {
		if j := strings.Index(v[1:], `"`); j >= 0 {
			return v[1 : j+1]
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		return v[:j]
	}
	return v
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// profile runs the pprof build of sign-step once and returns where its CPU
// time went, by the buckets the issue names, as cumulative shares.
func (w *world) profile(ctx context.Context, label string, args ...string) (string, error) {
	if w.pprofBin == "" {
		w.pprofBin = filepath.Join(w.dir, "sign-step-pprof")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "pprof", "-o", w.pprofBin, "./cmd/sign-step")
		if out, err := build.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building the pprof build: %w: %s", err, out)
		}
	}
	dir := filepath.Join("bench", "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cpu, mem := filepath.Join(dir, label+".cpu.pprof"), filepath.Join(dir, label+".mem.pprof")
	out, err := os.MkdirTemp(w.dir, "out-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(out)
	env := append(w.signStepEnv(out), "SIGN_STEP_CPUPROFILE="+cpu, "SIGN_STEP_MEMPROFILE="+mem)
	s, err := proc(ctx, env, w.pprofBin, args...)
	if err != nil {
		return "", err
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=400", w.pprofBin, cpu).Output()
	if err != nil {
		return "", fmt.Errorf("pprof -top: %w", err)
	}
	_ = os.WriteFile(filepath.Join(dir, label+".cpu.txt"), top, 0o644)
	alloc, _ := exec.CommandContext(ctx, "go", "tool", "pprof", "-sample_index=alloc_space", "-top", "-cum", "-nodecount=60", w.pprofBin, mem).Output()
	_ = os.WriteFile(filepath.Join(dir, label+".alloc.txt"), alloc, 0o644)
	return fmt.Sprintf("wall %s; %s; allocated %s", ms(s.wall), buckets(string(top)), allocTotal(string(alloc))), nil
}

// buckets reads `pprof -top -cum` and reports the cumulative CPU of the
// functions that stand for each kind of work, summed over the entry points
// listed (a function counted in two buckets, e.g. the canonical encode
// inside signature verification, shows in both).
func buckets(top string) string {
	kinds := []struct {
		name string
		fns  []string
	}{
		{"JSON decode", []string{"github.com/docker/go/canonical/json.Unmarshal", "encoding/json.Unmarshal"}},
		{"canonical encode", []string{"github.com/docker/go/canonical/json.marshal"}},
		{"signature verification (incl. its canonical encode)", []string{"github.com/theupdateframework/notary/tuf/signed.VerifySignatures"}},
		{"signing", []string{"github.com/theupdateframework/notary/tuf/signed.Sign"}},
		{"hashing", []string{"crypto/sha256.(*Digest).Write", "crypto/sha512.(*Digest).Write", "crypto/internal/fips140/sha256.(*Digest).Write", "crypto/internal/fips140/sha512.(*Digest).Write"}},
		{"transfer (TLS read/write)", []string{"crypto/tls.(*Conn).Read", "crypto/tls.(*Conn).Write"}},
		{"GC", []string{"runtime.gcBgMarkWorker"}},
	}
	var total string
	cum := map[string]float64{}
	for _, l := range strings.Split(top, "\n") {
		if strings.HasPrefix(l, "Duration:") {
			total = strings.TrimSpace(l)
		}
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		cum[strings.Join(f[5:], " ")] = seconds(f[3])
	}
	parts := []string{total}
	for _, k := range kinds {
		var sum float64
		for _, fn := range k.fns {
			sum += cum[fn]
		}
		parts = append(parts, fmt.Sprintf("%s %.2fs", k.name, sum))
	}
	return strings.Join(parts, "; ")
}

// seconds reads pprof's "1.23s" or "450ms".
func seconds(v string) float64 {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0
	}
	return d.Seconds()
}

func allocTotal(top string) string {
	for _, l := range strings.Split(top, "\n") {
		if strings.Contains(l, "total") && strings.HasPrefix(strings.TrimSpace(l), "Showing nodes") {
			if i := strings.LastIndex(l, "of "); i >= 0 {
				return strings.TrimSpace(strings.TrimSuffix(l[i+3:], "total"))
			}
		}
	}
	return "?"
}

// 6. Large repositories: 5000 and 20000 signed tags.
func benchBig(ctx context.Context, cfg config, w *world, rep *report) error {
	hexd, size, err := w.imageTarget()
	if err != nil {
		return err
	}
	roleArgs := []string{"-r", "targets/releases", "-r", "targets/" + signer}
	rep.f("### 6. Large repositories: 5000 and 20000 signed tags")
	rep.f("")
	rep.f("Each repository is initialized with `docker trust signer add` and then staged in one publish of N targets into targets/releases and targets/ci by notary's own client library in the bench process (`client.NewRepository` … `AddTarget` … `Publish`, the code `notary addhash` + `notary publish` run, with the notary CLI's ci key). Tag names are release-style, 80 characters; digests are distinct. Both tools then sign into the same repository, one new tag per tool per round, so it grows by a few tags during the rounds. sign-step runs without a trust cache (a CI job's first run); the notary CLI keeps its trust dir (its cache) between runs, as on a developer's machine.")
	rep.f("")
	rep.f("| repository | tool | what runs | median (min–max) | peak RSS (max) | sign-step / tool |")
	rep.f("| --- | --- | --- | --- | --- | --- |")
	var profiles []string
	var traced string
	var floors []string
	for _, n := range []int{5000, 20000} {
		gun := w.repo(w.env.RegistryHost, fmt.Sprintf("big%d", n))
		if err := w.initRepos(gun); err != nil {
			return err
		}
		start := time.Now()
		if err := w.stageBig(gun, n); err != nil {
			return fmt.Errorf("staging %d tags: %w", n, err)
		}
		rel, err := w.roleBytes(gun, "targets/releases")
		if err != nil {
			return err
		}
		ci, err := w.roleBytes(gun, "targets/"+signer)
		if err != nil {
			return err
		}
		log("staged %d tags in %s: targets/releases %d bytes, targets/ci %d bytes", n, time.Since(start).Round(time.Millisecond), len(rel), len(ci))
		nr := cfg.rounds
		// Tags for sign-step's rounds (and the trace and profile runs) in the registry.
		newTags, err := w.pushTags(ctx, gun, nr+3)
		if err != nil {
			return err
		}
		body, err := w.uploadBody(gun)
		if err != nil {
			return err
		}
		// The notary CLI's cache starts warm, as sign-step's would not.
		if _, err := w.notary(ctx, "list", gun); err != nil {
			return err
		}
		tools := []tool{
			{"sign-step", func(r int) (sample, error) { return w.runSignStep(ctx, "sign", newTags[r]) }},
			{"notary addhash -p", func(r int) (sample, error) {
				return w.notaryRSS(ctx, append([]string{"addhash", gun, fmt.Sprintf("nt-%d", r), fmt.Sprint(size), "--sha256", hexd, "-p"}, roleArgs...)...)
			}},
			{"curl: changed roles down + up", func(int) (sample, error) { return w.curlChanged(ctx, gun, body) }},
		}
		if n == 5000 {
			tools = append(tools,
				tool{"sign-step resign", func(int) (sample, error) { return w.runSignStep(ctx, "resign", gun) }},
				tool{"notary witness + publish", func(int) (sample, error) {
					s, err := w.notaryRSS(ctx, "witness", gun, "targets/releases", "targets/"+signer)
					if err != nil {
						return s, err
					}
					p, err := w.notaryRSS(ctx, "publish", gun)
					s.wall += p.wall
					s.maxRSS = max(s.maxRSS, p.maxRSS)
					return s, err
				}})
		}
		got, err := rounds(nr, tools)
		if err != nil {
			return fmt.Errorf("%d tags: %w", n, err)
		}
		st := map[string]stats{}
		for _, t := range tools {
			st[t.name] = summarize(got[t.name])
		}
		ss, nc, cu := st["sign-step"], st["notary addhash -p"], st["curl: changed roles down + up"]
		what := map[string]string{
			"sign-step":                     "`sign-step sign REPO:TAG` (one new tag, resolved in the registry)",
			"notary addhash -p":             "`notary addhash GUN TAG SIZE --sha256 HEX -r targets/releases -r targets/ci -p` (digest given)",
			"curl: changed roles down + up": "`curl` GET targets/releases.json and targets/ci.json, then one multipart POST of both (the bytes a 1-tag publish must move; the server reads and refuses it: same versions)",
			"sign-step resign":              "`sign-step resign REPO` (re-signs targets/releases and targets/ci)",
			"notary witness + publish":      "`notary witness GUN targets/releases targets/ci` + `notary publish GUN`",
		}
		for _, t := range tools {
			peer := ss
			if t.name == "notary witness + publish" {
				peer = st["sign-step resign"]
			}
			rss := mib(st[t.name].rss)
			if strings.HasPrefix(t.name, "curl") {
				rss = "—"
			}
			rep.f("| %d tags (releases %s, ci %s) | %s | %s | %s | %s | %.3fx |", n, kib(len(rel)), kib(len(ci)), t.name, what[t.name], st[t.name], rss, ratio(peer, st[t.name]))
		}
		rn, rc := ratio(ss, nc), ratio(ss, cu)
		switch n {
		case 5000:
			rep.goal("1 tag into a 5000-tag repository vs notary addhash -p", "≤ 0.5x", fmt.Sprintf("%.2fx (%s vs %s)", rn, ms(ss.median), ms(nc.median)), rn <= 0.5, "")
			rep.goal("the same, peak RSS", "< 48 MiB", mib(ss.rss), ss.rss < 48*1024, "")
			rr := ratio(st["sign-step resign"], st["notary witness + publish"])
			rep.goal("resign of a 5000-tag repository vs notary witness + publish", "≤ 0.5x", fmt.Sprintf("%.2fx (%s vs %s)", rr, ms(st["sign-step resign"].median), ms(st["notary witness + publish"].median)), rr <= 0.5, "")
		case 20000:
			rep.goal("1 tag into a 20000-tag repository vs notary addhash -p", "≤ 0.5x", fmt.Sprintf("%.2fx (%s vs %s)", rn, ms(ss.median), ms(nc.median)), rn <= 0.5, fmt.Sprintf("peak RSS %s", mib(ss.rss)))
			rep.goal("1 tag into a 20000-tag repository vs curl of its changed roles", "≤ 3x", fmt.Sprintf("%.2fx (%s vs %s)", rc, ms(ss.median), ms(cu.median)), rc <= 3, "")
		}
		total, by, lines, postMS, err := w.traceRequests(ctx, "sign", newTags[nr])
		if err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
		if n == 5000 {
			rep.goal("requests for a 1-tag sign into an existing repository", "≤ 10", fmt.Sprintf("%d (registry %d, notary %d)", total, by["registry"], by["notary"]), total <= 10, "counted in `--log-level debug`'s HTTP trace")
			traced = strings.Join(lines, "; ")
		}
		// The floor no client goes under: the changed roles down (curl's
		// GETs) and the server's answer to a real publish POST (its upload
		// and the server applying it, timed in the trace).
		down := summarize(w.curlDown[gun]).median
		floors = append(floors, fmt.Sprintf("| %d tags | %s | %.0f ms | %s | %.2fx | %.2fx |", n, ms(down), postMS, ms(nc.median),
			(float64(down)/1e6+postMS)/(float64(nc.median)/1e6), float64(ss.median)/(float64(down)+postMS*1e6)))
		p, err := w.profile(ctx, fmt.Sprintf("sign-%d", n), "sign", newTags[nr+1])
		if err != nil {
			return err
		}
		profiles = append(profiles, fmt.Sprintf("| 1 tag into %d tags | %s |", n, p))
		if n == 5000 {
			p, err := w.profile(ctx, "resign-5000", "resign", gun)
			if err != nil {
				return err
			}
			profiles = append(profiles, fmt.Sprintf("| resign of %d tags | %s |", n, p))
		}
	}
	rep.f("")
	rep.f("Requests of one `sign-step sign REPO:TAG` into the 5000-tag repository, in order (debug trace, each with the time to its answer): %s.", traced)
	rep.f("")
	rep.f("The floor of a 1-tag publish, against the ≤ 0.5x goal: the download of the changed roles (the GET half of the curl row, median) plus the time notary-server took to answer sign-step's real publish POST (its upload and the server verifying and storing it; one traced run), before any client work. A ratio of floor to notary CLI above 0.5 means no client that downloads and verifies the roles can meet the goal against this server.")
	rep.f("")
	rep.f("| repository | curl: changed roles down | server's answer to the publish POST | notary addhash -p | floor / notary | sign-step / floor |")
	rep.f("| --- | --- | --- | --- | --- | --- |")
	for _, f := range floors {
		rep.f("%s", f)
	}
	rep.f("")
	rep.f("CPU profiles (`go build -tags pprof`, `SIGN_STEP_CPUPROFILE`/`SIGN_STEP_MEMPROFILE`; one run each, files in bench/profiles/): cumulative CPU of the function that stands for each kind of work.")
	rep.f("")
	rep.f("| run | profile |")
	rep.f("| --- | --- |")
	for _, p := range profiles {
		rep.f("%s", p)
	}
	rep.f("")
	return nil
}

func kib(n int) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

// notaryRSS runs the notary CLI under GNU time.
func (w *world) notaryRSS(ctx context.Context, args ...string) (sample, error) {
	c := w.notaryCLI
	return procRSS(ctx, c.Env, c.Path, append(append([]string(nil), c.BaseArgs...), args...)...)
}
