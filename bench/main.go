// Command bench is `make bench`: it starts the same real registry and
// notary-server as the tests (internal/testenv), and measures sign-step
// against the notary CLI, `docker trust sign` and crane in one run,
// alternating the order of the tools every round. It writes the tables
// between the bench markers of bench/results.md.
//
//	go run ./bench -sign-step bin/sign-step -out bench/results.md
//
// `bench heads -ca FILE REF...` is the baseline of the 1000-tag case: the
// same manifest requests sign-step makes (GETs: Resolve hashes the bytes) (internal/registry over internal/httpx,
// 16 at a time), in a process of its own, and nothing else.
package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sign-step/sign-step/internal/core"
	"github.com/sign-step/sign-step/internal/httpx"
	"github.com/sign-step/sign-step/internal/registry"
	"github.com/sign-step/sign-step/internal/testenv"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "heads" {
		if err := heads(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench heads:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	flag.StringVar(&cfg.signStep, "sign-step", "bin/sign-step", "sign-step binary (built with `make build`)")
	flag.StringVar(&cfg.before, "sign-step-before", "", "optional second sign-step binary (e.g. the previous commit) measured next to -sign-step in the 50- and 1000-tag cases")
	flag.StringVar(&cfg.out, "out", "bench/results.md", "results file; the part between the bench markers is replaced")
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds of each comparison")
	flag.IntVar(&cfg.bigRounds, "big-rounds", 2, "rounds of the 1 GiB push")
	flag.DurationVar(&cfg.hold, "hold", 0, "keep the servers up this long after the run (for tracing by hand)")
	flag.StringVar(&cfg.only, "only", "", "comma-separated sections to run (tags50,tags1000,repos200,push,big,binary,bigrepo,systems); empty = all")
	flag.Parse()
	cfg.command = "go run ./bench " + strings.Join(os.Args[1:], " ")
	if err := bench(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	signStep, before, out, only, command string
	rounds, bigRounds                    int
	hold                                 time.Duration
}

func (c config) want(section string) bool {
	if c.only == "" {
		return true
	}
	for _, s := range strings.Split(c.only, ",") {
		if s == section {
			return true
		}
	}
	return false
}

// report collects the markdown.
type report struct {
	bytes.Buffer
	goals []goal
}

type goal struct{ name, target, measured, verdict, note string }

func (r *report) f(format string, a ...any) { fmt.Fprintf(r, format+"\n", a...) }

func (r *report) goal(name, target, measured string, met bool, note string) {
	v := "met"
	if !met {
		v = "**not met**"
	}
	r.goals = append(r.goals, goal{name, target, measured, v, note})
	log("goal %s: %s (target %s) %s", name, measured, target, v)
}

func log(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func bench(cfg config) (err error) {
	sigctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sigctx, 90*time.Minute)
	defer cancel()
	var rep report
	started := time.Now()

	w := &world{}
	if w.signStep, err = filepath.Abs(cfg.signStep); err != nil {
		return err
	}
	if _, err := os.Stat(w.signStep); err != nil {
		return fmt.Errorf("sign-step binary: %w (run `make build` first)", err)
	}
	log("building crane and the test servers (cached under ~/.cache/sign-step/tools)")
	if w.crane, err = buildCrane(ctx); err != nil {
		return err
	}
	if w.env, err = testenv.Start(ctx); err != nil {
		return err
	}
	defer w.env.Close()
	if w.dir, err = os.MkdirTemp("", "sign-step-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(w.dir)
	w.notaryHost = strings.TrimPrefix(w.env.NotaryURL, "https://")
	if w.proxy, err = startProxy(w.env); err != nil {
		return err
	}
	defer w.proxy.close()
	if w.docker, err = w.newDocker(w.env.RegistryHost, w.notaryHost, w.proxy.Host); err != nil {
		return err
	}
	if err := w.makeSigner(); err != nil {
		return err
	}
	if w.img, err = smallImage(); err != nil {
		return err
	}
	log("registry %s, notary %s, counting proxy %s", w.env.RegistryHost, w.env.NotaryURL, w.proxy.Host)

	sections := []struct {
		name string
		run  func(context.Context, config, *world, *report) error
	}{
		{"tags50", benchTags50},
		{"tags1000", benchTags1000},
		{"repos200", benchRepos200},
		{"push", benchPush},
		{"big", benchBigPush},
		{"binary", benchBinary},
		{"bigrepo", benchBig},
		{"systems", benchSystems},
	}
	var body report
	for _, s := range sections {
		if !cfg.want(s.name) {
			continue
		}
		log("== %s (load %s)", s.name, loadavg())
		if err := s.run(ctx, cfg, w, &body); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rep.goals = append(rep.goals, body.goals...)
		body.goals = nil
	}

	gv, _ := exec.Command("go", "env", "GOVERSION").Output()
	commit, _ := exec.Command("git", "describe", "--always", "--dirty").Output()
	rep.f("Measured %s by `%s` (sign-step %s, %s).", started.UTC().Format("2006-01-02 15:04 MST"), cfg.command,
		strings.TrimSpace(string(commit)), time.Since(started).Round(time.Second))
	rep.f("Machine: %d CPUs (%s), %s/%s, %s; Docker engine: %v; load average at start %s.",
		runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH, strings.TrimSpace(string(gv)), testenv.EngineAvailable(), loadavg())
	rep.f("Servers: distribution registry v3.1.2 (filesystem storage) and patched notary-server v0.7.0 (memory storage), both TLS on loopback; times are medians over rounds with min–max in parentheses; the order of the tools rotates every round.")
	rep.f("")
	rep.f("### Goals")
	rep.f("")
	rep.f("| goal | target | measured | verdict | note |")
	rep.f("| --- | --- | --- | --- | --- |")
	for _, g := range rep.goals {
		rep.f("| %s | %s | %s | %s | %s |", g.name, g.target, g.measured, g.verdict, g.note)
	}
	rep.f("")
	rep.Write(body.Bytes())
	if cfg.hold > 0 {
		log("holding: registry %s notary %s key %s ca %s", w.env.RegistryHost, w.env.NotaryURL, w.keyFile, w.env.CACertFile)
		select {
		case <-time.After(cfg.hold):
		case <-ctx.Done():
		}
	}
	return writeResults(cfg.out, rep.Bytes())
}

const beginMarker, endMarker = "<!-- bench:begin -->", "<!-- bench:end -->"

// writeResults replaces the text between the markers of out (or writes a
// new file), keeping the hand-written analysis around it.
func writeResults(out string, body []byte) error {
	generated := beginMarker + "\n" + string(body) + endMarker + "\n"
	old, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(old, []byte(beginMarker)) || !bytes.Contains(old, []byte(endMarker)) {
		return os.WriteFile(out, []byte("# sign-step benchmark results\n\n"+generated), 0o644)
	}
	s := string(old)
	i := strings.Index(s, beginMarker)
	j := strings.Index(s, endMarker) + len(endMarker) + 1
	if j > len(s) {
		j = len(s)
	}
	return os.WriteFile(out, []byte(s[:i]+generated+s[j:]), 0o644)
}

// signStepEnv is the environment of a CI job running sign-step.
func (w *world) signStepEnv(out string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(w.dir, "sign-step-home"),
		"SIGN_STEP_KEY=file://" + w.keyFile,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + repoPass,
		"SIGN_STEP_NOTARY_SERVER=" + w.env.NotaryURL,
		"SIGN_STEP_NOTARY_CA=" + w.env.CACertFile,
		"SIGN_STEP_REGISTRY_CA=" + w.env.CACertFile,
		"SIGN_STEP_OUTPUT_DIR=" + out,
		"SIGN_STEP_LOG_LEVEL=warn",
	}
}

func (w *world) runSignStep(ctx context.Context, args ...string) (sample, error) {
	return w.runBin(ctx, w.signStep, args...)
}

func (w *world) runBin(ctx context.Context, bin string, args ...string) (sample, error) {
	out, err := os.MkdirTemp(w.dir, "out-")
	if err != nil {
		return sample{}, err
	}
	defer os.RemoveAll(out)
	return procRSS(ctx, w.signStepEnv(out), bin, args...)
}

func (w *world) craneEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(w.dir, "crane-home"), "SSL_CERT_FILE=" + w.env.CACertFile}
}

// notary runs the notary CLI (timed).
func (w *world) notary(ctx context.Context, args ...string) (sample, error) {
	c := w.notaryCLI
	return proc(ctx, c.Env, c.Path, append(append([]string(nil), c.BaseArgs...), args...)...)
}

type tool struct {
	name string
	run  func(round int) (sample, error)
}

// rounds runs every tool once per round, rotating the order, and returns
// the samples by tool name.
func rounds(n int, tools []tool) (map[string][]sample, error) {
	got := map[string][]sample{}
	for r := 0; r < n; r++ {
		for _, t := range order(r, tools) {
			s, err := t.run(r)
			if err != nil {
				return nil, fmt.Errorf("%s (round %d): %w", t.name, r+1, err)
			}
			log("round %d %-28s %s rss %s (load %s)", r+1, t.name, ms(s.wall), mib(s.maxRSS), loadavg())
			got[t.name] = append(got[t.name], s)
		}
	}
	return got, nil
}

// 1. 50 tags of one repository.
func benchTags50(ctx context.Context, cfg config, w *world, rep *report) error {
	const n = 50
	engine := testenv.EngineAvailable()
	names := []string{"sign-step", "notary batch", "notary per-tag", "docker trust sign loop"}
	if !engine {
		names = names[:3]
	}
	if cfg.before != "" {
		names = append(names, "sign-step (before)")
	}
	repos := map[string][]string{}
	var all []string
	for r := 0; r < cfg.rounds; r++ {
		for _, t := range names {
			repo := w.repo(w.env.RegistryHost, "t50-"+strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(t))
			repos[t] = append(repos[t], repo)
			all = append(all, repo)
		}
	}
	log("initializing %d repositories with docker trust signer add", len(all))
	if err := w.initRepos(all...); err != nil {
		return err
	}
	hexd, size, err := w.imageTarget()
	if err != nil {
		return err
	}
	tags := func(repo string) []string {
		var refs []string
		for i := 1; i <= n; i++ {
			refs = append(refs, fmt.Sprintf("%s:t%04d", repo, i))
		}
		return refs
	}
	for _, t := range names {
		if t == "docker trust sign loop" {
			continue
		}
		for _, repo := range repos[t] {
			if _, err := w.pushTags(ctx, repo, n); err != nil {
				return err
			}
		}
	}
	var base string
	if engine {
		base = w.env.RegistryHost + "/bench/base:t0001"
		if _, err := w.pushTags(ctx, w.env.RegistryHost+"/bench/base", 1); err != nil {
			return err
		}
		if _, _, err := w.docker.Run("pull", base); err != nil {
			return fmt.Errorf("the engine cannot pull from the loopback registry: %w", err)
		}
		defer w.docker.Run("rmi", "-f", base)
	}
	roleArgs := []string{"-r", "targets/releases", "-r", "targets/" + signer}
	tools := []tool{
		{"sign-step", func(r int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"sign"}, tags(repos["sign-step"][r])...)...)
		}},
		{"notary batch", func(r int) (sample, error) {
			gun := repos["notary batch"][r]
			s, err := loop(n, func(i int) (sample, error) {
				return w.notary(ctx, append([]string{"addhash", gun, fmt.Sprintf("t%04d", i+1), fmt.Sprint(size), "--sha256", hexd}, roleArgs...)...)
			})
			if err != nil {
				return s, err
			}
			p, err := w.notary(ctx, "publish", gun)
			s.wall += p.wall
			s.maxRSS = max(s.maxRSS, p.maxRSS)
			return s, err
		}},
		{"notary per-tag", func(r int) (sample, error) {
			gun := repos["notary per-tag"][r]
			return loop(n, func(i int) (sample, error) {
				return w.notary(ctx, append([]string{"addhash", gun, fmt.Sprintf("t%04d", i+1), fmt.Sprint(size), "--sha256", hexd, "-p"}, roleArgs...)...)
			})
		}},
	}
	if cfg.before != "" {
		tools = append(tools, tool{"sign-step (before)", func(r int) (sample, error) {
			return w.runBin(ctx, cfg.before, append([]string{"sign"}, tags(repos["sign-step (before)"][r])...)...)
		}})
	}
	if engine {
		tools = append(tools, tool{"docker trust sign loop", func(r int) (sample, error) {
			refs := tags(repos["docker trust sign loop"][r])
			for _, ref := range refs {
				if _, _, err := w.docker.Run("tag", base, ref); err != nil {
					return sample{}, err
				}
			}
			defer w.docker.Run(append([]string{"rmi"}, refs...)...)
			return loop(n, func(i int) (sample, error) {
				return proc(ctx, w.docker.Env, "docker", "trust", "sign", refs[i])
			})
		}})
	}
	got, err := rounds(cfg.rounds, tools)
	if err != nil {
		return err
	}
	st := map[string]stats{}
	for _, t := range names {
		st[t] = summarize(got[t])
	}
	ss := st["sign-step"]
	rep.f("### 1. 50 tags of one repository")
	rep.f("")
	rep.f("Each round every tool gets a fresh repository initialized with `docker trust signer add` (targets/releases and targets/ci); the 50 tags are in the registry beforehand (except for docker, which pushes them through the engine as `docker trust sign` does for a tag without trust data).")
	rep.f("")
	rep.f("| tool | what runs | median (min–max) | per tag | sign-step / tool |")
	rep.f("| --- | --- | --- | --- | --- |")
	what := map[string]string{
		"sign-step":              "one `sign-step sign REPO:t0001 … REPO:t0050` (resolves the 50 tags in the registry)",
		"notary batch":           "50 `notary addhash GUN TAG SIZE --sha256 HEX -r targets/releases -r targets/ci` + 1 `notary publish` (digests given)",
		"notary per-tag":         "50 `notary addhash … -p` (one publish per tag)",
		"docker trust sign loop": "50 `docker trust sign REPO:TAG` (engine push of the tag, then one publish per tag)",
		"sign-step (before)":     "as sign-step, built from `-sign-step-before` (before this run's changes)",
	}
	for _, t := range names {
		rep.f("| %s | %s | %s | %s | %.3fx |", t, what[t], st[t], ms(st[t].median/n), ratio(ss, st[t]))
	}
	rep.f("")
	rb, rl := ratio(ss, st["notary batch"]), ratio(ss, st["notary per-tag"])
	rep.goal("50 tags vs notary batch", "≤ 0.2x", fmt.Sprintf("%.3fx (%s vs %s)", rb, ms(ss.median), ms(st["notary batch"].median)), rb <= 0.2, "")
	rep.goal("50 tags vs per-tag publish loop (notary addhash -p)", "≤ 0.04x", fmt.Sprintf("%.3fx (%s vs %s)", rl, ms(ss.median), ms(st["notary per-tag"].median)), rl <= 0.04, "")
	if engine {
		rd := ratio(ss, st["docker trust sign loop"])
		rep.goal("50 tags vs `docker trust sign` loop", "≤ 0.04x", fmt.Sprintf("%.3fx (%s vs %s)", rd, ms(ss.median), ms(st["docker trust sign loop"].median)), rd <= 0.04, "docker also pushes each tag through the engine")
	}
	return nil
}

// 2a. 1000 tags in one repository vs 1000 parallel manifest GETs alone.
func benchTags1000(ctx context.Context, cfg config, w *world, rep *report) error {
	const n = 1000
	var repos, beforeRepos []string
	for r := 0; r < cfg.rounds; r++ {
		repos = append(repos, w.repo(w.env.RegistryHost, "t1000"))
		if cfg.before != "" {
			beforeRepos = append(beforeRepos, w.repo(w.env.RegistryHost, "t1000-before"))
		}
	}
	repos = append(repos, beforeRepos...)
	if err := w.initRepos(repos...); err != nil {
		return err
	}
	refs := make([][]string, len(repos))
	for i, repo := range repos {
		var err error
		if refs[i], err = w.pushTags(ctx, repo, n); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tools := []tool{
		{"sign-step 1000 tags", func(r int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"sign"}, refs[r]...)...)
		}},
		{"1000 GETs alone", func(r int) (sample, error) {
			return procRSS(ctx, []string{"HOME=" + w.dir}, self, append([]string{"heads", "-ca", w.env.CACertFile}, refs[r]...)...)
		}},
	}
	if cfg.before != "" {
		tools = append(tools, tool{"sign-step (before) 1000 tags", func(r int) (sample, error) {
			return w.runBin(ctx, cfg.before, append([]string{"sign"}, refs[cfg.rounds+r]...)...)
		}})
	}
	got, err := rounds(cfg.rounds, tools)
	if err != nil {
		return err
	}
	ss, hd := summarize(got["sign-step 1000 tags"]), summarize(got["1000 GETs alone"])
	rep.f("### 2. Scale")
	rep.f("")
	rep.f("1000 tags of one repository (fresh repository per round; one run of sign-step) against 1000 manifest GETs alone: `bench heads`, a process that resolves the same tags with the same code (`Registry.Resolve`, which GETs each manifest to hash its bytes) (internal/registry over internal/httpx, 16 at a time) and nothing else.")
	rep.f("")
	rep.f("| run | median (min–max) | peak RSS (max) |")
	rep.f("| --- | --- | --- |")
	rep.f("| sign-step sign, 1000 tags | %s | %s |", ss, mib(ss.rss))
	rep.f("| 1000 parallel manifest GETs alone (`bench heads`) | %s | %s |", hd, mib(hd.rss))
	if cfg.before != "" {
		b := summarize(got["sign-step (before) 1000 tags"])
		rep.f("| sign-step (before), 1000 tags | %s | %s |", b, mib(b.rss))
	}
	rep.f("")
	r := ratio(ss, hd)
	rep.goal("1000 tags vs 1000 parallel manifest GETs", "≤ 1.2x", fmt.Sprintf("%.2fx (%s vs %s)", r, ms(ss.median), ms(hd.median)), r <= 1.2, "the baseline GETs each manifest, as Resolve does")
	rep.goal("peak RSS, 1000 tags", "< 32 MiB", mib(ss.rss), ss.rss < 32*1024, "")
	return nil
}

// heads is the baseline process: resolve (GET) every ref, 16 at a time, with
// sign-step's own registry adapter and transport.
func heads(args []string) error {
	fs := flag.NewFlagSet("heads", flag.ContinueOnError)
	ca := fs.String("ca", "", "CA file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pem, err := os.ReadFile(*ca)
	if err != nil {
		return err
	}
	rt, err := httpx.NewTransport(httpx.TLSConfig{CAPEM: [][]byte{pem}})
	if err != nil {
		return err
	}
	reg := registry.New(registry.WithTransport(rt))
	ctx := context.Background()
	refs := fs.Args()
	errs := make([]error, len(refs))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, s := range refs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ref, err := core.ParseRef(s)
			if err == nil {
				_, err = reg.Resolve(ctx, ref)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// 2b. 200 repositories x 5 tags.
func benchRepos200(ctx context.Context, cfg config, w *world, rep *report) error {
	const repos, perRepo = 200, 5
	resign := exec.Command(w.signStep, "resign", "--help").Run() == nil
	var names []string
	for i := 0; i < repos; i++ {
		names = append(names, w.repo(w.env.RegistryHost, "r200"))
	}
	log("initializing %d repositories", repos)
	if err := w.initRepos(names...); err != nil {
		return err
	}
	var refs []string
	for _, repo := range names {
		r, err := w.pushTags(ctx, repo, perRepo)
		if err != nil {
			return err
		}
		refs = append(refs, r...)
	}
	// The first signature of the 1000 refs, in one run (one sample).
	first, err := w.runSignStep(ctx, append([]string{"sign"}, refs...)...)
	if err != nil {
		return err
	}
	log("sign 200x5 in one run: %s rss %s", ms(first.wall), mib(first.maxRSS))
	var what string
	var run func(int) (sample, error)
	if resign {
		what = "`sign-step resign --concurrency 8 REPO…` of the 200 repositories (re-signs targets/releases and targets/ci of each)"
		run = func(int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"resign", "--concurrency", "8"}, names...)...)
		}
	} else {
		what = "`sign-step resign` does not exist yet: one `sign-step sign` of the 1000 refs again (re-signs the same tags)"
		run = func(int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"sign"}, refs...)...)
		}
	}
	got, err := rounds(cfg.rounds, []tool{{"sign-step 200x5", run}})
	if err != nil {
		return err
	}
	s := summarize(got["sign-step 200x5"])
	var each []string
	for _, x := range got["sign-step 200x5"] {
		each = append(each, ms(x.wall))
	}
	rep.f("200 repositories x 5 tags: %s. Before the rounds, one `sign-step sign` of the 1000 refs (200 repositories) signed them: %s, peak RSS %s (one sample).", what, ms(first.wall), mib(first.maxRSS))
	rep.f("")
	rep.f("| run | median (min–max) | rounds in order | peak RSS |")
	rep.f("| --- | --- | --- | --- |")
	rep.f("| 200 repositories x 5 tags | %s | %s | %s |", s, strings.Join(each, ", "), mib(s.rss))
	rep.f("")
	note := "resign not there: sign of the same 1000 refs"
	if resign {
		note = "resign --concurrency 8"
	}
	if resign {
		// The fleet model's per-shard server load: one traced run.
		start := time.Now()
		total, by, lines, _, err := w.traceRequests(ctx, append([]string{"resign", "--concurrency", "8"}, names...)...)
		if err != nil {
			return fmt.Errorf("tracing resign: %w", err)
		}
		wall := time.Since(start)
		posts := 0
		for _, l := range lines {
			if strings.Contains(l, " POST ") {
				posts++
			}
		}
		rep.f("Server load of one such run (`--log-level debug` trace, one run, %s with tracing): %d requests (notary %d, registry %d), %d publishes; %.1f requests and %.1f publishes per repository; %.0f notary requests/s and %.0f publishes/s at --concurrency 8.",
			ms(wall), total, by["notary"], by["registry"], posts, float64(total)/repos, float64(posts)/repos, float64(by["notary"])/s.median.Seconds(), float64(posts)/s.median.Seconds())
		rep.f("")
	}
	rep.goal("sign 200 repositories x 5 tags, one run", "(no goal; reference)", ms(first.wall), true, "sign-step sign of 1000 refs in 200 repositories")
	rep.goal("200 repositories x 5 tags", "< 3 s", ms(s.median), s.median < 3*time.Second, note)
	return nil
}

// 3. Push of a 10-layer, 200 MiB OCI layout: sign-step vs crane.
func benchPush(ctx context.Context, cfg config, w *world, rep *report) error {
	dir := filepath.Join(w.dir, "layout-200m")
	log("writing a 10 x 20 MiB OCI layout")
	if err := writeLayout(dir, 10, 20<<20, 1); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var ssRepos, crRepos []string
	for r := 0; r < cfg.rounds; r++ {
		ssRepos = append(ssRepos, w.repo(w.env.RegistryHost, "push-ss"))
		crRepos = append(crRepos, w.repo(w.env.RegistryHost, "push-crane"))
	}
	proxySS, proxyCR := w.repo(w.proxy.Host, "push-ss"), w.repo(w.proxy.Host, "push-crane")
	if err := w.initRepos(append(ssRepos, proxySS)...); err != nil {
		return err
	}
	ssPush := func(repo string) (sample, error) {
		return w.runSignStep(ctx, "sign", "--source", dir, repo+":1")
	}
	crPush := func(repo string) (sample, error) {
		return procRSS(ctx, w.craneEnv(), w.crane, "push", dir, repo+":1")
	}
	got, err := rounds(cfg.rounds, []tool{
		{"sign-step sign --source", func(r int) (sample, error) { return ssPush(ssRepos[r]) }},
		{"crane push", func(r int) (sample, error) { return crPush(crRepos[r]) }},
	})
	if err != nil {
		return err
	}
	again, err := rounds(cfg.rounds, []tool{
		{"sign-step (blobs exist)", func(r int) (sample, error) { return ssPush(ssRepos[r]) }},
		{"crane (blobs exist)", func(r int) (sample, error) { return crPush(crRepos[r]) }},
	})
	if err != nil {
		return err
	}
	// Bytes: one first and one second push of each through the counting proxy.
	type count struct{ blob, mani, blobReqs, reqs int64 }
	var counts [4]count
	for i, run := range []func() (sample, error){
		func() (sample, error) { return ssPush(proxySS) },
		func() (sample, error) { return ssPush(proxySS) },
		func() (sample, error) { return crPush(proxyCR) },
		func() (sample, error) { return crPush(proxyCR) },
	} {
		w.proxy.reset()
		if _, err := run(); err != nil {
			return err
		}
		counts[i] = count{w.proxy.blob.Load(), w.proxy.mani.Load(), w.proxy.blobRequests.Load(), w.proxy.totalRequests.Load()}
	}
	ss, cr := summarize(got["sign-step sign --source"]), summarize(got["crane push"])
	ss2, cr2 := summarize(again["sign-step (blobs exist)"]), summarize(again["crane (blobs exist)"])
	rep.f("### 3. Push: 10 layers, 200 MiB of random data, from an OCI layout")
	rep.f("")
	rep.f("sign-step runs `sign --source LAYOUT REPO:1` (push, then sign one tag); crane runs `crane push LAYOUT REPO:1` (push only, %s). Fresh repositories per round, so every blob is uploaded; the second push goes to the same repository again. Bytes are counted by a TLS reverse proxy on loopback in front of the registry (one extra push of each, not timed).", filepath.Base(w.crane))
	rep.f("")
	rep.f("| run | median (min–max) | peak RSS | blob bytes sent | manifest bytes | requests |")
	rep.f("| --- | --- | --- | --- | --- | --- |")
	rep.f("| sign-step, first push | %s | %s | %d | %d | %d |", ss, mib(ss.rss), counts[0].blob, counts[0].mani, counts[0].reqs)
	rep.f("| crane, first push | %s | %s | %d | %d | %d |", cr, mib(cr.rss), counts[2].blob, counts[2].mani, counts[2].reqs)
	rep.f("| sign-step, blobs exist | %s | %s | %d | %d | %d |", ss2, mib(ss2.rss), counts[1].blob, counts[1].mani, counts[1].reqs)
	rep.f("| crane, blobs exist | %s | %s | %d | %d | %d |", cr2, mib(cr2.rss), counts[3].blob, counts[3].mani, counts[3].reqs)
	rep.f("")
	r := ratio(ss, cr)
	rep.goal("push 200 MiB vs crane push", "≤ 1.1x", fmt.Sprintf("%.2fx (%s vs %s)", r, ms(ss.median), ms(cr.median)), r <= 1.1, "sign-step also signs")
	r2 := ratio(ss2, cr2)
	rep.goal("second push vs crane (blobs exist)", "≤ 1.1x", fmt.Sprintf("%.2fx (%s vs %s)", r2, ms(ss2.median), ms(cr2.median)), r2 <= 1.1, "sign-step also signs")
	rep.goal("bytes re-sent when blobs exist", "0", fmt.Sprintf("%d blob bytes (%d manifest bytes)", counts[1].blob, counts[1].mani), counts[1].blob == 0, "")
	return nil
}

// 4. Peak RSS of a 1 GiB single-layer push.
func benchBigPush(ctx context.Context, cfg config, w *world, rep *report) error {
	dir := filepath.Join(w.dir, "layout-1g")
	log("writing a 1 GiB single-layer OCI layout")
	if err := writeLayout(dir, 1, 1<<30, 2); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var repos []string
	for r := 0; r < cfg.bigRounds; r++ {
		repos = append(repos, w.repo(w.env.RegistryHost, "push-1g"))
	}
	if err := w.initRepos(repos...); err != nil {
		return err
	}
	crRepo := w.repo(w.env.RegistryHost, "push-1g-crane")
	tools := []tool{
		{"sign-step 1 GiB layer", func(r int) (sample, error) {
			return w.runSignStep(ctx, "sign", "--source", dir, repos[r]+":1")
		}},
	}
	got, err := rounds(cfg.bigRounds, tools)
	if err != nil {
		return err
	}
	cr, err := procRSS(ctx, w.craneEnv(), w.crane, "push", dir, crRepo+":1")
	if err != nil {
		return err
	}
	log("crane 1 GiB: %s rss %s", ms(cr.wall), mib(cr.maxRSS))
	s := summarize(got["sign-step 1 GiB layer"])
	var each []string
	for _, x := range got["sign-step 1 GiB layer"] {
		each = append(each, mib(x.maxRSS))
	}
	rep.f("### 4. Peak RSS")
	rep.f("")
	rep.f("Peak RSS is GNU time's %%M (ru_maxrss of a forked child). 1000 tags: see section 2. 1 GiB single-layer push from an OCI layout (fresh repository per run):")
	rep.f("")
	rep.f("| run | time | peak RSS |")
	rep.f("| --- | --- | --- |")
	rep.f("| sign-step sign --source, 1 GiB layer | %s | %s (runs: %s) |", s, mib(s.rss), strings.Join(each, ", "))
	rep.f("| crane push, 1 GiB layer (reference, one run) | %s | %s |", ms(cr.wall), mib(cr.maxRSS))
	rep.f("")
	rep.goal("peak RSS, 1 GiB layer push", "< 128 MiB", mib(s.rss), s.rss < 128*1024, "")
	return nil
}

// 5. Binary size, static linking, cold start, expected image size.
func benchBinary(ctx context.Context, cfg config, w *world, rep *report) error {
	fi, err := os.Stat(w.signStep)
	if err != nil {
		return err
	}
	static := "unknown"
	if f, err := elf.Open(w.signStep); err == nil {
		static = "yes (no PT_INTERP, no dynamic section)"
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				static = "no"
			}
		}
		f.Close()
	}
	var ss []sample
	var first sample
	var helpRSS int64
	for i := 0; i < 31; i++ {
		s, err := proc(ctx, []string{"HOME=" + w.dir}, w.signStep, "--help")
		if err == nil && i == 1 {
			r, err2 := procRSS(ctx, []string{"HOME=" + w.dir}, w.signStep, "--help")
			helpRSS, err = r.maxRSS, err2
		}
		if err != nil {
			return err
		}
		if i == 0 {
			first = s
			continue
		}
		ss = append(ss, s)
	}
	st := summarize(ss)
	cas := "/etc/ssl/certs/ca-certificates.crt"
	var caSize int64
	if fi, err := os.Stat(cas); err == nil {
		caSize = fi.Size()
	}
	dockerfile := "no Dockerfile in the tree yet"
	if _, err := os.Stat("Dockerfile"); err == nil {
		dockerfile = "see Dockerfile"
	}
	rep.f("### 5. Binary")
	rep.f("")
	rep.f("| measure | value |")
	rep.f("| --- | --- |")
	rep.f("| binary size (`make build`: CGO_ENABLED=0, -trimpath, -s -w) | %.1f MiB (%d bytes) |", float64(fi.Size())/(1<<20), fi.Size())
	rep.f("| static | %s |", static)
	rep.f("| `sign-step --help` wall time, 30 warm runs | %s, peak RSS %s |", st, mib(helpRSS))
	rep.f("| first (coldest) run in this process | %s |", ms(first.wall))
	rep.f("| expected image size (FROM scratch: binary + CA bundle %s) | %.1f MiB uncompressed (%s) |", cas, float64(fi.Size()+caSize)/(1<<20), dockerfile)
	rep.f("")
	rep.goal("cold start `sign-step --help`", "< 20 ms", st.String(), st.median < 20*time.Millisecond, "")
	rep.goal("static binary", "static", static, strings.HasPrefix(static, "yes"), "")
	return nil
}
