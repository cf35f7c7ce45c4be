package wire

import (
	"runtime"
	"sync/atomic"
)

// WindowSize is how many sequence numbers below the highest accepted one a
// ReplayWindow still tracks; older ones are rejected.
const WindowSize = 64

// MaxSeq is the highest sequence number a ReplayWindow accepts: the top bit
// of its state is its lock. Wall-clock nanoseconds stay below it until 2262.
const MaxSeq = 1<<63 - 1

const windowLock = 1 << 63

// ReplayWindow accepts each sequence number of one sender at most once: a
// number above the highest seen so far is accepted and slides the window; a
// number within WindowSize below it is accepted once; a number seen before,
// older than the window, zero or above MaxSeq is rejected.
//
// Its zero value is an empty window. It is safe for concurrent use by several
// goroutines without a mutex, and takes 16 bytes, so that a manager can keep
// one per worker slot. Check only messages whose tag verified: a forged
// sequence number far ahead would otherwise shut the real sender out.
type ReplayWindow struct {
	// top is the highest accepted sequence number (0: none yet). Its top bit,
	// windowLock, is set while one Check or Reset updates the window.
	top atomic.Uint64
	// seen has bit i set when sequence number top-i was accepted. It is read
	// and written only by the holder of windowLock, so a plain word: the
	// lock's CAS and releasing Store order every access (see Check).
	seen uint64
}

// Check reports whether seq is new, and records it. A duplicate or a number
// older than the window returns false.
func (w *ReplayWindow) Check(seq uint64) bool {
	if seq == 0 || seq > MaxSeq {
		return false
	}
	for spins := 0; ; spins++ {
		top := w.top.Load()
		max := top &^ windowLock
		// Decisions from this one load need no lock: they are true of the
		// window as it was at the load (bit 0 of seen is set whenever
		// top > 0, so seq == max was accepted before), so Check takes
		// effect at that instant.
		if seq == max || (seq < max && max-seq >= WindowSize) {
			return false
		}
		if top&windowLock != 0 {
			if spins >= 32 {
				runtime.Gosched() // the holder was descheduled mid-update
			}
			continue
		}
		// Acquire: once this CAS succeeds no other goroutine writes seen
		// or top until our Store of top below, and the previous holder's
		// write of seen happened before its Store of top, which our CAS
		// read, so seen is the value it left.
		if !w.top.CompareAndSwap(top, top|windowLock) {
			continue
		}
		seen := w.seen
		ok := true
		if seq > max {
			if shift := seq - max; shift >= WindowSize {
				seen = 1
			} else {
				seen = seen<<shift | 1
			}
			max = seq
		} else if bit := uint64(1) << (max - seq); seen&bit != 0 {
			ok = false
		} else {
			seen |= bit
		}
		// Release: seen is written before the Store of top clears the lock
		// bit, so the next holder, whose CAS reads that Store, reads this
		// seen (sync/atomic operations are sequentially consistent and
		// create happens-before edges, the race detector included).
		w.seen = seen
		w.top.Store(max)
		return ok
	}
}

// Max returns the highest sequence number accepted so far (0: none).
func (w *ReplayWindow) Max() uint64 { return w.top.Load() &^ windowLock }

// Reset empties the window, for a slot handed to a new sender. Packets of
// the previous sender could then be accepted again: the caller must reject
// them by other means (the ticket's generation).
func (w *ReplayWindow) Reset() {
	for spins := 0; ; spins++ {
		top := w.top.Load()
		if top&windowLock != 0 {
			if spins >= 32 {
				runtime.Gosched()
			}
			continue
		}
		// Same acquire and release as in Check.
		if w.top.CompareAndSwap(top, top|windowLock) {
			w.seen = 0
			w.top.Store(0)
			return
		}
	}
}

// Sequence hands out a sender's sequence numbers: 1, 2, 3, ... from its zero
// value, or from a start given to NewSequence. It is safe for concurrent use.
//
// A sender that restarts must continue above the numbers it used before, or
// its receivers drop its packets as replays until it overtakes them: seed
// it with the wall clock in nanoseconds,
// NewSequence(uint64(time.Now().UnixNano())), which also stays below MaxSeq.
type Sequence struct {
	last atomic.Uint64
}

// NewSequence returns a Sequence whose first number is first (1 if first is 0).
func NewSequence(first uint64) *Sequence {
	s := &Sequence{}
	if first > 0 {
		s.last.Store(first - 1)
	}
	return s
}

// Next returns the next sequence number.
func (s *Sequence) Next() uint64 { return s.last.Add(1) }

// AtLeast raises the sequence so that Next returns v or more; it never
// lowers it. A sender that seeds its Sequence from the wall clock calls it
// with the wall clock again before a join: its numbers advance by one a
// packet, far slower than the clock, and a manager holds joins of workers
// it does not know to a freshness bound on their sequence number.
func (s *Sequence) AtLeast(v uint64) {
	if v == 0 {
		return
	}
	for {
		// A CAS loop, not a store: Next may run at the same time, and the
		// sequence must never go back.
		last := s.last.Load()
		if last >= v-1 || s.last.CompareAndSwap(last, v-1) {
			return
		}
	}
}
