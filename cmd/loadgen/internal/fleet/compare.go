package fleet

import (
	"fmt"
	"io"
)

// WriteComparison prints the figures of two runs of the same fleet side by
// side with their ratios (a / b).
func WriteComparison(w io.Writer, a, b *Report) {
	fmt.Fprintf(w, "%-30s %14s %14s %9s\n", "same fleet, two managers", "swimwheel", b.Manager.Impl, "ratio")
	row := func(name string, x, y float64, format string) {
		ratio := "-"
		if y != 0 {
			ratio = fmt.Sprintf("%.2fx", x/y)
		}
		fmt.Fprintf(w, "%-30s %14s %14s %9s\n", name, fmt.Sprintf(format, x), fmt.Sprintf(format, y), ratio)
	}
	row("heartbeats processed %", 100*a.Heartbeats.ProcessedShare, 100*b.Heartbeats.ProcessedShare, "%.3f")
	row("cpu/heartbeat user ns", a.Manager.UserNSPerHeartbeat, b.Manager.UserNSPerHeartbeat, "%.0f")
	row("cpu/heartbeat system ns", a.Manager.SysNSPerHeartbeat, b.Manager.SysNSPerHeartbeat, "%.0f")
	row("cpu/heartbeat total ns", a.Manager.UserNSPerHeartbeat+a.Manager.SysNSPerHeartbeat,
		b.Manager.UserNSPerHeartbeat+b.Manager.SysNSPerHeartbeat, "%.0f")
	row("manager cpu % of a core", 100*a.Manager.CPUShare, 100*b.Manager.CPUShare, "%.1f")
	row("RSS bytes per worker", a.Manager.RSSPerWorker, b.Manager.RSSPerWorker, "%.0f")
	row("crash->evicted p99 ms", ms64(a.Latency.Evicted.P99), ms64(b.Latency.Evicted.P99), "%.0f")
	row("crash->evicted max ms", ms64(a.Latency.Evicted.Max), ms64(b.Latency.Evicted.Max), "%.0f")
	row("false evictions", float64(a.FalseEvictions), float64(b.FalseEvictions), "%.0f")
	row("stuck evicted", float64(a.Stuck.Evicted), float64(b.Stuck.Evicted), "%.0f")
}

func ms64(d interface{ Milliseconds() int64 }) float64 { return float64(d.Milliseconds()) }
