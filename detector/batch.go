package detector

import (
	"sync/atomic"
	"unsafe"

	"github.com/swimwheel/swimwheel/internal/prefetch"
	"github.com/swimwheel/swimwheel/wheel"
)

// FastHeartbeat is one heartbeat of HeartbeatFastBatch: the ticket and
// incarnation it carries in, and OK out, what HeartbeatFast would have
// returned for it.
type FastHeartbeat struct {
	Ticket wheel.Ticket
	Inc    uint64
	OK     bool
}

// fastGroup is how many heartbeats HeartbeatFastBatch warms up before it
// applies them: the wheel's push group, so that one PushLaterBatch call
// takes a whole group.
const fastGroup = 64

// Prefetch asks the CPU to bring in, without waiting, the lines a fast
// heartbeat of slot will touch: the worker's incarnation and its wheel
// word. A caller that knows which heartbeats it will apply (a reader that
// has just received them) issues it early, so that those misses overlap
// with its other work (decoding, verifying) instead of stalling
// HeartbeatFastBatch. It changes nothing, reads no state a prefetch could
// get wrong, and any slot is harmless, so it may run on unverified input.
// Safe from any goroutine.
func (d *Detector) Prefetch(slot uint32) {
	if inc := d.recs.inc(slot); inc != nil {
		prefetch.Read(unsafe.Pointer(inc))
	}
	d.wheel.Prefetch(slot)
}

// PrefetchOwner is Prefetch and more: it also asks for the lines the owner
// goroutine's calls on slot touch (its record, and its links in the wheel's
// lists, which Arm and Seal rewrite). An owner that handles a batch of
// packets issues it for the whole batch first, so that their misses
// overlap. Like Prefetch it changes nothing and any slot is harmless.
func (d *Detector) PrefetchOwner(slot uint32) {
	d.Prefetch(slot)
	if r := d.recs.get(slot); r != nil {
		// One line: a record is 64 bytes, at a multiple of 64 into a
		// page-aligned chunk (TestRecordFootprint).
		prefetch.Write(unsafe.Pointer(r))
	}
	d.wheel.PrefetchLinks(slot)
}

// HeartbeatFastBatch is HeartbeatFast for every heartbeat of hbs, all at
// now, in order: hbs[i].OK is set as if HeartbeatFast(now, hbs[i].Ticket,
// hbs[i].Inc) had been called after the heartbeats before it. It returns how
// many were applied. Like HeartbeatFast it is lock-free, allocates nothing
// and is safe from any goroutine; the caller hands the heartbeats left with
// OK false to the owner goroutine's Heartbeat.
//
// At a million workers the records and the wheel's slot words are far
// larger than the cache, and HeartbeatFast waits for two misses a
// heartbeat, which the wheel's locked CAS keeps from overlapping with the
// next heartbeat's. The batch first loads the incarnation of every
// heartbeat of a group of up to 64, independent loads whose misses overlap,
// then checks them on lines already in the cache and hands the group's
// pushes to Wheel.PushLaterBatch, which does the same for the slot words.
func (d *Detector) HeartbeatFastBatch(now wheel.Time, hbs []FastHeartbeat) int {
	dl := now + wheel.Time(d.base)
	applied := 0
	var incs [fastGroup]*atomic.Uint64
	var pushes [fastGroup]wheel.Push
	var from [fastGroup]uint8 // pushes[k] is for group[from[k]]
	for len(hbs) > 0 {
		group := hbs[:min(len(hbs), fastGroup)]
		hbs = hbs[len(group):]
		// Warm-up loads of the incarnations (PushLaterBatch warms the slot
		// words the same way). They are harmless: loads change nothing,
		// their values are dropped, and every decision below is made on a
		// load of its own (the incarnation check, then the wheel's CAS
		// loop), after the loads of this pass. An incarnation that changes
		// in between is simply a line fetched again. (Warming the slot
		// words here too, through Wheel.Valid, measured slower: a call per
		// heartbeat in this loop costs more than the second, overlapped
		// round of misses it saves.)
		var sum uint64
		for i := range group {
			inc := d.recs.inc(group[i].Ticket.Slot)
			incs[i] = inc
			if inc != nil {
				sum += inc.Load()
			}
		}
		warm(sum)
		// The incarnation checks of the whole group come before its pushes.
		// A push changes no incarnation, so in a single goroutine this is
		// HeartbeatFast in order; against the owner's concurrent adoption of
		// a higher incarnation the argument of HeartbeatFast holds for each
		// heartbeat: its check and its push are two steps either way, and a
		// push that lands after the adoption is ordered before it with the
		// same effect on the deadline.
		n := 0
		for i := range group {
			hb := &group[i]
			hb.OK = false
			if inc := incs[i]; inc != nil && inc.Load() == hb.Inc {
				pushes[n] = wheel.Push{Ticket: hb.Ticket, Deadline: dl}
				from[n] = uint8(i)
				n++
			}
		}
		applied += d.wheel.PushLaterBatch(pushes[:n])
		for k := range n {
			group[from[k]].OK = pushes[k].OK
		}
	}
	return applied
}

// warm does nothing with its argument, in a call the compiler cannot see
// into: the warm-up loads sum their values into it, so that the compiler
// keeps them (it drops an atomic load whose value is unused).
//
//go:noinline
func warm(uint64) {}
