package bench

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"syscall"
	"time"

	"github.com/swimwheel/swimwheel/wheel"
)

// SteadyConfig describes a steady-state run: Workers heartbeat once per
// second each, in a shuffled order, spread evenly over 10 ms ticks, for
// Duration of real time; the expiry loop runs every tick. wheel-batch takes
// each tick's heartbeats in batches of BatchSize, the last one partial.
type SteadyConfig struct {
	Workers  int
	Duration time.Duration
	Base     time.Duration // deadline = heartbeat time + Base
}

// SteadyResult is the process CPU (user+sys, all threads, GC included) spent
// by one implementation during the run.
type SteadyResult struct {
	Impl       string
	Heartbeats int64
	CPU        time.Duration
	Wall       time.Duration
	Expired    int64 // deadlines that fired (0 when every worker keeps up)
}

// CPUPerHeartbeat is CPU divided by heartbeats.
func (r SteadyResult) CPUPerHeartbeat() time.Duration {
	return r.CPU / time.Duration(max(r.Heartbeats, 1))
}

func (r SteadyResult) String() string {
	return fmt.Sprintf("impl=%-11s heartbeats=%d cpu=%v wall=%v cpu/heartbeat=%v expired=%d",
		r.Impl, r.Heartbeats, r.CPU.Round(time.Millisecond), r.Wall.Round(time.Millisecond), r.CPUPerHeartbeat(), r.Expired)
}

const steadyTick = 10 * time.Millisecond

// RunSteady measures one implementation.
func RunSteady(impl string, cfg SteadyConfig) SteadyResult {
	if cfg.Base == 0 {
		cfg.Base = 30 * time.Second
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(cfg.Workers) // same order for every impl
	epoch := time.Now()
	now := func() wheel.Time { return wheel.Time(time.Since(epoch)) }
	hb := NewHeartbeater(impl, cfg.Workers, now(), cfg.Base)
	defer hb.Close()
	runtime.GC()

	perTick := cfg.Workers / int(time.Second/steadyTick)
	ticks := int(cfg.Duration / steadyTick)
	cpu0 := processCPU()
	start := time.Now()
	var beats int64
	next := 0
	for k := 1; k <= ticks; k++ {
		t := now()
		for range perTick {
			hb.Beat(order[next], t)
			if next++; next == len(order) {
				next = 0
			}
		}
		hb.Flush() // the end of the tick's reads
		beats += int64(perTick)
		hb.Expire(now())
		if d := time.Until(start.Add(time.Duration(k) * steadyTick)); d > 0 {
			time.Sleep(d)
		}
	}
	return SteadyResult{Impl: impl, Heartbeats: beats, CPU: processCPU() - cpu0, Wall: time.Since(start), Expired: hb.Expired()}
}

// RunSteadyAll measures every implementation in one process, writing each
// result to out as it completes.
func RunSteadyAll(cfg SteadyConfig, out io.Writer) []SteadyResult {
	var rs []SteadyResult
	for _, impl := range Impls {
		r := RunSteady(impl, cfg)
		if out != nil {
			fmt.Fprintln(out, r)
		}
		rs = append(rs, r)
		runtime.GC()
	}
	return rs
}

// processCPU returns user+sys CPU of the whole process (all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
