package detector

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

// Detector is the manager-side state machine. See the package doc for the
// concurrency contract: HeartbeatFast, Lookup and the counters may be called
// from any goroutine; every other method from one goroutine at a time.
type Detector struct {
	// Immutable after New.
	cfg    Config
	policy extension.Policy
	base   time.Duration
	fireFn func(wheel.Time, []wheel.Expired)

	// Safe for concurrent use.
	wheel *wheel.Wheel
	ids   *xsync.MapOf[string, wheel.Ticket]
	recs  records

	// Owner goroutine only.
	rng       *rand.Rand
	alive     []wheel.Ticket // alive workers, for picking probe helpers
	nSuspect  int
	nDead     int
	nLeft     int
	lhm       int
	lhmAt     wheel.Time // when lhm last changed
	late      bool       // the last judged Advance ran late
	judged    bool       // this Advance's lateness was judged
	advanceTo wheel.Time // the now of the Advance under way
	brake     BrakeState
	tat       wheel.Time // GCRA theoretical arrival time of the next braked eviction
	events    []Event
	msgs      []Message
	picked    []wheel.Ticket
}

// New validates cfg and returns an empty detector whose clock starts at 0.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w, err := wheel.New(wheel.Config{Tick: cfg.Tick, Shards: cfg.Shards, MaxSlots: cfg.MaxWorkers})
	if err != nil {
		return nil, err
	}
	d := &Detector{
		cfg:    cfg,
		policy: cfg.policy(),
		base:   cfg.Base,
		wheel:  w,
		ids:    xsync.NewMapOf[string, wheel.Ticket](),
		recs:   newRecords(cfg.MaxWorkers),
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}
	d.fireFn = d.fire
	return d, nil
}

// Config returns the configuration the detector runs with.
func (d *Detector) Config() Config { return d.cfg }

// NextDeadline is when the one process timer should next call Advance: a
// lower bound on the next expiry. ok is false when nothing is armed.
func (d *Detector) NextDeadline() (wheel.Time, bool) { return d.wheel.NextDeadline() }

// Lookup returns the ticket of a known worker. Safe for concurrent use.
func (d *Detector) Lookup(id string) (wheel.Ticket, bool) { return d.ids.Load(id) }

// Alive, Suspect and Workers count workers; owner goroutine only.
func (d *Detector) Alive() int   { return len(d.alive) }
func (d *Detector) Suspect() int { return d.nSuspect }

// Workers counts every worker with a record (including dead and left ones
// not yet forgotten). Safe for concurrent use.
func (d *Detector) Workers() int { return d.ids.Size() }

// LHM is the local health multiplier score (0..MaxLHM).
func (d *Detector) LHM() int { return d.lhm }

// Brake is the state of the mass-failure brake.
func (d *Detector) Brake() BrakeState { return d.brake }

// record returns the record of a live ticket, or nil.
func (d *Detector) record(t wheel.Ticket) *record {
	if !d.wheel.Valid(t) {
		return nil
	}
	return d.recs.get(t.Slot)
}

// HeartbeatFast is the lock-free heartbeat path, safe from any goroutine:
// it succeeds only for an alive worker at incarnation inc whose extension
// cycle is clean, by one atomic max-store on its wheel slot. When it returns
// false, nothing changed and the caller hands the heartbeat to the owner
// goroutine's Heartbeat.
func (d *Detector) HeartbeatFast(now wheel.Time, t wheel.Ticket, inc uint64) bool {
	cur := d.recs.inc(t.Slot)
	if cur == nil || cur.Load() != inc {
		return false
	}
	// The slot is pushable only while its worker is alive, not probing and
	// in a clean cycle: the owner clears the bit (Seal, or the wheel's own
	// expiry) before any other transition, so a successful push is a
	// heartbeat applied to an alive worker. The generation inside the same
	// atomic word rules out a slot reused since the inc load above; a
	// concurrent adoption of a higher incarnation only orders this
	// heartbeat before it, with the same effect on the deadline.
	return d.wheel.PushLater(t, now+wheel.Time(d.base))
}

// Join admits a worker, or treats the join of a known alive worker as a
// heartbeat. id is copied when stored.
func (d *Detector) Join(now wheel.Time, id string, inc uint64) (wheel.Ticket, Outcome) {
	defer d.flush()
	if len(id) == 0 || len(id) > MaxWorkerID {
		return wheel.Ticket{}, RefusedBadID
	}
	t, ok := d.ids.Load(id)
	if !ok {
		nt, err := d.wheel.Alloc()
		if err != nil {
			return wheel.Ticket{}, RefusedFull
		}
		r := d.recs.make(nt.Slot)
		*r = record{} // a reused slot's record was cleared on forget; be exact anyway
		r.id = strings.Clone(id)
		d.ids.Store(r.id, nt)
		d.admit(now, nt, r, inc)
		return nt, Accepted
	}
	r := d.recs.get(t.Slot)
	switch r.status {
	case StatusLeft:
		d.admit(now, t, r, inc)
		return t, Accepted
	case StatusDead:
		if inc <= d.recs.inc(t.Slot).Load() {
			return t, RefusedStale
		}
		d.nDead--
		d.admit(now, t, r, inc)
		return t, Accepted
	}
	return t, d.beat(now, t, r, inc, false)
}

// admit starts a new life: alive at inc, deadline now+base, a clean cycle.
func (d *Detector) admit(now wheel.Time, t wheel.Ticket, r *record, inc uint64) {
	if r.status == StatusLeft {
		d.nLeft--
	}
	d.recs.inc(t.Slot).Store(inc)
	r.ext.Reset()
	r.status, r.phase, r.cause = StatusAlive, phaseNone, CauseNone
	d.addAlive(t, r)
	d.wheel.Arm(t, now+wheel.Time(d.base), true)
	d.emit(Event{Kind: EventJoined, At: now, Worker: r.id, Ticket: t, Inc: inc})
	d.evalBrake(now)
}

// Heartbeat applies a worker's heartbeat: see DESIGN.md's transition table.
func (d *Detector) Heartbeat(now wheel.Time, t wheel.Ticket, inc uint64) Outcome {
	if d.HeartbeatFast(now, t, inc) {
		return Accepted
	}
	return d.HeartbeatSlow(now, t, inc)
}

// HeartbeatSlow is Heartbeat for a heartbeat the fast path already refused
// (the manager's readers try HeartbeatFastBatch first): it applies the
// owner's rules at once instead of trying the fast path a second time.
func (d *Detector) HeartbeatSlow(now wheel.Time, t wheel.Ticket, inc uint64) Outcome {
	defer d.flush()
	r := d.record(t)
	if r == nil || r.status == StatusUnknown {
		return IgnoredUnknown
	}
	return d.beat(now, t, r, inc, false)
}

// Ack applies a ping's answer from the worker itself; it counts as a
// heartbeat, and one that ends a probe round lowers the LHM.
func (d *Detector) Ack(now wheel.Time, t wheel.Ticket, inc uint64) Outcome {
	defer d.flush()
	r := d.record(t)
	if r == nil || r.status == StatusUnknown {
		return IgnoredUnknown
	}
	return d.beat(now, t, r, inc, true)
}

// IndirectAck applies a helper's report that target answered its ping at
// incarnation inc within the ping-req round probeSeq: an ack of the target.
// Helpers' reports carry no ticket of their own, so only a report of the
// round under way counts; a late or replayed one is ignored (IgnoredStale).
func (d *Detector) IndirectAck(now wheel.Time, target wheel.Ticket, inc uint64, probeSeq uint32) Outcome {
	r := d.record(target)
	if r == nil || r.status == StatusUnknown {
		return IgnoredUnknown
	}
	if r.status != StatusAlive || r.phase != phaseIndirect || r.probeSeq != probeSeq {
		return IgnoredStale
	}
	return d.Ack(now, target, inc)
}

// Nack records a helper's report that target did not answer within the
// round probeSeq. Nacks only tell the LHM that our own network works.
func (d *Detector) Nack(now wheel.Time, target wheel.Ticket, probeSeq uint32) {
	r := d.record(target)
	if r == nil || r.phase != phaseIndirect || r.probeSeq != probeSeq || r.nacks() >= r.asked() {
		return
	}
	r.round++ // one more nack, below asked: no carry into the high nibble
}

// beat is the heartbeat rule for a known worker; fromAck marks a probe answer.
func (d *Detector) beat(now wheel.Time, t wheel.Ticket, r *record, inc uint64, fromAck bool) Outcome {
	switch r.status {
	case StatusDead:
		return IgnoredDead
	case StatusLeft:
		return IgnoredLeft
	}
	cur := d.recs.inc(t.Slot).Load()
	if inc < cur {
		return IgnoredStale
	}
	if r.status == StatusSuspect {
		if inc == cur {
			return IgnoredSuspect
		}
		d.nSuspect--
		d.recs.inc(t.Slot).Store(inc)
		d.revive(now, t, r)
		d.emit(Event{Kind: EventRefuted, At: now, Worker: r.id, Ticket: t, Inc: inc})
		d.evalBrake(now)
		return Accepted
	}
	// Alive. Seal first: from here no concurrent HeartbeatFast can move the
	// deadline, so the value read is the one we build on.
	dl, _ := d.wheel.Seal(t)
	if inc > cur {
		d.recs.inc(t.Slot).Store(inc)
	}
	if r.phase != phaseNone {
		// The deadline passed and a probe was under way: the worker
		// answered. The sealed value is a probe timeout, not a deadline.
		dl = 0
		if fromAck {
			d.setLHM(now, d.lhm-1)
		}
	}
	r.phase = phaseNone
	r.ext.Reset()
	d.wheel.Arm(t, max(dl, now+wheel.Time(d.base)), true)
	return Accepted
}

// revive makes a suspect worker alive again after a refutation.
func (d *Detector) revive(now wheel.Time, t wheel.Ticket, r *record) {
	r.status, r.phase, r.cause = StatusAlive, phaseNone, CauseNone
	r.confirmed = 0
	r.ext.Reset()
	d.addAlive(t, r)
	d.wheel.Arm(t, now+wheel.Time(d.base), true)
}

// Leave marks a worker as gone for good at incarnation inc or later.
func (d *Detector) Leave(now wheel.Time, t wheel.Ticket, inc uint64) Outcome {
	defer d.flush()
	r := d.record(t)
	if r == nil || r.status == StatusUnknown {
		return IgnoredUnknown
	}
	switch r.status {
	case StatusDead:
		return IgnoredDead
	case StatusLeft:
		return IgnoredLeft
	}
	if inc < d.recs.inc(t.Slot).Load() {
		return IgnoredStale
	}
	d.recs.inc(t.Slot).Store(inc)
	if r.status == StatusSuspect {
		d.nSuspect--
	} else {
		d.dropAlive(r)
	}
	r.status, r.phase = StatusLeft, phaseRetained
	d.nLeft++
	d.wheel.Arm(t, now+wheel.Time(d.cfg.Retention), false)
	d.emit(Event{Kind: EventLeft, At: now, Worker: r.id, Ticket: t, Inc: inc})
	d.evalBrake(now)
	return Accepted
}

// Extend judges an extension request (DESIGN.md, "Extension decisions").
// The decision's Deadline is the worker's deadline after it.
func (d *Detector) Extend(now wheel.Time, t wheel.Ticket, inc uint64, req extension.Request) extension.Decision {
	defer d.flush()
	r := d.record(t)
	if r == nil || r.status == StatusUnknown {
		return extension.Decision{Reason: extension.NotAlive}
	}
	deny := func(reason extension.Reason) extension.Decision {
		st := d.statusOf(t, r)
		dec := extension.Decision{Reason: reason, Deadline: time.Duration(st.Deadline), Remaining: st.Remaining}
		d.emit(Event{Kind: EventDenied, At: now, Worker: r.id, Ticket: t, Inc: d.recs.inc(t.Slot).Load(), Denial: reason, Remaining: dec.Remaining})
		return dec
	}
	if r.status != StatusAlive {
		return deny(extension.NotAlive)
	}
	cur := d.recs.inc(t.Slot).Load()
	if inc < cur {
		return deny(extension.StaleIncarnation)
	}
	dl, _ := d.wheel.Seal(t)
	if inc > cur {
		d.recs.inc(t.Slot).Store(inc)
		r.ext.Reset()
	}
	probing := r.phase != phaseNone
	if probing {
		// The deadline already passed; the slot holds a probe timeout.
		dl = now
	}
	dec := d.policy.Decide(&r.ext, req, time.Duration(now), time.Duration(dl))
	if dec.Granted {
		r.phase = phaseNone
		d.wheel.Arm(t, wheel.Time(dec.Deadline), false)
		d.emit(Event{Kind: EventExtended, At: now, Worker: r.id, Ticket: t, Inc: d.recs.inc(t.Slot).Load(),
			Grant: dec.Grant, Deadline: wheel.Time(dec.Deadline), Remaining: dec.Remaining, Warning: dec.Warning})
		return dec
	}
	d.emit(Event{Kind: EventDenied, At: now, Worker: r.id, Ticket: t, Inc: d.recs.inc(t.Slot).Load(), Denial: dec.Reason, Remaining: dec.Remaining})
	if probing {
		// Alive, but its deadline is gone and it was refused more time:
		// nothing can keep it alive but a heartbeat, which it did not send.
		d.suspect(now, t, r)
		dec.Deadline = time.Duration(d.statusOf(t, r).Deadline)
		return dec
	}
	// Unchanged deadline; the slot is pushable again only in a clean cycle.
	d.wheel.Arm(t, dl, r.ext.Used() == 0)
	return dec
}

// Confirm records that peer manager number peer (0..31) independently
// suspects the worker too; Lifeguard shrinks its suspicion window.
func (d *Detector) Confirm(now wheel.Time, t wheel.Ticket, peer int) {
	defer d.flush()
	r := d.record(t)
	if r == nil || r.status != StatusSuspect || peer < 0 || peer > 31 || r.confirmed&(1<<peer) != 0 {
		return
	}
	r.confirmed |= 1 << peer
	d.armSuspect(now, t, r)
}

// Status answers a status query by worker ID.
func (d *Detector) Status(id string) WorkerStatus {
	t, ok := d.ids.Load(id)
	if !ok {
		return WorkerStatus{}
	}
	return d.StatusOf(t)
}

// StatusOf answers a status query by ticket.
func (d *Detector) StatusOf(t wheel.Ticket) WorkerStatus {
	r := d.record(t)
	if r == nil {
		return WorkerStatus{}
	}
	return d.statusOf(t, r)
}

func (d *Detector) statusOf(t wheel.Ticket, r *record) WorkerStatus {
	st := WorkerStatus{Status: r.status, Inc: d.recs.inc(t.Slot).Load(), Remaining: d.policy.Remaining(r.ext), Ticket: t}
	switch r.status {
	case StatusAlive:
		st.Deadline, _ = d.wheel.Deadline(t)
	case StatusSuspect:
		st.Deadline = d.evictAt(r)
	}
	return st
}

// addAlive and dropAlive keep d.alive, the set probe helpers come from.
func (d *Detector) addAlive(t wheel.Ticket, r *record) {
	if r.alivePos != 0 {
		return
	}
	d.alive = append(d.alive, t)
	r.alivePos = uint32(len(d.alive))
}

func (d *Detector) dropAlive(r *record) {
	if r.alivePos == 0 {
		return
	}
	i := r.alivePos - 1
	last := d.alive[len(d.alive)-1]
	d.alive[i] = last
	d.recs.get(last.Slot).alivePos = i + 1
	d.alive = d.alive[:len(d.alive)-1]
	r.alivePos = 0
}

// window is the Lifeguard suspicion window for a worker with c independent
// confirmations, stretched by the local health multiplier.
func (d *Detector) window(c int) time.Duration {
	hi, lo := d.cfg.Suspicion, d.cfg.SuspicionMin
	k := d.cfg.Confirmations
	if c > k {
		c = k
	}
	w := hi
	if c > 0 && hi > lo {
		frac := math.Log(float64(c)+1) / math.Log(float64(k)+1)
		w = max(lo, hi-time.Duration(frac*float64(hi-lo)))
	}
	return w * time.Duration(d.lhm+1)
}

func (d *Detector) evictAt(r *record) wheel.Time {
	return r.since + wheel.Time(d.window(popcount(r.confirmed)))
}

func popcount(x uint32) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func (d *Detector) emit(e Event) { d.events = append(d.events, e) }

func (d *Detector) send(m Message) { d.msgs = append(d.msgs, m) }

// flush hands the call's events and messages to the embedder, in order.
func (d *Detector) flush() {
	if len(d.events) > 0 {
		if d.cfg.OnEvents != nil {
			d.cfg.OnEvents(d.events)
		}
		clear(d.events)
		d.events = d.events[:0]
	}
	if len(d.msgs) > 0 {
		if d.cfg.OnSend != nil {
			d.cfg.OnSend(d.msgs)
		}
		d.msgs = d.msgs[:0]
	}
}
