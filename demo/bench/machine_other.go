//go:build !linux

package bench

import "time"

// machineCPU is not available here; the report leaves other processes'
// share out.
func machineCPU() (time.Duration, bool) { return 0, false }

// loadAverage is not available here.
func loadAverage() (float64, bool) { return 0, false }
