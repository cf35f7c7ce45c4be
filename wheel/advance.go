package wheel

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// Advance moves the wheel to now and expires every slot whose deadline is due.
//
// A deadline d fires in tick ceil(d/Tick), at time ceil(d/Tick)*Tick: never
// before d and less than one tick after it. (A deadline armed at or before Now
// fires in the next tick.) Idle stretches are jumped, bucket to non-empty
// bucket, through per-level occupancy bitmaps: an advance that expires nothing
// costs O(shards).
//
// fire is called once per tick that has expirations, in increasing tick order,
// with at = that tick's time and the expired slots sorted by (Deadline, Slot),
// whatever the shard count. Every slot in the batch is already disarmed (its
// Gen unchanged). fire runs with no wheel lock held and may call any method
// but Advance; a deadline it arms at or before at fires in the next tick, and
// later ones in their own tick, both within this Advance if that tick's time
// is <= now. The batch is only valid during the call. A nil fire drops the
// expired slots.
//
// Advance must be called by one goroutine at a time (it panics on a
// concurrent or reentrant call); it may run concurrently with every other
// method. A now earlier than Now() does nothing; a now past MaxTime advances
// to the end of the range.
func (w *Wheel) Advance(now Time, fire func(at Time, batch []Expired)) {
	if !w.advancing.CompareAndSwap(false, true) {
		panic("wheel: Advance called concurrently or from inside fire")
	}
	defer w.advancing.Store(false)
	if now < 0 {
		return
	}
	target := min(int64(now)/int64(w.tick), w.capTick)
	for {
		w.lockAll()
		cur := w.cur.Load()
		next := int64(math.MaxInt64)
		if target > cur {
			for i := range w.shards {
				next = min(next, w.shards[i].nextDueLocked(cur, w.levels))
			}
		}
		if next > target {
			// No bucket of any shard comes due in (cur, target]: jump. Arms
			// racing with this wait for the shard locks, then file relative
			// to the new cursor.
			w.cur.Store(max(cur, target))
			w.unlockAll()
			return
		}
		w.cur.Store(next)
		batch := w.batch[:0]
		for i := range w.shards {
			batch = w.expireLocked(&w.shards[i], next, batch)
		}
		w.unlockAll()
		w.batch = batch[:0]
		if len(batch) > 0 && fire != nil {
			slices.SortFunc(batch, compareExpired)
			fire(Time(next*int64(w.tick)), batch)
		}
	}
}

func compareExpired(a, b Expired) int {
	if c := cmp.Compare(a.Deadline, b.Deadline); c != 0 {
		return c
	}
	return cmp.Compare(a.Ticket.Slot, b.Ticket.Slot)
}

// lockAll takes every shard lock, in index order. With all of them held the
// cursor may move: a shard's buckets are only meaningful relative to it.
func (w *Wheel) lockAll() {
	for i := range w.shards {
		w.shards[i].mu.Lock()
	}
}

func (w *Wheel) unlockAll() {
	for i := range w.shards {
		w.shards[i].mu.Unlock()
	}
}

// nextDueLocked returns the first tick after cur at which one of the shard's
// buckets comes due, math.MaxInt64 if none. Filing (fileLocked) keeps every
// non-empty bucket of level L at a digit above cur's digit L, within cur's
// current run of level L+1; its first tick is then cur's digits above L, the
// bucket's digit at L, and zeros below.
func (sh *shard) nextDueLocked(cur int64, levels int) int64 {
	next := int64(math.MaxInt64)
	for level := range levels {
		occ := sh.occupied[level]
		if occ == 0 {
			continue
		}
		shift := uint(levelBits * level)
		digit := uint(cur>>shift) & (levelSize - 1)
		above := occ &^ (uint64(2)<<digit - 1) // digit 63: 2<<63 == 0, mask all
		if above == 0 {
			continue
		}
		run := cur >> (shift + levelBits) << (shift + levelBits)
		next = min(next, run|int64(bits.TrailingZeros64(above))<<shift)
	}
	return next
}

// nextDue is NextDeadline's per-shard step.
func (sh *shard) nextDue(w *Wheel) int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.nextDueLocked(w.cur.Load(), w.levels)
}

// NextDeadline returns the earliest tick time at which Advance could expire
// something, ok=false when nothing is armed. It is a lower bound: a slot filed
// in a coarse bucket, or pushed later since, may fire after it. Arm the
// process timer there and call it again after each Advance.
func (w *Wheel) NextDeadline() (Time, bool) {
	next := int64(math.MaxInt64)
	for i := range w.shards {
		next = min(next, w.shards[i].nextDue(w))
	}
	if next == math.MaxInt64 {
		return 0, false
	}
	return Time(next * int64(w.tick)), true
}

// expireLocked processes tick t of one shard, the cursor already at t: it
// cascades every bucket of a coarse level that starts at t (top level first,
// so a slot can drop several levels in one tick), then walks level 0's bucket
// for t, appending due slots to batch and re-filing slots pushed later.
func (w *Wheel) expireLocked(sh *shard, t int64, batch []Expired) []Expired {
	for level := w.levels - 1; level >= 1; level-- {
		shift := uint(levelBits * level)
		if t&(1<<shift-1) != 0 {
			continue
		}
		b := uint32(t>>shift) & (levelSize - 1)
		s := w.detachLocked(sh, level, b)
		for s != nilSlot {
			next := w.link(s).next
			// A PushLater after this load only raises the deadline: filing at
			// the older one is early, never late, and is fixed lazily.
			ft := w.fireTick(deadlineUs(w.word(s).Load()))
			w.fileLocked(sh, s, max(ft, t), t)
			s = next
		}
	}
	s := w.detachLocked(sh, 0, uint32(t)&(levelSize-1))
	for s != nilSlot {
		next := w.link(s).next
		wp := w.word(s)
		for {
			v := wp.Load()
			if ft := w.fireTick(deadlineUs(v)); ft > t {
				w.fileLocked(sh, s, ft, t) // pushed later since it was filed
				break
			}
			// Disarm, keeping the generation. The order makes a concurrent
			// push safe: a PushLater that lands before this CAS makes it fail,
			// and the reload re-files the slot at the later deadline; one that
			// comes after it sees deadline 0 and returns false, so the caller
			// knows the deadline fired. A push is never silently lost.
			if wp.CompareAndSwap(v, uint64(generation(v))) {
				batch = append(batch, Expired{
					Ticket:   Ticket{Slot: s, Gen: generation(v)},
					Deadline: Time(deadlineUs(v) * 1000),
				})
				sh.armed.Add(-1)
				break
			}
		}
		s = next
	}
	return batch
}

// detachLocked empties a bucket and returns its former first slot.
func (w *Wheel) detachLocked(sh *shard, level int, b uint32) uint32 {
	s := sh.heads[level][b]
	sh.heads[level][b] = nilSlot
	sh.occupied[level] &^= 1 << b
	return s
}
