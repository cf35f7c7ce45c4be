package wheel

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func TestFootprint(t *testing.T) {
	perSlot := unsafe.Sizeof(atomic.Uint64{}) + unsafe.Sizeof(link{})
	if perSlot != 16 {
		t.Fatalf("per-slot footprint %d bytes, want 16", perSlot)
	}
	// A chunk is one array of words, its links in the second half.
	if unsafe.Sizeof(link{}) != unsafe.Sizeof(atomic.Uint64{}) || unsafe.Alignof(link{}) > unsafe.Alignof(atomic.Uint64{}) {
		t.Fatalf("link %d bytes aligned %d, want a word's", unsafe.Sizeof(link{}), unsafe.Alignof(link{}))
	}
	if s := unsafe.Sizeof(Ticket{}); s != 8 {
		t.Fatalf("Ticket %d bytes, want 8", s)
	}
	if s := unsafe.Sizeof(Expired{}); s != 16 {
		t.Fatalf("Expired %d bytes, want 16", s)
	}
	// The shard's lock must not share a cache line with the next shard's.
	if s := unsafe.Sizeof(shard{}); s%cacheLine != 0 {
		t.Fatalf("shard %d bytes", s)
	}
}

func TestValidate(t *testing.T) {
	type testCase struct {
		cfg  Config
		want string
	}
	cases := []testCase{
		{Config{}, ""},
		{Config{Tick: time.Millisecond, Shards: 8, MaxSlots: 10}, ""},
		{Config{Tick: -1}, "Tick -1ns is negative"},
		{Config{Tick: 1500 * time.Nanosecond}, "Tick 1.5µs is not a whole number of microseconds"},
		{Config{Shards: 3}, "Shards 3 is not a power of two"},
		{Config{Shards: -2}, "Shards -2 is negative"},
		{Config{Shards: 1 << 13}, "Shards 8192 is above 4096"},
		{Config{MaxSlots: -1}, "MaxSlots -1 is negative"},
	}
	if math.MaxInt > MaxSlotsLimit { // not on 32-bit platforms
		cases = append(cases, testCase{Config{MaxSlots: math.MaxInt}, "is above 2147483647"})
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.cfg, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), "wheel: ") {
			t.Errorf("%+v: %v, want ErrConfig with %q", tc.cfg, err, tc.want)
		}
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("New(%+v) accepted", tc.cfg)
		}
	}
}

func TestLifecycle(t *testing.T) {
	w, err := New(Config{Tick: 10 * time.Millisecond, Shards: 2, MaxSlots: 2})
	if err != nil {
		t.Fatal(err)
	}
	if w.Valid(Ticket{}) {
		t.Fatal("zero Ticket valid")
	}
	a, _ := w.Alloc()
	b, _ := w.Alloc()
	if _, err := w.Alloc(); !errors.Is(err, ErrFull) {
		t.Fatalf("third Alloc: %v, want ErrFull", err)
	}
	if !w.Arm(a, 25*Time(time.Millisecond), true) || !w.Arm(b, 5*Time(time.Millisecond), false) {
		t.Fatal("Arm failed")
	}
	if w.PushLater(b, Time(time.Second)) {
		t.Fatal("PushLater on a non-pushable slot succeeded")
	}
	if !w.PushLater(a, 31*Time(time.Millisecond)) {
		t.Fatal("PushLater failed")
	}
	if d, ok := w.NextDeadline(); !ok || d != Time(10*time.Millisecond) {
		t.Fatalf("NextDeadline = %v, %v", d, ok)
	}
	var got []Expired
	var ats []Time
	w.Advance(Time(time.Second), func(at Time, batch []Expired) {
		ats = append(ats, at)
		got = append(got, batch...)
	})
	want := []Expired{{b, Time(5 * time.Millisecond)}, {a, Time(31 * time.Millisecond)}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] ||
		ats[0] != Time(10*time.Millisecond) || ats[1] != Time(40*time.Millisecond) {
		t.Fatalf("fired %v at %v, want %v at [10ms 40ms]", got, ats, want)
	}
	if !w.Free(a) || w.Free(a) || w.Valid(a) || w.Arm(a, 0, false) {
		t.Fatal("stale ticket accepted after Free")
	}
	c, _ := w.Alloc()
	if c.Slot != a.Slot || c.Gen != a.Gen+2 {
		t.Fatalf("reuse gave %v after %v", c, a)
	}
}

// TestPrefetchChangesNothing: the prefetches take any slot, allocated or
// not, in a chunk that exists or not, in range or not (the reader issues
// them on unverified input), and leave the wheel as it was.
func TestPrefetchChangesNothing(t *testing.T) {
	// Three chunks' worth of capacity, the last one short; only the first
	// chunk is allocated.
	w, err := New(Config{Shards: 2, MaxSlots: 2*chunkSize + 7})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := w.Alloc()
	if !w.Arm(a, Time(time.Second), true) {
		t.Fatal("Arm failed")
	}
	next, _ := w.NextDeadline()
	for _, s := range []uint32{a.Slot, a.Slot + 1, chunkSize - 1, chunkSize, 2*chunkSize + 6, 2*chunkSize + 7, 1<<32 - 1} {
		w.Prefetch(s)
		w.PrefetchLinks(s)
	}
	if d, ok := w.NextDeadline(); !ok || d != next {
		t.Fatalf("NextDeadline = %v, %v after the prefetches, %v before", d, ok, next)
	}
	if dl, ok := w.Seal(a); !ok || dl != Time(time.Second) {
		t.Fatalf("Seal = %v, %v after the prefetches", dl, ok)
	}
}

// TestIdleJump advances over years of 1 µs ticks with a few deadlines: only
// jumping between non-empty buckets makes this finish.
func TestIdleJump(t *testing.T) {
	w, _ := New(Config{Tick: time.Microsecond, Shards: 4, MaxSlots: 8})
	day := Time(24 * time.Hour)
	for i, d := range []Time{day, 30 * day, 400 * day, 3 * 365 * day} {
		tk, _ := w.Alloc()
		w.Arm(tk, d+Time(i), false)
	}
	var fired []Time
	w.Advance(4*365*day, func(at Time, batch []Expired) {
		for _, e := range batch {
			if at != e.Deadline { // a 1 µs tick: exactly at the stored deadline
				t.Errorf("%v fired at %v", e.Deadline, at)
			}
			fired = append(fired, e.Deadline)
		}
	})
	if len(fired) != 4 || w.Armed() != 0 {
		t.Fatalf("fired %v", fired)
	}
}

func TestAdvancePanicsWhenReentered(t *testing.T) {
	w, _ := New(Config{MaxSlots: 1})
	tk, _ := w.Alloc()
	w.Arm(tk, 1, false)
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("reentrant Advance did not panic")
		}
	}()
	w.Advance(Time(time.Second), func(Time, []Expired) { w.Advance(Time(2*time.Second), nil) })
}

// TestConcurrentPushDuringAdvance: several goroutines push deadlines later,
// some one at a time and some in batches (PushLaterBatch), while one goroutine advances with manual time values and another re-arms
// and cancels other slots. After the pushes stop every pushed slot fires
// exactly once, with the latest deadline any successful push set, never
// before it.
func TestConcurrentPushDuringAdvance(t *testing.T) {
	const (
		n       = 2048
		pushers = 4
		pushes  = 20_000
		ms      = Time(time.Millisecond)
	)
	w, _ := New(Config{Tick: time.Millisecond, Shards: 4, MaxSlots: 2 * n})
	tickets := make([]Ticket, n)
	latest := make([]atomic.Int64, n) // the latest deadline set, in ns (multiples of 1 µs)
	for i := range tickets {
		tickets[i], _ = w.Alloc()
		d := Time(10+i%50) * ms
		w.Arm(tickets[i], d, true)
		latest[i].Store(int64(d))
	}
	others := make([]Ticket, n)
	for i := range others {
		others[i], _ = w.Alloc()
	}

	var running atomic.Int32
	var wg sync.WaitGroup
	for g := range pushers {
		running.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer running.Add(-1)
			r := rand.New(rand.NewPCG(uint64(g), 7))
			record := func(i int, d Time) {
				for { // atomic max
					old := latest[i].Load()
					if int64(d) <= old || latest[i].CompareAndSwap(old, int64(d)) {
						break
					}
				}
			}
			pick := func() (int, Time) {
				return r.IntN(n), w.Now() + Time(r.IntN(30))*ms + Time(r.IntN(1000))*Time(time.Microsecond)
			}
			if g%2 == 1 { // half of the pushers send batches
				ps := make([]Push, 0, 2*pushGroup+8)
				idx := make([]int, 0, cap(ps))
				for k := 0; k < pushes; k += len(ps) {
					ps, idx = ps[:0], idx[:0]
					for range 1 + r.IntN(cap(ps)) {
						i, d := pick()
						if len(idx) > 0 && r.IntN(8) == 0 {
							i = idx[r.IntN(len(idx))] // the same slot twice
						}
						ps = append(ps, Push{Ticket: tickets[i], Deadline: d})
						idx = append(idx, i)
					}
					w.PushLaterBatch(ps)
					for j, p := range ps {
						if p.OK {
							record(idx[j], p.Deadline)
						}
					}
				}
				return
			}
			for range pushes {
				i, d := pick()
				if w.PushLater(tickets[i], d) {
					record(i, d)
				}
			}
		}()
	}
	running.Add(1)
	wg.Add(1)
	go func() { // arms and cancels on other slots, under the shard locks
		defer wg.Done()
		defer running.Add(-1)
		r := rand.New(rand.NewPCG(99, 7))
		for range pushes {
			tk := others[r.IntN(n)]
			if r.IntN(4) == 0 {
				w.Cancel(tk)
			} else {
				w.Arm(tk, w.Now()+Time(r.IntN(40))*ms, r.IntN(2) == 0)
			}
		}
	}()

	type firing struct {
		count    int
		deadline Time
		at       Time
	}
	fired := make([]firing, n)
	isPushed := make(map[uint32]int, n)
	for i, tk := range tickets {
		isPushed[tk.Slot] = i
	}
	record := func(at Time, batch []Expired) {
		for _, e := range batch {
			if i, ok := isPushed[e.Ticket.Slot]; ok {
				fired[i].count++
				fired[i].deadline, fired[i].at = e.Deadline, at
			} else if e.Deadline > at {
				t.Errorf("slot %d fired at %d before its deadline %d", e.Ticket.Slot, at, e.Deadline)
			}
		}
	}
	now := Time(0)
	for running.Load() > 0 {
		now += ms
		w.Advance(now, record)
	}
	wg.Wait()
	w.Advance(now+Time(time.Hour), record)
	for i := range fired {
		f := fired[i]
		want := Time(latest[i].Load())
		if f.count != 1 || f.deadline != want || f.at < want {
			t.Fatalf("slot %d: fired %d times, deadline %d at %d; latest deadline set %d", i, f.count, f.deadline, f.at, want)
		}
	}
	if w.Armed() != 0 {
		t.Fatalf("%d still armed", w.Armed())
	}
	checkInvariants(t, w)
}
