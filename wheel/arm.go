package wheel

import (
	"math/bits"
	"sync/atomic"
	"unsafe"

	"github.com/swimwheel/swimwheel/internal/prefetch"
)

// Arm sets the slot's deadline to d exactly, earlier or later than before,
// and whether PushLater may move it. A deadline at or before Now fires in the
// next tick. Arm returns false, changing nothing, if t is stale.
func (w *Wheel) Arm(t Ticket, d Time, pushable bool) bool {
	wp := w.word(t.Slot)
	if wp == nil {
		return false
	}
	sh := w.shardOf(t.Slot)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := wp.Load()
	if !live(old, t.Gen) {
		return false
	}
	if deadlineUs(old) != 0 {
		w.unlinkLocked(sh, t.Slot)
	} else {
		sh.armed.Add(1)
	}
	us := toUs(d)
	// A PushLater racing with this store either lands before it (and is
	// overwritten: it happened before the Arm) or after it (and raises the
	// new deadline; the slot, filed below at d's tick, is re-filed lazily).
	wp.Store(pack(t.Gen, us, pushable))
	cur := w.cur.Load()
	w.fileLocked(sh, t.Slot, max(w.fireTick(us), cur+1), cur)
	return true
}

// PushLater moves the deadline to max(deadline, d) if t is current and the
// slot is armed and pushable, and returns true. Otherwise it changes nothing
// and returns false. It is lock-free and may run on any goroutine, also during
// Advance; the slot stays in the bucket it was filed in and is re-filed when
// that bucket comes due.
func (w *Wheel) PushLater(t Ticket, d Time) bool {
	wp := w.word(t.Slot)
	return wp != nil && pushLater(wp, t.Gen, d)
}

// pushLater is PushLater on the slot's word wp.
func pushLater(wp *atomic.Uint64, gen uint16, d Time) bool {
	us := uint64(toUs(d))
	for {
		if ok, done := pushOnce(wp, gen, us); done {
			return ok
		}
	}
}

// pushOnce is one attempt of pushLater: done is false when its CAS lost a
// race and the caller must try again. It is small enough to be inlined
// into the loops of PushLater and PushLaterBatch.
func pushOnce(wp *atomic.Uint64, gen uint16, us uint64) (ok, done bool) {
	old := wp.Load()
	// The pushable bit is set only on an armed slot (disarming clears it),
	// and only the current generation may push.
	if generation(old) != gen || old&pushBit == 0 || old>>usShift == 0 {
		return false, true
	}
	if old>>usShift >= us {
		return true, true
	}
	// Advance disarms a due slot with a CAS on this same word: if it
	// succeeded first, this CAS fails and the retry's load sees the slot
	// disarmed (false: the caller learns the deadline already fired); if
	// this CAS succeeds first, Advance's CAS fails, it reloads and sees
	// the later deadline.
	return true, wp.CompareAndSwap(old, old&lowMask|us<<usShift)
}

// Push is one element of PushLaterBatch: push Ticket's deadline later to
// Deadline. PushLaterBatch sets OK to what PushLater(Ticket, Deadline) would
// have returned.
type Push struct {
	Ticket   Ticket
	Deadline Time
	OK       bool
}

// pushGroup is how many slots PushLaterBatch touches before it pushes: 64
// lines stay in the L1 cache until their CAS, and enough independent
// misses are in flight to keep the memory system busy.
const pushGroup = 64

// PushLaterBatch is PushLater for every element of ps, in order: ps[i].OK is
// set as if PushLater(ps[i].Ticket, ps[i].Deadline) had been called after
// the pushes before it (a ticket may appear several times). It returns how
// many pushes succeeded. Like PushLater it is lock-free, allocates nothing
// and may run on any goroutine.
//
// It exists for the cache: at a million slots the word array is far larger
// than the cache, and each PushLater waits for one miss, which the locked
// CAS keeps from overlapping with the next push's. PushLaterBatch first
// prefetches the word of every slot of a group of up to 64 (PREFETCHW on
// amd64; see internal/prefetch), so that their misses overlap, and only
// then runs the CAS loops, on lines now in the cache.
func (w *Wheel) PushLaterBatch(ps []Push) int {
	pushed := 0
	var words [pushGroup]*atomic.Uint64
	var lines [pushGroup]unsafe.Pointer
	for len(ps) > 0 {
		group := ps[:min(len(ps), pushGroup)]
		ps = ps[len(group):]
		// Prefetch every word of the group before the first CAS. This
		// changes nothing: every decision below is made on the CAS loop's
		// own load of the word, after all earlier pushes of the batch. A
		// word that changes in between (a push of this batch to the same
		// slot, another goroutine, Advance) is simply a line the CAS loop
		// fetches again.
		for i := range group {
			words[i] = w.word(group[i].Ticket.Slot)
			lines[i] = unsafe.Pointer(words[i])
		}
		prefetch.WriteEach(lines[:len(group)])
		for i := range group {
			p := &group[i]
			wp := words[i]
			if wp == nil {
				p.OK = false
				continue
			}
			// One attempt inline; only a CAS that lost a race pays the call.
			ok, done := pushOnce(wp, p.Ticket.Gen, uint64(toUs(p.Deadline)))
			if !done {
				ok = pushLater(wp, p.Ticket.Gen, p.Deadline)
			}
			if p.OK = ok; ok {
				pushed++
			}
		}
	}
	return pushed
}

// Cancel disarms the slot. It returns false if t is stale or the slot is not
// armed.
func (w *Wheel) Cancel(t Ticket) bool {
	wp := w.word(t.Slot)
	if wp == nil {
		return false
	}
	sh := w.shardOf(t.Slot)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	old := wp.Load()
	if !live(old, t.Gen) || deadlineUs(old) == 0 {
		return false
	}
	w.unlinkLocked(sh, t.Slot)
	sh.armed.Add(-1)
	// A PushLater after this store sees deadline 0 and fails.
	wp.Store(pack(t.Gen, 0, false))
	return true
}

// fileLocked links slot s into the bucket for fire tick ft, given the current
// tick cur <= ft. The level is that of the highest 6-bit digit in which ft and
// cur differ; the bucket is ft's digit at that level. The bucket therefore
// comes due (its first tick is reached) exactly when the cursor, moving from
// cur, first agrees with ft on every digit from that level up: no earlier than
// the bucket's first tick, no later than ft.
func (w *Wheel) fileLocked(sh *shard, s uint32, ft, cur int64) {
	level := 0
	if x := uint64(ft ^ cur); x != 0 {
		level = (bits.Len64(x) - 1) / levelBits
	}
	b := uint32(ft>>(levelBits*level)) & (levelSize - 1)
	head := sh.heads[level][b]
	l := w.link(s)
	l.next = head
	l.prev = headMark | uint32(level)<<levelBits | b
	if head != nilSlot {
		w.link(head).prev = s
	}
	sh.heads[level][b] = s
	sh.occupied[level] |= 1 << b
}

// unlinkLocked removes slot s from its bucket in O(1).
func (w *Wheel) unlinkLocked(sh *shard, s uint32) {
	l := w.link(s)
	if l.next != nilSlot {
		w.link(l.next).prev = l.prev
	}
	if l.prev&headMark == 0 {
		w.link(l.prev).next = l.next
		return
	}
	level, b := (l.prev&^headMark)>>levelBits, l.prev&(levelSize-1)
	sh.heads[level][b] = l.next
	if l.next == nilSlot {
		sh.occupied[level] &^= 1 << b
	}
}
