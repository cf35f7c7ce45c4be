// Command steady drives workers that each heartbeat once per second, in a
// shuffled order, for a while of real time, and reports the process CPU per
// heartbeat (user+sys, all threads, GC and the expiry loop included) for the
// timing wheel (one PushLater a heartbeat, and PushLaterBatch over batches of
// 64 as a receive loop reading with recvmmsg sees them), one *time.Timer per
// worker, and a mutex-guarded heap. With -runs N it repeats the round N
// times and reports the medians, and the ratios of the medians.
//
//	go run ./bench/cmd/steady -workers 1000000 -duration 20s -runs 5
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/swimwheel/swimwheel/bench"
)

func main() {
	workers := flag.Int("workers", 1_000_000, "number of workers")
	duration := flag.Duration("duration", 20*time.Second, "measured time per implementation")
	base := flag.Duration("base", 30*time.Second, "deadline after each heartbeat")
	runs := flag.Int("runs", 1, "rounds over every implementation; medians are reported")
	flag.Parse()
	if *workers < 100 || *duration < 100*time.Millisecond || *base <= *duration/time.Duration(*workers) || *runs < 1 {
		fmt.Fprintln(os.Stderr, "steady: need -workers >= 100, -duration >= 100ms, -base > 0, -runs >= 1")
		os.Exit(2)
	}
	perImpl := map[string][]time.Duration{}
	for range *runs {
		for _, r := range bench.RunSteadyAll(bench.SteadyConfig{Workers: *workers, Duration: *duration, Base: *base}, os.Stdout) {
			perImpl[r.Impl] = append(perImpl[r.Impl], r.CPUPerHeartbeat())
		}
	}
	median := map[string]time.Duration{}
	for _, impl := range bench.Impls {
		v := slices.Sorted(slices.Values(perImpl[impl]))
		median[impl] = v[len(v)/2]
		if *runs > 1 {
			fmt.Printf("median impl=%-11s cpu/heartbeat=%v of %v\n", impl, median[impl], v)
		}
	}
	for _, w := range bench.Impls {
		if !strings.HasPrefix(w, "wheel") {
			continue
		}
		for _, r := range bench.Impls {
			if !strings.HasPrefix(r, "wheel") {
				fmt.Printf("%s cpu/heartbeat vs %s: 1/%.1f\n", w, r,
					float64(median[r])/float64(max(median[w], 1)))
			}
		}
	}
}
