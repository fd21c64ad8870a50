//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the whole process (server, services, bench)
// has used, user and system; ok is false where it cannot be read.
func processCPU() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
