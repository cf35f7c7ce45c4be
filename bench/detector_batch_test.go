package bench

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wheel"
)

// BenchmarkDetectorHeartbeatBatch: one op is one heartbeat of a random
// worker (the pre-generated order of BenchmarkHeartbeat) among n joined,
// each pushing the deadline later. impl=batch hands them to
// HeartbeatFastBatch in batches of BatchSize, as a reader does with what one
// recvmmsg returned; impl=fast is the unbatched HeartbeatFast, the baseline,
// on the same detector in the same run.
func BenchmarkDetectorHeartbeatBatch(b *testing.B) {
	for _, n := range heartbeatWorkers {
		order := heartbeatOrder(n)
		d, tickets := joinedDetector(b, n)
		for i, t := range tickets {
			if t != (wheel.Ticket{Slot: uint32(i), Gen: 1}) {
				b.Fatalf("worker %d has ticket %v", i, t)
			}
		}
		tickets = nil
		// now only grows across the sub-benchmarks, so every push stores.
		now := wheel.Time(0)
		b.Run(fmt.Sprintf("impl=fast/workers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now += 1000
				t := wheel.Ticket{Slot: uint32(order[i&(len(order)-1)]), Gen: 1}
				if !d.HeartbeatFast(now, t, 0) {
					b.Fatal("fast path refused")
				}
			}
		})
		b.Run(fmt.Sprintf("impl=batch/workers=%d", n), func(b *testing.B) {
			var hbs [BatchSize]detector.FastHeartbeat
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(hbs) {
				k := min(len(hbs), b.N-i)
				for j := range k {
					hbs[j] = detector.FastHeartbeat{Ticket: wheel.Ticket{Slot: uint32(order[(i+j)&(len(order)-1)]), Gen: 1}}
				}
				now += 1000
				if d.HeartbeatFastBatch(now, hbs[:k]) != k {
					b.Fatal("fast path refused")
				}
			}
		})
		runtime.KeepAlive(d)
		d = nil
		runtime.GC()
	}
}
