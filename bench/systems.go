package main

import (
	"context"
	"fmt"
)

// 8. The other signature systems (issue: migration without a gap).
//
// --also-sign cosign on 50 tags of one digest against plain sign (fresh
// repositories per round, so both publish the same work; the cosign step
// signs one digest), and migrate --to cosign of a 1000-tag repository
// against resign of the same repository (fresh repository per round:
// a second migrate changes nothing and would measure a no-op).
func benchSystems(ctx context.Context, cfg config, w *world, rep *report) error {
	const n50, n1000 = 50, 1000
	var plain, also, mig []string
	for r := 0; r < cfg.rounds; r++ {
		plain = append(plain, w.repo(w.env.RegistryHost, "sys-plain"))
		also = append(also, w.repo(w.env.RegistryHost, "sys-also"))
		mig = append(mig, w.repo(w.env.RegistryHost, "sys-migrate"))
	}
	all := append(append(append([]string(nil), plain...), also...), mig...)
	log("initializing %d repositories with docker trust signer add", len(all))
	if err := w.initRepos(all...); err != nil {
		return err
	}
	refs := map[string][]string{}
	for _, repo := range append(append([]string(nil), plain...), also...) {
		r, err := w.pushTags(ctx, repo, n50)
		if err != nil {
			return err
		}
		refs[repo] = r
	}
	for _, repo := range mig {
		r, err := w.pushTags(ctx, repo, n1000)
		if err != nil {
			return err
		}
		if _, err := w.runSignStep(ctx, append([]string{"sign"}, r...)...); err != nil {
			return fmt.Errorf("signing the 1000 tags to migrate: %w", err)
		}
	}
	tools := []tool{
		{"sign 50 tags", func(r int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"sign"}, refs[plain[r]]...)...)
		}},
		{"sign 50 tags --also-sign cosign", func(r int) (sample, error) {
			return w.runSignStep(ctx, append([]string{"sign", "--also-sign", "cosign"}, refs[also[r]]...)...)
		}},
		{"migrate --to cosign, 1000 tags", func(r int) (sample, error) {
			return w.runSignStep(ctx, "migrate", "--to", "cosign", mig[r])
		}},
		{"resign, same repository", func(r int) (sample, error) {
			return w.runSignStep(ctx, "resign", mig[r])
		}},
	}
	got, err := rounds(cfg.rounds, tools)
	if err != nil {
		return err
	}
	st := map[string]stats{}
	for name, ss := range got {
		st[name] = summarize(ss)
	}
	rep.f("### 8. Dual signing and migration")
	rep.f("")
	rep.f("`sign --also-sign cosign` against plain `sign` on 50 tags of one digest (fresh repository per round for each; the cosign step adds one signature for the one digest), and `migrate --to cosign` of a repository holding 1000 signed tags (fresh per round: a second migrate adds nothing) against `resign` of the same repository (which re-signs `targets/releases` and `targets/ci`).")
	rep.f("")
	rep.f("| run | median (min–max) | peak RSS (max) |")
	rep.f("| --- | --- | --- |")
	for _, t := range tools {
		rep.f("| %s | %s | %s |", t.name, st[t.name], mib(st[t.name].rss))
	}
	rep.f("")
	ra := ratio(st["sign 50 tags --also-sign cosign"], st["sign 50 tags"])
	rep.goal("`--also-sign cosign` on 50 tags of one digest vs plain sign", "≤ 1.3x", fmt.Sprintf("%.2fx (%s vs %s)", ra, ms(st["sign 50 tags --also-sign cosign"].median), ms(st["sign 50 tags"].median)), ra <= 1.3, "")
	rm := ratio(st["migrate --to cosign, 1000 tags"], st["resign, same repository"])
	rep.goal("migrate of 1000 tags vs resign of the same repository", "≤ 2x", fmt.Sprintf("%.2fx (%s vs %s)", rm, ms(st["migrate --to cosign, 1000 tags"].median), ms(st["resign, same repository"].median)), rm <= 2, "the 1000 tags share one digest: one cosign signature")
	return nil
}
