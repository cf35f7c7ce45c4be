// Package bench holds the benchmarks of swimwheel and the baselines they are
// compared against in the same run.
package bench

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swimwheel/swimwheel/wheel"
)

// Heartbeater is one way of keeping a deadline per worker: the wheel, one
// *time.Timer per worker, or a mutex-guarded binary heap.
type Heartbeater interface {
	// Beat pushes worker i's deadline to now+base (later than before).
	Beat(i int, now wheel.Time)
	// Flush applies heartbeats Beat held back to apply as one batch, as a
	// receive loop does at the end of each read; a no-op for the others.
	Flush()
	// Expire runs the expiry loop's work for one tick at now (after Flush).
	Expire(now wheel.Time)
	// Expired counts the deadlines that fired.
	Expired() int64
	// Close releases the workers.
	Close()
	// Local returns a handle for one more goroutine that beats concurrently
	// with the others: wheel-batch's batch is not shared; the others return
	// themselves.
	Local() Heartbeater
}

// Impls are the implementations, in report order. wheel-batch is the wheel
// fed in batches of BatchSize heartbeats through PushLaterBatch, as a
// receive loop that reads with recvmmsg would feed it.
var Impls = []string{"wheel", "wheel-batch", "timer", "heap"}

// BatchSize is the batch of wheel-batch: what one recvmmsg call returns at
// most in the transport.
const BatchSize = 64

// NewHeartbeater arms n workers at now+base with the named implementation.
func NewHeartbeater(impl string, n int, now wheel.Time, base time.Duration) Heartbeater {
	switch impl {
	case "wheel":
		return newWheelBeater(n, now, base)
	case "wheel-batch":
		return &wheelBatchBeater{wheelBeater: newWheelBeater(n, now, base)}
	case "timer":
		return newTimerBeater(n, base)
	case "heap":
		return newHeapBeater(n, now, base)
	}
	panic("bench: unknown impl " + impl)
}

type wheelBeater struct {
	w       *wheel.Wheel
	tickets []wheel.Ticket
	base    wheel.Time
	expired int64
	fire    func(wheel.Time, []wheel.Expired)
}

func newWheelBeater(n int, now wheel.Time, base time.Duration) *wheelBeater {
	w, err := wheel.New(wheel.Config{})
	if err != nil {
		panic(err)
	}
	b := &wheelBeater{w: w, tickets: make([]wheel.Ticket, n), base: wheel.Time(base)}
	for i := range b.tickets {
		if b.tickets[i], err = w.Alloc(); err != nil {
			panic(err)
		}
		if b.tickets[i] != (wheel.Ticket{Slot: uint32(i), Gen: 1}) {
			panic("bench: unexpected ticket")
		}
		w.Arm(b.tickets[i], now+b.base, true)
	}
	b.fire = func(_ wheel.Time, batch []wheel.Expired) { b.expired += int64(len(batch)) }
	return b
}

// Beat builds the ticket from the worker index, as a heartbeat message carries
// it (slot i was allocated to worker i, in its first life); timer and heap
// index their handle arrays instead.
func (b *wheelBeater) Beat(i int, now wheel.Time) {
	b.w.PushLater(wheel.Ticket{Slot: uint32(i), Gen: 1}, now+b.base)
}
func (b *wheelBeater) Flush()                {}
func (b *wheelBeater) Expire(now wheel.Time) { b.w.Advance(now, b.fire) }
func (b *wheelBeater) Expired() int64        { return b.expired }
func (b *wheelBeater) Close()                {}
func (b *wheelBeater) Local() Heartbeater    { return b }

// wheelBatchBeater collects heartbeats into a batch of up to BatchSize and
// pushes them with one PushLaterBatch call.
type wheelBatchBeater struct {
	*wheelBeater
	n     int
	batch [BatchSize]wheel.Push
}

func (b *wheelBatchBeater) Beat(i int, now wheel.Time) {
	b.batch[b.n] = wheel.Push{Ticket: wheel.Ticket{Slot: uint32(i), Gen: 1}, Deadline: now + b.base}
	if b.n++; b.n == len(b.batch) {
		b.Flush()
	}
}

func (b *wheelBatchBeater) Flush() {
	b.w.PushLaterBatch(b.batch[:b.n])
	b.n = 0
}

func (b *wheelBatchBeater) Local() Heartbeater {
	return &wheelBatchBeater{wheelBeater: b.wheelBeater}
}

func (b *wheelBatchBeater) Expire(now wheel.Time) {
	b.Flush()
	b.wheelBeater.Expire(now)
}

type timerBeater struct {
	timers  []*time.Timer
	base    time.Duration
	expired atomic.Int64
}

func newTimerBeater(n int, base time.Duration) *timerBeater {
	b := &timerBeater{timers: make([]*time.Timer, n), base: base}
	fire := func() { b.expired.Add(1) }
	for i := range b.timers {
		b.timers[i] = time.AfterFunc(base, fire)
	}
	return b
}

func (b *timerBeater) Beat(i int, _ wheel.Time) { b.timers[i].Reset(b.base) }
func (b *timerBeater) Flush()                   {}
func (b *timerBeater) Local() Heartbeater       { return b }
func (b *timerBeater) Expire(wheel.Time)        {} // the runtime runs the timers
func (b *timerBeater) Expired() int64           { return b.expired.Load() }
func (b *timerBeater) Close() {
	for _, t := range b.timers {
		t.Stop()
	}
}

// deadlineHeap is a min-heap of worker deadlines; pos[i] is worker i's index.
type deadlineHeap struct {
	deadline []wheel.Time
	worker   []int32
	pos      []int32
}

func (h *deadlineHeap) Len() int           { return len(h.deadline) }
func (h *deadlineHeap) Less(i, j int) bool { return h.deadline[i] < h.deadline[j] }
func (h *deadlineHeap) Swap(i, j int) {
	h.deadline[i], h.deadline[j] = h.deadline[j], h.deadline[i]
	h.worker[i], h.worker[j] = h.worker[j], h.worker[i]
	h.pos[h.worker[i]] = int32(i)
	h.pos[h.worker[j]] = int32(j)
}
func (h *deadlineHeap) Push(any) { panic("bench: fixed-size heap") }
func (h *deadlineHeap) Pop() any {
	n := len(h.deadline) - 1
	h.pos[h.worker[n]] = -1
	h.deadline, h.worker = h.deadline[:n], h.worker[:n]
	return nil
}

type heapBeater struct {
	mu      sync.Mutex
	h       deadlineHeap
	base    wheel.Time
	expired int64
}

func newHeapBeater(n int, now wheel.Time, base time.Duration) *heapBeater {
	b := &heapBeater{base: wheel.Time(base)}
	b.h = deadlineHeap{deadline: make([]wheel.Time, n), worker: make([]int32, n), pos: make([]int32, n)}
	for i := range n {
		b.h.deadline[i], b.h.worker[i], b.h.pos[i] = now+b.base, int32(i), int32(i)
	}
	heap.Init(&b.h)
	return b
}

func (b *heapBeater) Beat(i int, now wheel.Time) {
	b.mu.Lock()
	if p := b.h.pos[i]; p >= 0 {
		b.h.deadline[p] = now + b.base
		heap.Fix(&b.h, int(p))
	}
	b.mu.Unlock()
}

func (b *heapBeater) Flush()             {}
func (b *heapBeater) Local() Heartbeater { return b }

func (b *heapBeater) Expire(now wheel.Time) {
	b.mu.Lock()
	for len(b.h.deadline) > 0 && b.h.deadline[0] <= now {
		heap.Pop(&b.h)
		b.expired++
	}
	b.mu.Unlock()
}

func (b *heapBeater) Expired() int64 { return b.expired }
func (b *heapBeater) Close()         {}
