package manager

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wire"
)

var (
	expvarOnce sync.Once
	expvarMap  *expvar.Map // "swimwheel": one entry per manager, by address
)

// serveMetrics serves /metrics and /debug/vars on addr until the returned
// stop is called.
func (m *Manager) serveMetrics(addr string) (stop func(), err error) {
	expvarOnce.Do(func() { expvarMap = expvar.NewMap("swimwheel") })
	expvarMap.Set(m.Addr().String(), expvar.Func(func() any { return m.Stats() }))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("manager: metrics address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m.Stats().WritePrometheus(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	m.log.Info("metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// WritePrometheus writes the snapshot in the Prometheus text format.
func (s Stats) WritePrometheus(w io.Writer) {
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	counter("swimwheel_packets_in_total", "Packets received.", s.PacketsIn)
	counter("swimwheel_packets_out_total", "Packets handed to the sockets (refused ones are also send errors).", s.PacketsOut)
	counter("swimwheel_send_errors_total", "Packets that could not be encoded or sent.", s.SendErrors)
	fmt.Fprintf(w, "# HELP swimwheel_bad_packets_total Packets dropped, by fault.\n# TYPE swimwheel_bad_packets_total counter\n")
	for f := wire.Fault(1); f < wire.NumFaults; f++ {
		fmt.Fprintf(w, "swimwheel_bad_packets_total{fault=%q} %d\n", f.String(), s.Bad[f])
	}
	counter("swimwheel_unexpected_packets_total", "Well-formed packets of a type a manager does not take.", s.Unexpected)
	counter("swimwheel_stale_joins_total", "Joins of unknown workers whose sequence number was outside JoinFreshness of the manager's clock (replays, or workers with a wrong clock).", s.StaleJoins)
	counter("swimwheel_heartbeats_fast_total", "Heartbeats applied on the lock-free path.", s.HeartbeatsFast)
	counter("swimwheel_heartbeats_slow_total", "Heartbeats handed to the loop.", s.HeartbeatsSlow)
	fmt.Fprintf(w, "# HELP swimwheel_events_total Detector events, by kind.\n# TYPE swimwheel_events_total counter\n")
	for k := detector.EventJoined; int(k) < numEventKinds; k++ {
		fmt.Fprintf(w, "swimwheel_events_total{kind=%q} %d\n", k.String(), s.Events[k])
	}
	gauge("swimwheel_tick_lag_seconds", "How late the last timer-driven advance ran.", s.TickLag.Seconds())
	gauge("swimwheel_tick_lag_max_seconds", "The largest tick lag seen.", s.TickLagMax.Seconds())
	gauge("swimwheel_lhm", "Local health multiplier score.", float64(s.LHM))
	gauge("swimwheel_brake", "Eviction brake: 0 released, 1 engaged, 2 stopped.", float64(s.Brake))
	gauge("swimwheel_workers_alive", "Alive workers.", float64(s.Alive))
	gauge("swimwheel_workers_suspect", "Suspect workers.", float64(s.Suspect))
	gauge("swimwheel_worker_records", "Worker records, including dead and left ones kept for retention.", float64(s.Workers))
	counter("swimwheel_kernel_drops_total", "Datagrams the kernel dropped on full socket buffers.", s.Transport.Dropped)
}
