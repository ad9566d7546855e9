package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// exampleImage finds image references in the GitLab, Jenkins and Kubernetes
// examples: image:/name: values, services, and Jenkins' image '...'. The
// first group is the key, the second the reference.
var exampleImage = regexp.MustCompile(`(?m)(?:^[ \t]*(?:-[ \t]+)?(image|name):[ \t]*|(image)[ \t]+'|(services):[ \t]*\[[ \t]*")([^\s'"\]]+(?:[ ][^\s'"\]]+)*?)["'\]]*[ \t]*(?:#.*)?$`)

// pinnedExample is IMAGE:TAG@sha256:<64 hex>, or, while no release exists,
// the placeholder @sha256:<digest of ...> a user must fill in: it is not a
// valid reference, so an unfilled example fails instead of pulling a tag.
var pinnedExample = regexp.MustCompile(`^[a-z0-9./-]+(?::[A-Za-z0-9._-]+)?@sha256:(?:[0-9a-f]{64}|<digest of [^>]+>)$`)

// exampleImages returns the image references in an example and those not
// pinned by digest. A bare word under name: is a container's or volume's
// name, not an image; under image:, services or Jenkins' image it is an
// image pulled by tag (`image: alpine`) and counts as unpinned.
func exampleImages(content string) (refs, unpinned []string) {
	for _, m := range exampleImage.FindAllStringSubmatch(content, -1) {
		key := m[1] + m[2] + m[3]
		ref := strings.TrimSpace(m[4])
		if key == "name" && !strings.ContainsAny(ref, "/:@") {
			continue
		}
		if strings.HasPrefix(ref, "{") { // image: {name: ...} is read by its name: key
			continue
		}
		refs = append(refs, ref)
		if !pinnedExample.MatchString(ref) {
			unpinned = append(unpinned, ref)
		}
	}
	return refs, unpinned
}

func TestExampleImagesPinnedRule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		content  string
		unpinned []string
	}{
		{"image: alpine\n", []string{"alpine"}},
		{"services: [\"docker\"]\n", []string{"docker"}},
		{"      image 'busybox:1.37'\n", []string{"busybox:1.37"}},
		{"  - name: worker\n", nil},
		{"image:\n  name: ghcr.io/sign-step/sign-step:v1-shell\n", []string{"ghcr.io/sign-step/sign-step:v1-shell"}},
		{"image: ghcr.io/sign-step/sign-step:v1@sha256:" + strings.Repeat("a", 64) + "\n", nil},
		{"image: ghcr.io/sign-step/sign-step:vX.Y.Z@sha256:<digest of the release>\n", nil},
	} {
		if _, got := exampleImages(c.content); !slices.Equal(got, c.unpinned) {
			t.Errorf("%q: unpinned %q, want %q", c.content, got, c.unpinned)
		}
	}
}

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
		refs, unpinned := exampleImages(string(b))
		for _, ref := range unpinned {
			t.Errorf("%s: image %s is not pinned by digest (IMAGE:TAG@sha256:...)", f, ref)
		}
		if len(refs) == 0 {
			t.Errorf("%s: found no image reference", f)
		}
	}
}
