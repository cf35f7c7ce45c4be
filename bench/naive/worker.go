package naive

import (
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// worker is one worker's record. Every field but id, ticket and timer is
// guarded by Manager.mu; id and ticket are fixed at creation, timer is set
// once before the record is published in the map.
type worker struct {
	id     string
	ticket wire.Ticket
	timer  *time.Timer // one per worker, re-armed for every phase

	status detector.Status
	inc    uint64
	// deadline is what the timer is armed for, as time since New: the
	// deadline while alive, the eviction time while suspect, the end of
	// retention while dead or left.
	deadline time.Duration
	cause    detector.Cause
	ext      extension.State
	window   wire.ReplayWindow
}

// handle applies one received packet and fills replies with the answers to
// send back to its sender; it returns how many. It is the whole handling
// path of a packet but the socket calls.
func (m *Manager) handle(codec *wire.Codec, in *wire.Message, replies *[2]wire.Message, pkt []byte) int {
	m.stats.packetsIn.Add(1)
	if err := codec.Decode(pkt, in); err != nil {
		m.stats.bad.Add(1)
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	switch in.Type {
	case wire.TypeJoin:
		return m.joinLocked(now, in, replies)
	case wire.TypeHeartbeat:
		w, ok := m.senderLocked(in)
		if !ok {
			return 0
		}
		m.stats.heartbeats.Add(1)
		return m.heartbeatLocked(now, w, in, replies)
	case wire.TypeExtensionRequest:
		w, ok := m.senderLocked(in)
		if !ok {
			return 0
		}
		m.extendLocked(now, w, in, &replies[0])
		return 1
	case wire.TypeLeave:
		w, ok := m.senderLocked(in)
		if ok && w != nil {
			m.leaveLocked(now, w, in.Incarnation)
		}
		return 0
	}
	// Acks, indirect acks and nacks answer probes this manager never
	// sends; the rest are manager-to-worker messages.
	m.stats.bad.Add(1)
	return 0
}

// senderLocked finds the worker a message's ticket names: the ticket's slot
// gives the worker ID, the map the record. It returns a nil worker and true
// when the ticket names nobody, and false when the packet is a replay.
func (m *Manager) senderLocked(in *wire.Message) (*worker, bool) {
	if int(in.Ticket.Slot) >= len(m.slots) {
		return nil, true
	}
	s := &m.slots[in.Ticket.Slot]
	if !s.used || s.gen != in.Ticket.Gen {
		return nil, true
	}
	w := m.workers[s.id]
	if !w.window.Check(in.Seq) {
		m.stats.bad.Add(1)
		return nil, false
	}
	return w, true
}

// joinLocked admits a worker, or treats the join of a live one as a
// heartbeat, and answers with a Welcome (and a Notice for a suspect one).
func (m *Manager) joinLocked(now time.Duration, in *wire.Message, replies *[2]wire.Message) int {
	welcome := &replies[0]
	*welcome = wire.Message{
		Type:                wire.TypeWelcome,
		HeartbeatIntervalMS: clampMS(m.cfg.HeartbeatInterval),
		BaseMS:              clampMS(m.cfg.Base),
		Incarnation:         in.Incarnation,
	}
	w := m.workers[string(in.WorkerID)]
	if w == nil {
		w = m.newWorkerLocked(in.CopyWorkerID())
		if w == nil {
			welcome.Status = wire.JoinFull
			return 1
		}
		w.window.Check(in.Seq)
		m.admitLocked(now, w, in.Incarnation)
		welcome.Ticket = w.ticket
		return 1
	}
	if !w.window.Check(in.Seq) {
		m.stats.bad.Add(1)
		return 0
	}
	welcome.Ticket = w.ticket
	switch w.status {
	case detector.StatusLeft:
		m.admitLocked(now, w, in.Incarnation)
		return 1
	case detector.StatusDead:
		if in.Incarnation <= w.inc {
			welcome.Status = wire.JoinStaleIncarnation
			welcome.Incarnation = w.inc
			return 1
		}
		m.admitLocked(now, w, in.Incarnation)
		return 1
	}
	notice := m.beatLocked(now, w, in.Incarnation)
	welcome.Incarnation = w.inc
	if notice == wire.NoticeSuspect {
		m.noticeLocked(&replies[1], w.ticket, notice, w.inc)
		return 2
	}
	return 1
}

// newWorkerLocked creates the record of a new worker in a free slot, or
// returns nil when the manager is full.
func (m *Manager) newWorkerLocked(id string) *worker {
	var idx uint32
	switch {
	case len(m.free) > 0:
		idx = m.free[len(m.free)-1]
		m.free = m.free[:len(m.free)-1]
	case len(m.slots) < MaxWorkers:
		idx = uint32(len(m.slots))
		m.slots = append(m.slots, slot{})
	default:
		return nil
	}
	s := &m.slots[idx]
	s.id, s.used = id, true
	w := &worker{id: id, ticket: wire.Ticket{Slot: idx, Gen: s.gen}}
	w.timer = time.AfterFunc(m.cfg.Base, func() { m.expire(w) })
	m.workers[id] = w
	m.stats.workers.Add(1)
	return w
}

// admitLocked starts a new life: alive at inc, deadline now+Base, a clean
// extension cycle.
func (m *Manager) admitLocked(now time.Duration, w *worker, inc uint64) {
	w.status, w.inc, w.cause = detector.StatusAlive, inc, detector.CauseNone
	w.ext.Reset()
	m.stats.alive.Add(1)
	m.armLocked(now, w, now+m.cfg.Base)
	m.emitLocked(detector.Event{Kind: detector.EventJoined, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: inc})
}

// heartbeatLocked applies a heartbeat of the worker w (nil: the ticket
// names nobody) and answers with a Notice when it did not count.
func (m *Manager) heartbeatLocked(now time.Duration, w *worker, in *wire.Message, replies *[2]wire.Message) int {
	if w == nil {
		m.noticeLocked(&replies[0], in.Ticket, wire.NoticeUnknown, 0)
		return 1
	}
	if state := m.beatLocked(now, w, in.Incarnation); state != 0 {
		m.noticeLocked(&replies[0], w.ticket, state, w.inc)
		return 1
	}
	return 0
}

// beatLocked is the heartbeat rule for a known worker. It returns the
// Notice state to answer with, or 0 when no Notice is due (applied, or
// stale and ignored).
func (m *Manager) beatLocked(now time.Duration, w *worker, inc uint64) wire.NoticeState {
	switch w.status {
	case detector.StatusDead:
		return wire.NoticeDead
	case detector.StatusLeft:
		return wire.NoticeLeft
	}
	if inc < w.inc {
		return 0
	}
	if w.status == detector.StatusSuspect {
		if inc == w.inc {
			return wire.NoticeSuspect
		}
		w.status, w.inc, w.cause = detector.StatusAlive, inc, detector.CauseNone
		w.ext.Reset()
		m.stats.suspect.Add(-1)
		m.stats.alive.Add(1)
		m.armLocked(now, w, now+m.cfg.Base)
		m.emitLocked(detector.Event{Kind: detector.EventRefuted, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: inc})
		return 0
	}
	w.inc = max(w.inc, inc)
	w.ext.Reset()
	m.armLocked(now, w, max(w.deadline, now+m.cfg.Base))
	return 0
}

// extendLocked judges an extension request and writes the response.
func (m *Manager) extendLocked(now time.Duration, w *worker, in *wire.Message, resp *wire.Message) {
	var dec extension.Decision
	switch {
	case w == nil:
		dec.Reason = extension.NotAlive
	case w.status != detector.StatusAlive:
		dec = m.denyLocked(now, w, extension.NotAlive)
	case in.Incarnation < w.inc:
		dec = m.denyLocked(now, w, extension.StaleIncarnation)
	default:
		if in.Incarnation > w.inc {
			w.inc = in.Incarnation
			w.ext.Reset()
		}
		req := extension.Request{Progress: extension.Progress{
			Completed: in.Completed, Total: in.Total, HasCount: in.HasCount,
			Fraction: in.Fraction, HasFraction: in.HasFraction,
		}}
		dec = m.cfg.Policy.Decide(&w.ext, req, now, w.deadline)
		if dec.Granted {
			m.armLocked(now, w, dec.Deadline)
			m.emitLocked(detector.Event{Kind: detector.EventExtended, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: w.inc,
				Grant: dec.Grant, Deadline: wheel.Time(dec.Deadline), Remaining: dec.Remaining, Warning: dec.Warning})
		} else {
			m.emitLocked(detector.Event{Kind: detector.EventDenied, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: w.inc,
				Denial: dec.Reason, Remaining: dec.Remaining})
		}
	}
	*resp = wire.Message{
		Type:      wire.TypeExtensionResponse,
		Ticket:    in.Ticket,
		RequestID: in.RequestID,
		Granted:   dec.Granted,
		GrantMS:   clampMS(dec.Grant),
		Remaining: uint8(min(dec.Remaining, 255)),
		Warning:   dec.Warning,
		Denial:    wire.Denial(dec.Reason),
	}
	if dec.Deadline > now {
		resp.DeadlineInMS = clampMS(dec.Deadline - now)
	}
}

// denyLocked denies a request before the policy judges it.
func (m *Manager) denyLocked(now time.Duration, w *worker, reason extension.Reason) extension.Decision {
	dec := extension.Decision{Reason: reason, Remaining: m.cfg.Policy.Remaining(w.ext)}
	if w.status == detector.StatusAlive {
		dec.Deadline = w.deadline
	}
	m.emitLocked(detector.Event{Kind: detector.EventDenied, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: w.inc,
		Denial: reason, Remaining: dec.Remaining})
	return dec
}

// leaveLocked marks a worker left at inc or later.
func (m *Manager) leaveLocked(now time.Duration, w *worker, inc uint64) {
	if inc < w.inc {
		return
	}
	switch w.status {
	case detector.StatusAlive:
		m.stats.alive.Add(-1)
	case detector.StatusSuspect:
		m.stats.suspect.Add(-1)
	default: // dead or left already
		return
	}
	w.status, w.inc = detector.StatusLeft, inc
	m.armLocked(now, w, now+m.cfg.Retention)
	m.emitLocked(detector.Event{Kind: detector.EventLeft, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: inc})
}

// expire runs on the worker's timer goroutine when its deadline passes.
func (m *Manager) expire(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.workers[w.id] != w {
		return
	}
	now := m.now()
	if now < w.deadline {
		// The deadline moved while this call was on its way: Reset does not
		// hold back a function already started.
		w.timer.Reset(w.deadline - now)
		return
	}
	switch w.status {
	case detector.StatusAlive:
		w.status, w.cause = detector.StatusSuspect, detector.CauseDeadline
		if limit := m.cfg.Policy.MaxExtensions; limit > 0 && w.ext.Used() >= limit {
			w.cause = detector.CauseExhausted
		}
		m.stats.alive.Add(-1)
		m.stats.suspect.Add(1)
		m.armLocked(now, w, now+m.cfg.Suspicion)
		m.emitLocked(detector.Event{Kind: detector.EventSuspected, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: w.inc, Cause: w.cause})
	case detector.StatusSuspect:
		w.status = detector.StatusDead
		m.stats.suspect.Add(-1)
		m.stats.evicted.Add(1)
		m.armLocked(now, w, now+m.cfg.Retention)
		m.emitLocked(detector.Event{Kind: detector.EventEvicted, At: wheel.Time(now), Worker: w.id, Ticket: wheel.Ticket(w.ticket), Inc: w.inc, Cause: w.cause})
	default: // dead or left: retention is over, forget the record
		delete(m.workers, w.id)
		s := &m.slots[w.ticket.Slot]
		*s = slot{gen: s.gen + 1}
		m.free = append(m.free, w.ticket.Slot)
		m.stats.workers.Add(-1)
	}
}

// armLocked sets the worker's deadline and Resets its timer to it.
func (m *Manager) armLocked(now time.Duration, w *worker, deadline time.Duration) {
	w.deadline = deadline
	w.timer.Reset(max(0, deadline-now))
}

// noticeLocked builds a Notice to the worker named by t.
func (m *Manager) noticeLocked(msg *wire.Message, t wire.Ticket, state wire.NoticeState, inc uint64) {
	*msg = wire.Message{Type: wire.TypeNotice, Ticket: t, State: state, Incarnation: inc}
}

// emitLocked hands one event to OnEvents.
func (m *Manager) emitLocked(ev detector.Event) {
	if m.cfg.OnEvents == nil {
		return
	}
	m.events[0] = ev
	m.cfg.OnEvents(m.events[:])
}

// clampMS converts d to whole milliseconds in a u32, saturating.
func clampMS(d time.Duration) uint32 {
	ms := d / time.Millisecond
	switch {
	case ms < 0:
		return 0
	case ms > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(ms)
}
