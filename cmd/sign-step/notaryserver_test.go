package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// TestNotaryServerSurvivesConcurrentRepositories: the test notary-server
// (local trust service) makes a snapshot key for each new repository on
// its first GET of snapshot.key; v0.7.0 has no lock around that key map,
// and parallel tests then crashed the shared server with "concurrent map
// writes". The harness's build adds the lock (internal/testenv/tools.go).
func TestNotaryServerSurvivesConcurrentRepositories(t *testing.T) {
	t.Parallel()
	client := &http.Client{Transport: env.Transport()}
	const repos, workers = 400, 32
	next := make(chan int)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				for _, role := range []string{"snapshot", "timestamp"} {
					url := fmt.Sprintf("%s/v2/%s/_trust/tuf/%s.key", env.NotaryURL, env.Repo(fmt.Sprintf("keys-%d", i)), role)
					resp, err := client.Get(url)
					if err != nil {
						failed.Add(1) // keep draining: the sender must not block
						continue
					}
					resp.Body.Close()
				}
			}
		})
	}
	for i := range repos {
		next <- i
	}
	close(next)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d key requests failed: notary-server went away", n, 2*repos)
	}
	resp, err := client.Get(env.NotaryURL + "/_notary_server/health")
	if err != nil {
		t.Fatalf("notary-server after %d concurrent new repositories: %v", repos, err)
	}
	resp.Body.Close()
}
