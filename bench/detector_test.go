package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/detector/scenario"
	"github.com/swimwheel/swimwheel/wheel"
)

const detectorWorkers = 1_000_000

// workerID is worker i's 16-byte ID.
func workerID(i int) string { return fmt.Sprintf("worker-%09d", i) }

// joinedDetector is a detector with n joined workers (16-byte IDs), and
// their tickets in join order.
func joinedDetector(tb testing.TB, n int) (*detector.Detector, []wheel.Ticket) {
	cfg := detector.DefaultConfig()
	cfg.MaxWorkers = n
	d, err := detector.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tickets := make([]wheel.Ticket, n)
	for i := range tickets {
		t, o := d.Join(0, workerID(i), 0)
		if o != detector.Accepted {
			tb.Fatalf("join %d: %v", i, o)
		}
		tickets[i] = t
	}
	return d, tickets
}

// naiveWorker and naiveManager are the baseline: what a manager without a
// wheel does, a map of workers under one mutex and one runtime timer per
// worker, reset by every heartbeat.
type naiveWorker struct {
	inc   uint64
	timer *time.Timer
}

type naiveManager struct {
	base    time.Duration
	mu      sync.Mutex
	workers map[string]*naiveWorker // guarded by mu
	expired int
}

func newNaiveManager(base time.Duration) *naiveManager {
	return &naiveManager{base: base, workers: make(map[string]*naiveWorker)}
}

func (m *naiveManager) join(id string, inc uint64) {
	w := &naiveWorker{inc: inc}
	w.timer = time.AfterFunc(m.base, func() {
		m.mu.Lock()
		m.expired++
		m.mu.Unlock()
	})
	m.mu.Lock()
	m.workers[id] = w
	m.mu.Unlock()
}

func (m *naiveManager) heartbeat(id string, inc uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[id]
	if w == nil || inc < w.inc {
		return false
	}
	w.inc = inc
	w.timer.Reset(m.base)
	return true
}

func (m *naiveManager) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.workers {
		w.timer.Stop()
	}
}

// BenchmarkDetectorHeartbeat: one op is one heartbeat of a random worker
// (pre-generated order) among 1M joined, each pushing the deadline later.
// impl=fast is HeartbeatFast (the manager's reader path), impl=detector the
// owner's Heartbeat, impl=naive the map + mutex + timer baseline (by ID,
// as it has no tickets).
func BenchmarkDetectorHeartbeat(b *testing.B) {
	order := heartbeatOrder(detectorWorkers)
	d, tickets := joinedDetector(b, detectorWorkers)
	// A heartbeat message carries its ticket; build it from the worker
	// index, as the wheel's benchmark does (slot i went to worker i, in its
	// first life), rather than from a third array missing the cache.
	for i, t := range tickets {
		if t != (wheel.Ticket{Slot: uint32(i), Gen: 1}) {
			b.Fatalf("worker %d has ticket %v", i, t)
		}
	}
	name := fmt.Sprintf("/workers=%d", detectorWorkers)
	b.Run("impl=fast"+name, func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t := wheel.Ticket{Slot: uint32(order[i&(len(order)-1)]), Gen: 1}
			if !d.HeartbeatFast(wheel.Time(i+1)*1000, t, 0) {
				b.Fatal("fast path refused")
			}
		}
	})
	b.Run("impl=batch"+name, func(b *testing.B) {
		// The manager's path: the heartbeats of one received batch (64)
		// go through HeartbeatFastBatch together.
		var hbs [64]detector.FastHeartbeat
		base := wheel.Time(b.N+1) * 1000 // later than every fast push above
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i += len(hbs) {
			n := min(len(hbs), b.N-i)
			for k := range n {
				hbs[k] = detector.FastHeartbeat{Ticket: wheel.Ticket{Slot: uint32(order[(i+k)&(len(order)-1)]), Gen: 1}}
			}
			if d.HeartbeatFastBatch(base+wheel.Time(i+1)*1000, hbs[:n]) != n {
				b.Fatal("fast path refused")
			}
		}
	})
	b.Run("impl=detector"+name, func(b *testing.B) {
		base := wheel.Time(2*b.N+2) * 1000 // later than every push above
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t := wheel.Ticket{Slot: uint32(order[i&(len(order)-1)]), Gen: 1}
			if o := d.Heartbeat(base+wheel.Time(i+1)*1000, t, 0); o != detector.Accepted {
				b.Fatal(o)
			}
		}
	})
	runtime.KeepAlive(d)
	d, tickets = nil, nil
	runtime.GC()
	b.Run("impl=naive"+name, func(b *testing.B) {
		m := newNaiveManager(time.Hour)
		ids := make([]string, detectorWorkers)
		for i := range ids {
			ids[i] = workerID(i)
			m.join(ids[i], 0)
		}
		defer func() {
			b.StopTimer() // stopping 1M timers is not a heartbeat
			m.close()
		}()
		// The runtime pays a one-time cost (hundreds of ms at 1M timers)
		// on the first resets after the timers were made: keep it out.
		for _, w := range order[:1<<12] {
			m.heartbeat(ids[w], 0)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if !m.heartbeat(ids[order[i&(len(order)-1)]], 0) {
				b.Fatal("naive refused")
			}
		}
	})
}

// BenchmarkDetectorMemory reports the heap bytes per joined worker (16-byte
// IDs) at 1M workers, after GC: the detector's record, ID, map entry, wheel
// slot and alive list, beside the naive baseline's map entry, worker and
// runtime timer.
func BenchmarkDetectorMemory(b *testing.B) {
	measure := func(b *testing.B, build func() any) {
		var perWorker float64
		for range b.N {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			v := build()
			runtime.GC()
			runtime.ReadMemStats(&after)
			perWorker = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / detectorWorkers
			runtime.KeepAlive(v)
			if m, ok := v.(*naiveManager); ok {
				m.close()
			}
		}
		b.ReportMetric(perWorker, "B/worker")
		b.ReportMetric(0, "ns/op")
	}
	name := fmt.Sprintf("/workers=%d", detectorWorkers)
	b.Run("impl=detector"+name, func(b *testing.B) {
		measure(b, func() any {
			cfg := detector.DefaultConfig()
			cfg.MaxWorkers = detectorWorkers
			d, err := detector.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			for i := range detectorWorkers {
				if _, o := d.Join(0, workerID(i), 0); o != detector.Accepted {
					b.Fatal(o)
				}
			}
			return d
		})
	})
	b.Run("impl=naive"+name, func(b *testing.B) {
		measure(b, func() any {
			m := newNaiveManager(time.Hour)
			for i := range detectorWorkers {
				m.join(workerID(i), 0)
			}
			return m
		})
	})
}

// largeScript is a script of 20,000 workers and 30,000 lines: joins over
// the first minute, then heartbeats, extensions, status queries, crashes
// and leaves of random workers, and a run to 5 minutes (probing on: the
// crashed are probed, suspected and evicted; the rest answer probes).
func largeScript() string {
	const workers, lines = 20_000, 30_000
	r := rand.New(rand.NewPCG(11, 12))
	var b strings.Builder
	b.WriteString("config probing=on seed=7\n")
	n := 1
	for i := range workers {
		fmt.Fprintf(&b, "at %dms join w%d\n", i*3, i)
		n++
	}
	at := workers * 3
	progress := 0
	for n < lines-1 {
		at += r.IntN(20)
		w := r.IntN(workers)
		switch k := r.IntN(10); {
		case k < 5:
			fmt.Fprintf(&b, "at %dms heartbeat w%d\n", at, w)
		case k < 7:
			progress++
			fmt.Fprintf(&b, "at %dms extend w%d completed=%d total=1000000\n", at, w, progress)
		case k < 8:
			fmt.Fprintf(&b, "at %dms status w%d\n", at, w)
		case k < 9:
			fmt.Fprintf(&b, "at %dms crash w%d\n", at, w)
		default:
			fmt.Fprintf(&b, "at %dms leave w%d\n", at, w)
		}
		n++
	}
	b.WriteString("run 5m\n")
	return b.String()
}

// BenchmarkSimLargeScript: one op is one `loadgen sim` run of largeScript
// (target: under 2 s).
func BenchmarkSimLargeScript(b *testing.B) {
	script := largeScript()
	if n := strings.Count(script, "\n"); n != 30_000 {
		b.Fatalf("script has %d lines", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := scenario.Run(strings.NewReader(script), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/run")
}

// BenchmarkSimLongIdle: one op is a run of 250 hours of virtual time with 5
// live workers and probing on: none heartbeats, each is probed (and
// answers) every base interval, 30,000 probe rounds each (target: under
// 2 s).
func BenchmarkSimLongIdle(b *testing.B) {
	script := "config probing=on\n"
	for i := range 5 {
		script += fmt.Sprintf("at 0s join w%d\n", i)
	}
	script += "run 250h\n"
	var out strings.Builder
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out.Reset()
		if err := scenario.Run(strings.NewReader(script), &out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := strings.Count(out.String(), "\n"); n != 5 {
		b.Fatalf("want the 5 joins and nothing else (live workers answer every probe), got:\n%s", out.String())
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/run")
}
