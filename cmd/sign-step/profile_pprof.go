//go:build pprof

package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

// A bench-only build (`go build -tags pprof`, used by `make bench`) writes
// a CPU profile to $SIGN_STEP_CPUPROFILE and a heap profile (allocations
// included) to $SIGN_STEP_MEMPROFILE. Release builds have neither.
func startProfile() (stop func()) {
	var cpu *os.File
	if p := os.Getenv("SIGN_STEP_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil && pprof.StartCPUProfile(f) == nil {
			cpu = f
		}
	}
	if os.Getenv("SIGN_STEP_MEMPROFILE") != "" {
		runtime.MemProfileRate = 64 << 10
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if p := os.Getenv("SIGN_STEP_MEMPROFILE"); p != "" {
			if f, err := os.Create(p); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
