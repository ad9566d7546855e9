package ci

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sethvargo/go-githubactions"
)

// IDTokenAttempts and IDTokenWait are vault-action's retry of the OIDC
// request (GH-574): the runtime's token service fails now and then.
const (
	IDTokenAttempts = 5
	IDTokenWait     = 3 * time.Second
)

// GitHubIDToken mints the job's GitHub OIDC token for an audience through
// the Actions runtime (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN, present when the
// workflow grants id-token: write), retried. client may be nil.
func GitHubIDToken(getenv func(string) string, client *http.Client) func(ctx context.Context, audience string) (string, error) {
	return githubIDToken(getenv, client, IDTokenWait)
}

func githubIDToken(getenv func(string) string, client *http.Client, wait time.Duration) func(ctx context.Context, audience string) (string, error) {
	opts := []githubactions.Option{githubactions.WithGetenv(getenv)}
	if client != nil {
		opts = append(opts, githubactions.WithHTTPClient(client))
	}
	action := githubactions.New(opts...)
	return func(ctx context.Context, audience string) (string, error) {
		if getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" {
			return "", fmt.Errorf("minting the GitHub OIDC token: the job has no id-token permission (add `permissions: id-token: write`) or pass --vault-jwt")
		}
		var err error
		for attempt := 1; ; attempt++ {
			var token string
			if token, err = action.GetIDToken(ctx, audience); err == nil && token != "" {
				return token, nil
			}
			if err == nil {
				err = fmt.Errorf("empty token")
			}
			if attempt >= IDTokenAttempts {
				break
			}
			select {
			case <-ctx.Done():
				return "", fmt.Errorf("minting the GitHub OIDC token: %w (last failure: %v)", ctx.Err(), err)
			case <-time.After(wait):
			}
		}
		return "", fmt.Errorf("minting the GitHub OIDC token after %d attempts: %w", IDTokenAttempts, err)
	}
}
