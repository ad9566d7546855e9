//go:build !pprof

package main

// startProfile is a no-op outside the bench-only pprof build (profile_pprof.go).
func startProfile() (stop func()) { return func() {} }
