package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleImage finds image references in the GitLab, Jenkins and Kubernetes
// examples: image:/name: values, services, and Jenkins' image '...'.
var exampleImage = regexp.MustCompile(`(?m)(?:^[ \t]*(?:-[ \t]+)?(?:image|name):[ \t]*|image[ \t]+'|services:[ \t]*\[[ \t]*")([^\s'"\]]+(?:[ ][^\s'"\]]+)*?)["'\]]*[ \t]*(?:#.*)?$`)

// pinnedExample is IMAGE:TAG@sha256:<64 hex>, or, while no release exists,
// the placeholder @sha256:<digest of ...> a user must fill in: it is not a
// valid reference, so an unfilled example fails instead of pulling a tag.
var pinnedExample = regexp.MustCompile(`^[a-z0-9./-]+(?::[A-Za-z0-9._-]+)?@sha256:(?:[0-9a-f]{64}|<digest of [^>]+>)$`)

// TestExampleImagesPinned: every image the CI examples run is pinned by
// digest (a tag can be moved to code that signs anything).
func TestExampleImagesPinned(t *testing.T) {
	t.Parallel()
	files := []string{"examples/gitlab/.gitlab-ci.yml", "examples/jenkins/Jenkinsfile", "examples/kubernetes/cronjob.yaml"}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range exampleImage.FindAllStringSubmatch(string(b), -1) {
			ref := strings.TrimSpace(m[1])
			if !strings.Contains(ref, "/") && !strings.Contains(ref, ":") && !strings.Contains(ref, "@") {
				continue // a name: that is no image (e.g. a volume's or container's name)
			}
			n++
			if !pinnedExample.MatchString(ref) {
				t.Errorf("%s: image %s is not pinned by digest (IMAGE:TAG@sha256:...)", f, ref)
			}
		}
		if n == 0 {
			t.Errorf("%s: found no image reference", f)
		}
	}
}
