package extension

import (
	"math"
	"testing"
	"time"
)

func FuzzDecide(f *testing.F) {
	f.Add(int64(30e9), int64(1e9), uint8(5), uint8(1), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 200, 7, 7, 7})
	f.Add(int64(4e9), int64(1e9), uint8(8), uint8(0), []byte{0x11, 0x21, 0x31, 0x41, 0x51, 0x61, 0x71, 0x81, 0x91})
	f.Add(int64(1), int64(1<<30), uint8(3), uint8(9), []byte{2, 0xff, 3, 0xfe, 0, 4, 4, 4, 4})
	f.Fuzz(func(t *testing.T, base, minGrant int64, maxExt, warn uint8, ops []byte) {
		p := Policy{
			Base:          1 + time.Duration(uint64(base)%(1<<40)),
			MinGrant:      1 + time.Duration(uint64(minGrant)%(1<<40)),
			MaxExtensions: int(maxExt),
			WarnRemaining: int(warn % 16),
		}
		checkSequence(t, p, ops)
	})
}

// fractions are the interesting values a request may carry, exact
// neighbours and invalid ones included.
var fractions = []float64{
	0, 0.5, 0.99, 0.995, 0.996, 0.999, math.Nextafter(0.999, 1), 1,
	math.NaN(), -0.1, 1.1, math.Inf(1), math.Inf(-1), math.Copysign(0, -1),
	math.SmallestNonzeroFloat64, math.Nextafter(1, 0),
}

// checkSequence interprets ops as a sequence of resets and requests, runs it
// against p.Decide and the reference, and checks the invariants after every
// step. It returns the number of operations run.
func checkSequence(t *testing.T, p Policy, ops []byte) int {
	t.Helper()
	ref := reference{policy: p}
	var (
		s        State
		now      time.Duration
		deadline = p.Base
		cycleSum time.Duration
		warnings int
		k        int       // grants so far this cycle, counted here
		last     *Progress // last granted progress this cycle, tracked here
		n        int
	)
	// The bound of the package doc, in uint64 so it cannot overflow with
	// the policies the tests build (Base, MinGrant < 2^41, at most 255 grants).
	bound := 2*uint64(p.Base) + uint64(p.MaxExtensions)*uint64(p.MinGrant)
	for len(ops) > 0 {
		op := ops[0]
		ops = ops[1:]
		n++
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		if op&0x0f == 0 {
			s.Reset()
			ref.reset()
			if s != (State{}) || s.Used() != 0 || s.Warned() || p.Remaining(s) != max(0, p.MaxExtensions) {
				t.Fatalf("after Reset: %+v", s)
			}
			cycleSum, warnings, k, last = 0, 0, 0, nil
			continue
		}
		var prog Progress
		if op&0x10 != 0 {
			prog.HasCount = true
			prog.Completed = uint64(next() % 16)
			if b := next(); b&1 != 0 {
				prog.Total = uint64(b >> 4)
			}
		}
		if op&0x20 != 0 {
			prog.HasFraction = true
			if b := next(); b&0x80 != 0 {
				prog.Fraction = fractions[int(b)%len(fractions)]
			} else {
				prog.Fraction = float64(b) / 127
			}
		}
		now += time.Duration(next()) * 100 * time.Millisecond
		if op&0x40 != 0 {
			// A deadline set elsewhere (a heartbeat), past or future.
			deadline = now + time.Duration(int8(next()))*time.Second
		}
		if op&0x80 != 0 {
			// Exercise saturation near the largest instant.
			deadline = math.MaxInt64 - time.Duration(next())*time.Second
		}

		before := s
		got := p.Decide(&s, Request{Progress: prog}, now, deadline)
		want := ref.decide(prog, now, deadline)
		if got != want {
			t.Fatalf("op %d: progress %+v now %v deadline %v state %+v:\nDecide    = %+v\nreference = %+v",
				n, prog, now, deadline, before, got, want)
		}
		if got.Remaining < 0 || p.Remaining(s) < 0 {
			t.Fatalf("op %d: negative remaining: %+v", n, got)
		}
		if !got.Granted {
			if got.Reason == Granted || got.Deadline != deadline || s != before || got.Grant != 0 || got.Warning {
				t.Fatalf("op %d: denial %+v changed something (state %+v -> %+v)", n, got, before, s)
			}
			continue
		}
		// Granted.
		if got.Reason != Granted {
			t.Fatalf("op %d: granted with reason %v", n, got.Reason)
		}
		if got.Grant != max(p.MinGrant, p.Base>>k) {
			t.Fatalf("op %d: grant %v is not max(%v, %v>>%d)", n, got.Grant, p.MinGrant, p.Base, k)
		}
		if p.MinGrant <= p.Base && got.Grant > p.Base {
			t.Fatalf("op %d: grant %v above base %v", n, got.Grant, p.Base)
		}
		if k > 0 {
			progressed := (prog.HasCount && last.HasCount && prog.Completed > last.Completed) ||
				(!(prog.HasCount && last.HasCount) && prog.HasFraction && last.HasFraction && prog.Fraction > last.Fraction)
			if !progressed {
				t.Fatalf("op %d: grant %d of the cycle without progress: %+v after %+v", n, k, prog, *last)
			}
		}
		start := max(deadline, now)
		if got.Deadline < start || (got.Deadline != math.MaxInt64 && got.Deadline != start+got.Grant) {
			t.Fatalf("op %d: deadline %v, want %v + %v", n, got.Deadline, start, got.Grant)
		}
		k++
		cycleSum += got.Grant
		if uint64(cycleSum) > bound {
			t.Fatalf("op %d: grants of the cycle sum to %v, above 2*%v + %d*%v", n, cycleSum, p.Base, p.MaxExtensions, p.MinGrant)
		}
		if got.Warning {
			warnings++
			if warnings > 1 {
				t.Fatalf("op %d: second warning in one cycle", n)
			}
		}
		if s.Used() != k || k > p.MaxExtensions || got.Remaining != p.MaxExtensions-k {
			t.Fatalf("op %d: used %d, counted %d, remaining %d, max %d", n, s.Used(), k, got.Remaining, p.MaxExtensions)
		}
		granted := prog
		last = &granted
		deadline = got.Deadline
	}
	return n
}
