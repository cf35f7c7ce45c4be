package fleet

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineCPU is the whole machine's busy and total CPU time so far, from
// /proc/stat (USER_HZ ticks, 100 per second on Linux); zero elsewhere.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	var ticks [10]int64
	for i := 1; i < len(f) && i <= len(ticks); i++ {
		ticks[i-1], _ = strconv.ParseInt(f[i], 10, 64)
	}
	var sum int64
	for _, t := range ticks[:8] { // user nice system idle iowait irq softirq steal
		sum += t
	}
	idle := ticks[3] + ticks[4]
	const tick = 10 * time.Millisecond
	return time.Duration(sum-idle) * tick, time.Duration(sum) * tick
}

// MachineResult says how busy the machine was over the measured run, so a
// reader can tell whether other processes took the CPU the run needed.
type MachineResult struct {
	CPUs   int     `json:"cpus"`
	Busy   float64 `json:"busy"`   // share of all CPUs
	Others float64 `json:"others"` // share of one core used by other processes
}

func machineResult(busy0, total0, busy1, total1 time.Duration, mgr, self time.Duration, secs float64) MachineResult {
	m := MachineResult{CPUs: runtime.NumCPU()}
	if total1 > total0 {
		m.Busy = float64(busy1-busy0) / float64(total1-total0)
		m.Others = max(0, ((busy1-busy0)-mgr-self).Seconds()/secs)
	}
	return m
}
