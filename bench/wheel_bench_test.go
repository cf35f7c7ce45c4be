package bench

import (
	"container/heap"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/wheel"
)

// BenchmarkMemoryPerSlot reports the heap bytes an armed deadline costs,
// after GC. For the wheel: a wheel sized to the fleet (MaxSlots = 1M, as an
// embedder sizes it) is created first and its fixed tables (shard bucket
// heads, the chunk table) are reported apart as B/wheel; B/slot is what
// allocating and arming 1M slots adds on top, chunk headers included, and
// nothing of the benchmark's own (no ticket array). For the timer: the
// *time.Timer, its closure share and the handle array, per worker.
func BenchmarkMemoryPerSlot(b *testing.B) {
	const n = 1_000_000
	b.Run("impl=wheel/workers=1000000", func(b *testing.B) {
		var before, made, armed runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := wheel.New(wheel.Config{MaxSlots: n})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&made)
		for range n {
			t, err := w.Alloc()
			if err != nil {
				b.Fatal(err)
			}
			w.Arm(t, wheel.Time(time.Hour), true)
		}
		runtime.GC()
		runtime.ReadMemStats(&armed)
		if w.Armed() != n {
			b.Fatalf("%d armed", w.Armed())
		}
		runtime.KeepAlive(w)
		b.ReportMetric((float64(armed.HeapAlloc)-float64(made.HeapAlloc))/n, "B/slot")
		b.ReportMetric(float64(made.HeapAlloc)-float64(before.HeapAlloc), "B/wheel")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("impl=timer/workers=1000000", func(b *testing.B) {
		// One measurement whatever b.N: stopped timers stay reachable from
		// the runtime for a while, so a second round in the same process
		// would count the first one's.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		hb := NewHeartbeater("timer", n, 0, time.Hour)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSlot := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		hb.Close()
		runtime.KeepAlive(hb)
		b.ReportMetric(perSlot, "B/slot")
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkAdvanceIdle: 1M armed slots (deadlines 30 to 60 days out), one op
// advances one 10 ms tick that expires nothing. Baseline: the heap's expiry
// check (peek at the minimum under its lock).
func BenchmarkAdvanceIdle(b *testing.B) {
	const n = 1_000_000
	tick := wheel.Time(10 * time.Millisecond)
	day := wheel.Time(24 * time.Hour)
	r := rand.New(rand.NewPCG(3, 4))
	b.Run("impl=wheel/armed=1000000", func(b *testing.B) {
		w, _ := wheel.New(wheel.Config{})
		for range n {
			t, _ := w.Alloc()
			w.Arm(t, 30*day+wheel.Time(r.Int64N(int64(30*day))), true)
		}
		fired := 0
		fire := func(wheel.Time, []wheel.Expired) { fired++ }
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			w.Advance(wheel.Time(i+1)*tick, fire)
		}
		b.StopTimer()
		if fired != 0 {
			b.Fatalf("%d ticks fired", fired)
		}
	})
	b.Run("impl=heap/armed=1000000", func(b *testing.B) {
		h := newHeapBeater(n, 30*day, 0)
		for i := range n {
			h.h.deadline[i] += wheel.Time(r.Int64N(int64(30 * day)))
		}
		heap.Init(&h.h)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			h.Expire(wheel.Time(i+1) * tick)
		}
	})
}

// BenchmarkExpire: one op is one expired deadline. Rounds of 65536 slots are
// armed (untimed) over the next 64 ticks, then one timed Advance expires them
// all, in per-tick batches sorted by (Deadline, Slot). Baseline: heap pops.
func BenchmarkExpire(b *testing.B) {
	const round = 1 << 16
	tick := wheel.Time(10 * time.Millisecond)
	b.Run("impl=wheel", func(b *testing.B) {
		w, _ := wheel.New(wheel.Config{})
		tickets := make([]wheel.Ticket, round)
		for i := range tickets {
			tickets[i], _ = w.Alloc()
		}
		r := rand.New(rand.NewPCG(5, 6))
		expired := 0
		fire := func(_ wheel.Time, batch []wheel.Expired) { expired += len(batch) }
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; done += round {
			b.StopTimer()
			now := w.Now()
			for _, t := range tickets[:min(round, b.N-done)] {
				w.Arm(t, now+1+wheel.Time(r.Int64N(int64(64*tick))), false)
			}
			b.StartTimer()
			w.Advance(now+65*tick, fire)
		}
		b.StopTimer()
		if expired != b.N {
			b.Fatalf("expired %d of %d", expired, b.N)
		}
	})
	b.Run("impl=heap", func(b *testing.B) {
		h := newHeapBeater(round, 0, 0)
		r := rand.New(rand.NewPCG(5, 6))
		b.ReportAllocs()
		b.ResetTimer()
		now := wheel.Time(0)
		for done := 0; done < b.N; done += round {
			b.StopTimer()
			k := min(round, b.N-done)
			h.h.deadline, h.h.worker = h.h.deadline[:k], h.h.worker[:k]
			for i := range k {
				h.h.deadline[i], h.h.worker[i], h.h.pos[i] = now+1+wheel.Time(r.Int64N(int64(64*tick))), int32(i), int32(i)
			}
			heap.Init(&h.h)
			before := h.expired
			b.StartTimer()
			now += 65 * tick
			h.Expire(now)
			if h.expired-before != int64(k) {
				b.Fatalf("heap expired %d of %d", h.expired-before, k)
			}
		}
	})
}
