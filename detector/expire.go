package detector

import (
	"time"

	"github.com/swimwheel/swimwheel/wheel"
)

// Advance moves the detector to now: every deadline due at or before now
// fires, in tick order, each at the first tick at or after it. The shell
// calls it when its one timer (armed at NextDeadline) goes off. An Advance
// whose first expiry is due more than LateTicks ticks before now means the
// shell was starved, and raises the local health multiplier; the next
// Advance whose first expiry is on time lowers it again. Lateness is judged
// on real expiries, not on NextDeadline, which is only a lower bound.
func (d *Detector) Advance(now wheel.Time) {
	defer d.flush()
	d.advanceTo, d.judged = now, false
	d.wheel.Advance(now, d.fireFn)
}

// judgeLateness compares the first expiry of this Advance with now.
func (d *Detector) judgeLateness(at wheel.Time) {
	d.judged = true
	late := d.advanceTo-at > wheel.Time(d.cfg.LateTicks)*wheel.Time(d.cfg.Tick)
	switch {
	case late && !d.late:
		d.late = true
		d.setLHM(at, d.lhm+1)
	case !late && d.late:
		d.late = false
		d.setLHM(at, d.lhm-1)
	}
}

// fire handles one tick's expired slots. The wheel disarmed them all before
// the call and holds no lock, so re-arming from here is allowed. A slot is
// in a batch once, and an expiry arms only its own slot, so every slot of
// the batch is still disarmed when its turn comes.
func (d *Detector) fire(at wheel.Time, batch []wheel.Expired) {
	if !d.judged {
		d.judgeLateness(at)
	}
	if d.lhm > 0 && at-d.lhmAt >= wheel.Time(d.cfg.Suspicion) {
		// Recovery: a whole suspicion window without a new sign of
		// trouble. A fleet that heartbeats is rarely probed, so a
		// successful probe round cannot be the only way down.
		d.setLHM(at, d.lhm-1)
	}
	for _, e := range batch {
		r := d.record(e.Ticket)
		if r == nil {
			continue
		}
		d.expire(at, e.Ticket, r)
	}
}

// expire is the deadline rule of DESIGN.md for one worker.
func (d *Detector) expire(at wheel.Time, t wheel.Ticket, r *record) {
	switch r.status {
	case StatusAlive:
		switch r.phase {
		case phaseNone:
			if d.cfg.Probing {
				d.ping(at, t, r, false)
				r.phase = phasePing
				d.wheel.Arm(t, at+d.probeTimeout(), false)
				return
			}
		case phasePing:
			if d.askHelpers(at, t, r) {
				r.phase = phaseIndirect
				d.wheel.Arm(t, at+d.probeTimeout(), false)
				return
			}
		case phaseIndirect:
			if r.nacks() == 0 {
				// No helper answered either: the trouble is likely on
				// our side. One missing nack proves little (in a mass
				// failure the helper may be down itself), so it takes
				// the silence of every helper asked.
				d.setLHM(at, d.lhm+1)
			}
		}
		d.suspect(at, t, r)
	case StatusSuspect:
		if end := d.evictAt(r); at < end {
			// Not over yet: a probe is due, or the window grew (LHM).
			if d.cfg.Probing {
				d.ping(at, t, r, true)
				end = min(at+d.probeTimeout(), end)
			}
			d.wheel.Arm(t, end, false)
			return
		}
		d.evict(at, t, r)
	case StatusDead, StatusLeft:
		d.forget(t, r)
	}
}

func (d *Detector) probeTimeout() wheel.Time {
	return wheel.Time(d.cfg.ProbeTimeout * time.Duration(d.lhm+1))
}

// ping starts a probe round of the worker itself.
func (d *Detector) ping(at wheel.Time, t wheel.Ticket, r *record, suspect bool) {
	r.probeSeq++
	d.send(Message{Kind: MsgPing, To: t, ProbeSeq: r.probeSeq, Suspect: suspect, Inc: d.recs.inc(t.Slot).Load()})
}

// askHelpers sends ping-reqs for t through up to Indirect other alive
// workers, chosen by the seeded source. It reports whether any was asked.
func (d *Detector) askHelpers(at wheel.Time, t wheel.Ticket, r *record) bool {
	k := d.cfg.Indirect
	others := len(d.alive) - 1 // r itself is alive
	if k <= 0 || others <= 0 {
		return false
	}
	k = min(k, others)
	d.picked = d.picked[:0]
	for len(d.picked) < k {
		s := d.alive[d.rng.IntN(len(d.alive))]
		if s == t || contains(d.picked, s) {
			continue
		}
		d.picked = append(d.picked, s)
	}
	r.probeSeq++
	r.round = uint8(k) << 4
	for _, h := range d.picked {
		d.send(Message{Kind: MsgPingReq, To: h, Target: t, ProbeSeq: r.probeSeq, Inc: d.recs.inc(t.Slot).Load()})
	}
	return true
}

func contains(s []wheel.Ticket, v wheel.Ticket) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// suspect turns an alive worker suspect at the given time.
func (d *Detector) suspect(at wheel.Time, t wheel.Ticket, r *record) {
	cause := CauseDeadline
	if d.cfg.MaxExtensions > 0 && r.ext.Used() >= d.cfg.MaxExtensions {
		cause = CauseExhausted
	}
	d.dropAlive(r)
	d.nSuspect++
	r.status, r.phase, r.cause = StatusSuspect, phaseSuspect, cause
	r.since, r.confirmed = at, 0
	d.emit(Event{Kind: EventSuspected, At: at, Worker: r.id, Ticket: t, Inc: d.recs.inc(t.Slot).Load(), Cause: cause})
	d.evalBrake(at)
	if d.cfg.Probing {
		d.ping(at, t, r, true)
	}
	d.armSuspect(at, t, r)
}

// armSuspect arms a suspect's slot at its next probe or its window's end,
// whichever comes first.
func (d *Detector) armSuspect(now wheel.Time, t wheel.Ticket, r *record) {
	next := d.evictAt(r)
	if d.cfg.Probing {
		next = min(next, now+d.probeTimeout())
	}
	d.wheel.Arm(t, next, false)
}

// evict ends a suspect whose window passed, unless the brake holds it.
func (d *Detector) evict(at wheel.Time, t wheel.Ticket, r *record) {
	if retry, ok := d.mayEvict(at); !ok {
		// Held by the brake: still suspect, so still probed (a live
		// worker must be able to refute while it waits).
		if d.cfg.Probing {
			d.ping(at, t, r, true)
			retry = min(retry, at+d.probeTimeout())
		}
		d.wheel.Arm(t, retry, false)
		return
	}
	d.nSuspect--
	d.nDead++
	r.status, r.phase = StatusDead, phaseRetained
	d.emit(Event{Kind: EventEvicted, At: at, Worker: r.id, Ticket: t, Inc: d.recs.inc(t.Slot).Load(), Cause: r.cause})
	d.wheel.Arm(t, at+wheel.Time(d.cfg.Retention), false)
	d.evalBrake(at)
}

// forget drops a dead or left worker once its retention is over; its slot
// is reused under a new generation.
func (d *Detector) forget(t wheel.Ticket, r *record) {
	if r.status == StatusDead {
		d.nDead--
	} else {
		d.nLeft--
	}
	d.ids.Delete(r.id)
	d.wheel.Free(t)
	*r = record{}
	d.recs.inc(t.Slot).Store(0)
}

// setLHM moves the local health multiplier within 0..MaxLHM.
func (d *Detector) setLHM(at wheel.Time, v int) {
	v = max(0, min(v, d.cfg.MaxLHM))
	if v == d.lhm {
		return
	}
	d.lhm, d.lhmAt = v, at
	d.emit(Event{Kind: EventLHM, At: at, LHM: v})
}

// evalBrake recomputes the brake from the share of the fleet that is
// suspect, and says so when it changes.
func (d *Detector) evalBrake(at wheel.Time) {
	fleet := len(d.alive) + d.nSuspect
	state := BrakeReleased
	if d.cfg.Brake > 0 && fleet >= d.cfg.BrakeMinFleet && fleet > 0 {
		share := float64(d.nSuspect) / float64(fleet)
		switch {
		case share > d.cfg.BrakeStop:
			state = BrakeStopped
		case share > d.cfg.Brake:
			state = BrakeEngaged
		}
	}
	if state == d.brake {
		return
	}
	if d.brake == BrakeReleased {
		d.tat = at
	}
	d.brake = state
	d.emit(Event{Kind: EventBrake, At: at, Brake: state, Suspect: d.nSuspect, Fleet: fleet})
}

// mayEvict applies the brake to one due eviction: released, it passes;
// engaged, a GCRA limiter passes EvictionRate of the fleet a second with a
// burst of one second's worth; stopped, nothing passes and the eviction is
// looked at again in a second.
func (d *Detector) mayEvict(at wheel.Time) (retry wheel.Time, ok bool) {
	switch d.brake {
	case BrakeReleased:
		return 0, true
	case BrakeStopped:
		return at + wheel.Time(time.Second), false
	}
	fleet := len(d.alive) + d.nSuspect
	perSec := max(1, int64(d.cfg.EvictionRate*float64(fleet)))
	interval := wheel.Time(time.Second) / wheel.Time(perSec)
	tolerance := wheel.Time(time.Second) - interval
	if at >= d.tat-tolerance {
		d.tat = max(d.tat, at) + interval
		return 0, true
	}
	return d.tat - tolerance, false
}
