package sign

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// events is what happened, in order, across the trust and system fakes.
type events struct {
	mu  sync.Mutex
	all []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.all)
}

// publishTrust is fakeTrust whose publishes are logged and may fail.
type publishTrust struct {
	*fakeTrust
	log       *events
	fail      error
	openDelay time.Duration // trust data slower than the registry
}

func (t *publishTrust) Open(ctx context.Context, gun string) (TrustRepo, error) {
	time.Sleep(t.openDelay)
	r, err := t.fakeTrust.Open(ctx, gun)
	if err != nil {
		return nil, err
	}
	return &publishRepo{TrustRepo: r, t: t, gun: gun}, nil
}

type publishRepo struct {
	TrustRepo
	t   *publishTrust
	gun string
}

func (r *publishRepo) Publish(ctx context.Context, c core.Changes) error {
	if r.t.fail != nil {
		r.t.log.add("publish failed " + r.gun)
		return r.t.fail
	}
	r.t.log.add("publish " + r.gun)
	return r.TrustRepo.Publish(ctx, c)
}

// fakeStager is a two-step system: what it stages, commits and releases
// is logged; presigned digests need no commit.
type fakeStager struct {
	log       *events
	presigned map[string]bool // REPO@DIGEST
	stageErr  error
}

func (f *fakeStager) Name() string { return "cosign" }
func (f *fakeStager) Present(_ context.Context, img core.Ref) (bool, error) {
	f.log.add("present " + img.String())
	return f.presigned[img.String()], nil
}
func (f *fakeStager) Add(_ context.Context, img core.Ref) error {
	f.log.add("add " + img.String())
	return nil
}
func (f *fakeStager) Prepare(_ context.Context, repo core.Ref) { f.log.add("prepare " + repo.Name()) }
func (f *fakeStager) Release(context.Context)                  { f.log.add("release") }
func (f *fakeStager) Stage(_ context.Context, img core.Ref) (func(context.Context) error, error) {
	f.log.add("stage " + img.String())
	if f.stageErr != nil {
		return nil, f.stageErr
	}
	if f.presigned[img.String()] {
		return nil, nil
	}
	return func(context.Context) error {
		f.log.add("commit " + img.String())
		return nil
	}, nil
}

// TestSignStagesBesideThePublishAndCommitsAfter: with --also-sign, a
// signature is staged as soon as its digest is known, committed only after
// every DCT publish succeeded, and never after a failed publish or in a
// dry run (which only asks Present).
func TestSignStagesBesideThePublishAndCommitsAfter(t *testing.T) {
	t.Parallel()
	d1, d2 := digestOf(1), digestOf(2)
	tags := map[string]core.Descriptor{"r.io/a:1": {Digest: d1}, "r.io/a:2": {Digest: d1}, "r.io/b:1": {Digest: d2}}
	imgA, imgB := "r.io/a@"+d1, "r.io/b@"+d2
	refusal := core.Classedf(core.ClassNotary, "notary refused the publish")
	cases := []struct {
		name         string
		dryRun       bool
		publishErr   error
		stageErr     error
		presigned    []string
		wantErr      string
		wantSysErr   string // FinishSystems
		wantStatus   map[string]string
		wantCommits  []string
		wantNoStage  bool
		wantReleased bool
		noRole       string // GUN our key cannot sign
	}{
		{name: "committed after every publish", wantStatus: map[string]string{imgA: StatusAdded, imgB: StatusAdded},
			wantCommits: []string{imgA, imgB}, wantReleased: true},
		{name: "already signed: nothing to commit", presigned: []string{imgA},
			wantStatus: map[string]string{imgA: StatusPresent, imgB: StatusAdded}, wantCommits: []string{imgB}, wantReleased: true},
		{name: "publish refused: nothing committed", publishErr: refusal, wantErr: "notary refused", wantReleased: true},
		{name: "dry run: nothing staged or committed", dryRun: true, presigned: []string{imgB},
			wantStatus: map[string]string{imgA: StatusMissing, imgB: StatusPresent}, wantNoStage: true},
		// Tags resolve while the (slow) trust data loads: nothing is staged
		// before the keys are accepted.
		{name: "key without role: nothing staged", noRole: "r.io/b", wantErr: "signers are alice", wantNoStage: true, wantReleased: true},
		{name: "staging fails after a good publish", stageErr: errors.New("registry said no"), wantSysErr: "registry said no", wantReleased: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			log := &events{}
			pre := map[string]bool{}
			for _, p := range tc.presigned {
				pre[p] = true
			}
			sys := &fakeStager{log: log, presigned: pre, stageErr: tc.stageErr}
			trust := &publishTrust{fakeTrust: &fakeTrust{noRole: map[string]bool{tc.noRole: true}}, log: log, fail: tc.publishErr, openDelay: 20 * time.Millisecond}
			s := &UseCases{Registry: &fakeRegistry{tags: tags}, Trust: trust, Concurrency: 2}
			rep, err := s.Sign(context.Background(), SignRequest{Refs: []string{"r.io/a:1", "r.io/b:1", "r.io/a:2"}, DryRun: tc.dryRun, Systems: []System{sys}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Sign: %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			sysErr := rep.FinishSystems() // a failed run has nothing to finish
			var se *SystemsError
			switch {
			case tc.wantSysErr == "" && sysErr != nil:
				t.Fatalf("FinishSystems: %v", sysErr)
			case tc.wantSysErr != "" && (!errors.As(sysErr, &se) || !strings.Contains(sysErr.Error(), tc.wantSysErr) || core.ClassOf(sysErr) != core.ClassRegistry):
				t.Fatalf("FinishSystems: %v, want a registry-class *SystemsError with %q", sysErr, tc.wantSysErr)
			}
			got := log.list()
			lastPublish, firstCommit := -1, len(got)
			var commits []string
			staged, released := false, false
			for i, e := range got {
				switch {
				case strings.HasPrefix(e, "publish "):
					lastPublish = i
				case strings.HasPrefix(e, "commit "):
					firstCommit = min(firstCommit, i)
					commits = append(commits, strings.TrimPrefix(e, "commit "))
				case strings.HasPrefix(e, "stage "):
					staged = true
				case e == "release":
					released = true
				case strings.HasPrefix(e, "add "):
					t.Fatalf("Add called on a Stager: %v", got)
				}
			}
			slices.Sort(commits)
			if !slices.Equal(commits, tc.wantCommits) {
				t.Fatalf("committed %v, want %v (events %v)", commits, tc.wantCommits, got)
			}
			if len(commits) > 0 && (lastPublish < 0 || firstCommit < lastPublish) {
				t.Fatalf("a commit came before the last publish: %v", got)
			}
			if tc.wantNoStage && staged {
				t.Fatalf("staged: %v", got)
			}
			if !tc.wantNoStage && !staged {
				t.Fatalf("nothing staged: %v", got)
			}
			if released != tc.wantReleased {
				t.Fatalf("released = %v, want %v: %v", released, tc.wantReleased, got)
			}
			if tc.wantStatus == nil {
				return
			}
			for img, want := range tc.wantStatus {
				if st := rep.Systems[img]["cosign"]; st != want {
					t.Errorf("%s: %q, want %q (all %v)", img, st, want, rep.Systems)
				}
			}
			if len(rep.Systems) != len(tc.wantStatus) {
				t.Errorf("statuses %v, want one per digest %v", rep.Systems, tc.wantStatus)
			}
		})
	}
}
