package notary

import (
	"fmt"
	"strings"
	"time"

	"github.com/sign-step/sign-step/internal/core"
)

// DockerHubNotaryRetired is when Docker shut notary.docker.io down: from
// then on docker.io repositories have no default trust server.
var DockerHubNotaryRetired = time.Date(2026, time.December, 8, 0, 0, 0, 0, time.UTC)

// RetiredServerError says that a repository's default notary server is
// retired, so there is nothing to reach without --notary-server.
type RetiredServerError struct {
	GUN    string
	Server string
	Since  time.Time
}

func (e *RetiredServerError) Error() string {
	return fmt.Sprintf("%s, the default notary of docker.io repositories such as %s, was retired on %s: pass --notary-server (or DOCKER_CONTENT_TRUST_SERVER) with the notary server that holds its trust data",
		strings.TrimPrefix(e.Server, "https://"), e.GUN, e.Since.Format("2006-01-02"))
}

// WithClock sets the clock that decides whether notary.docker.io is still
// the default for docker.io. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// CheckServer fails, before any request, when gun's notary server would be
// docker.io's retired default: with no fixed server, from its retirement on.
func (c *Client) CheckServer(gun string) error {
	if c.opts.server != "" || c.ServerFor(gun) != DockerHubNotary {
		return nil
	}
	now := time.Now
	if c.opts.now != nil {
		now = c.opts.now
	}
	if now().Before(DockerHubNotaryRetired) {
		return nil
	}
	return core.Classed(core.ClassNotary, &RetiredServerError{GUN: gun, Server: DockerHubNotary, Since: DockerHubNotaryRetired})
}
