package cli

import (
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile of the command to path
// (ENISHI_CPUPROFILE), for performance work on imports and reports.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
