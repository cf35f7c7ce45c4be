package bench

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/wheel"
)

var heartbeatWorkers = []int{100_000, 1_000_000}

// heartbeatOrder is the pre-generated random order of workers, the same for
// every implementation.
func heartbeatOrder(n int) []int32 {
	r := rand.New(rand.NewPCG(42, uint64(n)))
	order := make([]int32, 1<<20)
	for i := range order {
		order[i] = int32(r.IntN(n))
	}
	return order
}

// BenchmarkHeartbeat: one op is one heartbeat pushing a random worker's
// deadline later (by at least 1 µs, so that every push stores). wheel-batch
// takes the same heartbeats in the same order, pushed in batches of
// BatchSize.
func BenchmarkHeartbeat(b *testing.B) {
	for _, n := range heartbeatWorkers {
		order := heartbeatOrder(n)
		for _, impl := range Impls {
			b.Run(fmt.Sprintf("impl=%s/workers=%d", impl, n), func(b *testing.B) {
				hb := NewHeartbeater(impl, n, 0, time.Hour)
				defer hb.Close()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					hb.Beat(int(order[i&(len(order)-1)]), wheel.Time(i)*1000)
				}
				hb.Flush()
			})
		}
	}
}

// BenchmarkHeartbeatParallel is BenchmarkHeartbeat from GOMAXPROCS goroutines.
func BenchmarkHeartbeatParallel(b *testing.B) {
	for _, n := range heartbeatWorkers {
		order := heartbeatOrder(n)
		for _, impl := range Impls {
			b.Run(fmt.Sprintf("impl=%s/workers=%d", impl, n), func(b *testing.B) {
				hb := NewHeartbeater(impl, n, 0, time.Hour)
				defer hb.Close()
				var goroutines atomic.Int32
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(goroutines.Add(1)) << 16
					local := hb.Local()
					for k := 0; pb.Next(); k++ {
						local.Beat(int(order[(i+k)&(len(order)-1)]), wheel.Time(k)*1000)
					}
					local.Flush()
				})
			})
		}
	}
}

// BenchmarkSteadyState is a small form of cmd/steady: 100k workers
// heartbeating once a second for one second of real time, process CPU per
// heartbeat (all threads, GC and the expiry loop included) as cpu-ns/heartbeat.
func BenchmarkSteadyState(b *testing.B) {
	for _, impl := range Impls {
		b.Run("impl="+impl+"/workers=100000", func(b *testing.B) {
			var r SteadyResult
			for range b.N {
				r = RunSteady(impl, SteadyConfig{Workers: 100_000, Duration: time.Second})
			}
			b.ReportMetric(float64(r.CPUPerHeartbeat().Nanoseconds()), "cpu-ns/heartbeat")
			b.ReportMetric(0, "ns/op")
		})
	}
}
