package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sign-step/sign-step/internal/core"
)

// flagLabel names a flag and the variables that fill it, for errors that
// must not show the flag's value: "--key (or SIGN_STEP_KEY)".
func flagLabel(flag string) string {
	name := strings.TrimPrefix(flag, "--")
	vars := []string{envName(name)}
	if alt, ok := dockerEnv[name]; ok {
		vars = append(vars, strings.TrimPrefix(alt, "env://"))
	}
	return "--" + name + " (or " + strings.Join(vars, ", ") + ")"
}

// checkServerURLs refuses credentials in a server URL (https://user:pass@host):
// every message naming the server would print them, and each server has its
// own way to pass credentials. The URL is not shown, and its password is
// masked in case anything else prints it.
func (a *app) checkServerURLs() error {
	for _, s := range []struct{ flag, value, creds string }{
		{"notary-server", a.common.notaryServer, "give credentials with --notary-auth, --registry-username/--registry-password or docker login"},
		{"vault-addr", a.vault.f.addr, "log in with --vault-method and its flags (--vault-token, --vault-role-id/--vault-secret-id, --vault-jwt, --vault-username/--vault-password)"},
	} {
		// Userinfo needs an "@"; a base URL has no other use for one.
		if !strings.Contains(s.value, "@") {
			continue
		}
		if u, err := url.Parse(s.value); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				a.secrets.Mask(p)
			}
			a.secrets.Mask(u.User.String())
		}
		return usageErrorf("%s: a URL with credentials (user:password@) is refused and not shown; %s", flagLabel(s.flag), s.creds)
	}
	return nil
}

// recoverPanic turns a panic of the run into one redacted line and exit
// code 1 (a bug, as the README says), instead of Go's trace on fd 2, which
// bypasses the redactor. The Vault token is still revoked.
func (a *app) recoverPanic(ctx context.Context, code *int) {
	r := recover()
	if r == nil {
		return
	}
	where := panicSite()
	func() {
		defer func() { _ = recover() }() // a second panic must not hide the first
		_ = a.closeVault(ctx, nil)
	}()
	fmt.Fprintf(a.stderr, "sign-step: internal error: %s%s, please report it\n", oneLine(fmt.Sprint(r)), where)
	*code = int(core.ClassInternal)
}

// panicSite is " at FUNC (FILE:LINE)" of the frame that panicked: enough
// for a report without a multi-line trace.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") && f.Function != "" {
			return fmt.Sprintf(" at %s (%s:%d)", f.Function[strings.LastIndex(f.Function, "/")+1:], filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}
