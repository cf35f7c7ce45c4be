// Command steady drives workers that each heartbeat once per second, in a
// shuffled order, for a while of real time, and reports the process CPU per
// heartbeat (user+sys, all threads, GC and the expiry loop included) for the
// timing wheel, one *time.Timer per worker, and a mutex-guarded heap.
//
//	go run ./bench/cmd/steady -workers 1000000 -duration 20s
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/swimwheel/swimwheel/bench"
)

func main() {
	workers := flag.Int("workers", 1_000_000, "number of workers")
	duration := flag.Duration("duration", 20*time.Second, "measured time per implementation")
	base := flag.Duration("base", 30*time.Second, "deadline after each heartbeat")
	flag.Parse()
	if *workers < 100 || *duration < 100*time.Millisecond || *base <= *duration/time.Duration(*workers) {
		fmt.Fprintln(os.Stderr, "steady: need -workers >= 100, -duration >= 100ms, -base > 0")
		os.Exit(2)
	}
	rs := bench.RunSteadyAll(bench.SteadyConfig{Workers: *workers, Duration: *duration, Base: *base}, os.Stdout)
	for _, r := range rs[1:] {
		fmt.Printf("wheel cpu/heartbeat vs %s: 1/%.1f\n", r.Impl,
			float64(r.CPUPerHeartbeat())/float64(max(rs[0].CPUPerHeartbeat(), 1)))
	}
}
