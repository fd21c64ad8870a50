package bench

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/stat (USER_HZ), 1/100 s on every
// mainstream Linux build.
const clockTick = 10 * time.Millisecond

// machineCPU is the CPU time every process on the machine has used (all
// but idle and I/O wait, from /proc/stat); ok is false where it cannot be
// read. Less the process's own, it shows how much other processes took
// from a measurement.
func machineCPU() (d time.Duration, ok bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, false
	}
	var busy int64
	for i, v := range fields[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		// Fields: user nice system idle iowait irq softirq steal guest
		// guest_nice. Guest time is already counted in user and nice.
		switch i {
		case 3, 4, 8, 9:
		default:
			busy += n
		}
	}
	return time.Duration(busy) * clockTick, true
}

// loadAverage is the machine's one-minute load average; ok is false where
// it cannot be read.
func loadAverage() (load float64, ok bool) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 0, false
	}
	load, err = strconv.ParseFloat(fields[0], 64)
	return load, err == nil
}
