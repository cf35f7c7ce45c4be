package scenario

import (
	"container/heap"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

// worker returns the simulated worker named id, creating it.
func (e *engine) worker(id string) *simWorker {
	w := e.workers[id]
	if w == nil {
		w = &simWorker{id: id}
		e.workers[id] = w
	}
	return w
}

// apply carries out one command at e.now. The command's reply is printed
// before the events the command caused.
func (e *engine) apply(c command) {
	e.holding = true
	defer func() {
		e.holding = false
		e.out.Write(e.held)
		e.held = e.held[:0]
	}()
	w := e.worker(c.worker)
	inc := e.incFor(w, c)
	now := e.now
	switch c.verb {
	case verbJoin:
		t, o := e.det.Join(now, w.id, inc)
		if o == detector.Accepted || !o.Refused() {
			e.bind(w, t)
		}
		e.replyOutcome("join", w, o)
	case verbHeartbeat:
		t := e.ticket(w)
		o := e.det.Heartbeat(now, t, inc)
		e.replyOutcome("heartbeat", w, o)
	case verbLeave:
		o := e.det.Leave(now, e.ticket(w), inc)
		e.replyOutcome("leave", w, o)
	case verbExtend:
		p := c.progress
		req := extension.Request{Progress: extension.Progress{
			Completed: p.completed, Total: p.total, HasCount: p.hasCount,
			Fraction: p.fraction, HasFraction: p.hasFraction,
		}}
		dec := e.det.Extend(now, e.ticket(w), inc, req)
		e.replyExtend(w, dec)
	case verbStatus:
		st := e.det.StatusOf(e.ticket(w))
		e.begin(now)
		e.str("reply", "status")
		e.str("worker", w.id)
		e.str("status", st.Status.String())
		if st.Status != detector.StatusUnknown {
			e.num("inc", st.Inc)
			if st.Deadline > 0 {
				e.ms("deadline", time.Duration(st.Deadline))
			}
			e.int("remaining", st.Remaining)
		}
		e.end()
	case verbCrash:
		w.crashed = true
	case verbRevive:
		w.crashed = false
	}
}

// incFor is the incarnation a command carries: its inc key, else the
// worker's current incarnation as the detector knows it, else the simulated
// worker's own (0 for a new worker). The simulated worker answers probes at
// its own incarnation: the highest it has used or been given, or, after a
// join with an explicit inc, that inc (a join declares a new start).
func (e *engine) incFor(w *simWorker, c command) uint64 {
	if c.hasInc {
		if c.verb == verbJoin || c.inc > w.inc {
			w.inc = c.inc
		}
		return c.inc
	}
	if st := e.det.Status(w.id); st.Status != detector.StatusUnknown {
		return st.Inc
	}
	return w.inc
}

// ticket is the worker's current ticket, looked up afresh so that a
// forgotten and re-joined worker is found at its new slot.
func (e *engine) ticket(w *simWorker) wheel.Ticket {
	t, ok := e.det.Lookup(w.id)
	if !ok {
		return wheel.Ticket{Slot: ^uint32(0)}
	}
	e.bind(w, t)
	return t
}

func (e *engine) bind(w *simWorker, t wheel.Ticket) {
	if w.joined && w.ticket == t {
		return
	}
	if w.joined && e.bySlot[w.ticket.Slot] == w {
		delete(e.bySlot, w.ticket.Slot)
	}
	w.ticket, w.joined = t, true
	e.bySlot[t.Slot] = w
}

// replyOutcome prints a join, heartbeat or leave reply when it was not
// applied, and lets a probing worker refute a suspicion it learns of.
func (e *engine) replyOutcome(cmd string, w *simWorker, o detector.Outcome) {
	if o == detector.Accepted {
		return
	}
	e.begin(e.now)
	e.str("reply", cmd)
	e.str("worker", w.id)
	if o.Refused() {
		e.str("refused", o.String())
	} else {
		e.str("ignored", o.String())
	}
	e.end()
	if o == detector.IgnoredSuspect {
		e.refute(w, e.ticket(w))
	}
}

// refute is a live simulated worker's answer to learning it is suspect: a
// heartbeat at a higher incarnation, one rtt later.
func (e *engine) refute(w *simWorker, t wheel.Ticket) {
	if !e.cfg.det.Probing || w.crashed {
		return
	}
	w.inc++
	if e.lost() {
		return
	}
	e.schedule(delivery{at: e.now + wheel.Time(e.cfg.rtt), kind: deliverHeartbeat, ticket: t, inc: w.inc})
}

func (e *engine) replyExtend(w *simWorker, dec extension.Decision) {
	e.begin(e.now)
	e.str("reply", "extend")
	e.str("worker", w.id)
	e.bool("granted", dec.Granted)
	if dec.Granted {
		e.ms("grant", dec.Grant)
		e.ms("deadline", dec.Deadline)
		e.int("remaining", dec.Remaining)
		e.bool("warning", dec.Warning)
	} else {
		e.str("reason", dec.Reason.String())
		if dec.Deadline > 0 {
			e.ms("deadline", dec.Deadline)
		}
		e.int("remaining", dec.Remaining)
	}
	e.end()
}

// lost draws one packet's fate from the seeded source.
func (e *engine) lost() bool {
	return e.cfg.loss > 0 && e.rng.Float64() < e.cfg.loss
}

func (e *engine) schedule(p delivery) {
	e.seq++
	p.seq = e.seq
	heap.Push(&e.pending, p)
}

// onSend plays the simulated workers' side of every ping and ping-req.
func (e *engine) onSend(msgs []detector.Message) {
	rtt := wheel.Time(e.cfg.rtt)
	for _, m := range msgs {
		to := e.bySlot[m.To.Slot]
		if e.lost() || to == nil || to.crashed || to.ticket != m.To {
			continue
		}
		switch m.Kind {
		case detector.MsgPing:
			if m.Suspect && e.cfg.det.Probing && to.inc <= m.Inc {
				to.inc = m.Inc + 1 // refute in the ack
			}
			if !e.lost() {
				e.schedule(delivery{at: e.now + rtt, kind: deliverAck, ticket: m.To, inc: to.inc})
			}
		case detector.MsgPingReq:
			target := e.bySlot[m.Target.Slot]
			reached := !e.lost() && target != nil && !target.crashed && target.ticket == m.Target && !e.lost()
			if reached {
				if !e.lost() {
					e.schedule(delivery{at: e.now + 2*rtt, kind: deliverIndirectAck, ticket: m.Target, inc: target.inc, probeSeq: m.ProbeSeq})
				}
				continue
			}
			if !e.lost() {
				nackAt := e.now + wheel.Time(e.cfg.det.ProbeTimeout/2)
				e.schedule(delivery{at: nackAt, kind: deliverNack, ticket: m.Target, probeSeq: m.ProbeSeq})
			}
		}
	}
}

// deliver hands one simulated packet to the detector at e.now.
func (e *engine) deliver(p delivery) {
	switch p.kind {
	case deliverAck:
		o := e.det.Ack(e.now, p.ticket, p.inc)
		e.learn(p.ticket, o)
	case deliverIndirectAck:
		o := e.det.IndirectAck(e.now, p.ticket, p.inc, p.probeSeq)
		e.learn(p.ticket, o)
	case deliverNack:
		e.det.Nack(e.now, p.ticket, p.probeSeq)
	case deliverHeartbeat:
		o := e.det.Heartbeat(e.now, p.ticket, p.inc)
		e.learn(p.ticket, o)
	}
}

// learn lets a simulated worker react to a reply it receives.
func (e *engine) learn(t wheel.Ticket, o detector.Outcome) {
	w := e.bySlot[t.Slot]
	if w == nil || w.ticket != t || o != detector.IgnoredSuspect {
		return
	}
	if e.lost() {
		return // the reply itself was lost
	}
	e.refute(w, t)
}

// onEvents prints the detector's events.
func (e *engine) onEvents(evs []detector.Event) {
	for i := range evs {
		ev := &evs[i]
		e.begin(ev.At)
		e.isEvent = true
		e.str("event", ev.Kind.String())
		switch ev.Kind {
		case detector.EventBrake:
			e.str("state", ev.Brake.String())
			e.int("suspect", ev.Suspect)
			e.int("fleet", ev.Fleet)
			e.end()
			continue
		case detector.EventLHM:
			e.int("score", ev.LHM)
			e.end()
			continue
		}
		e.str("worker", ev.Worker)
		e.num("inc", ev.Inc)
		switch ev.Kind {
		case detector.EventSuspected, detector.EventEvicted:
			e.str("reason", ev.Cause.String())
		case detector.EventDenied:
			e.str("reason", ev.Denial.String())
			e.int("remaining", ev.Remaining)
		case detector.EventExtended:
			e.ms("grant", ev.Grant)
			e.ms("deadline", time.Duration(ev.Deadline))
			e.int("remaining", ev.Remaining)
			e.bool("warning", ev.Warning)
		}
		e.end()
	}
}

// A tiny JSON line writer: fields in a fixed order, so output is
// byte-for-byte reproducible.
func (e *engine) begin(at wheel.Time) {
	e.isEvent = false
	e.line = append(e.line[:0], `{"t":`...)
	e.line = strconv.AppendInt(e.line, int64(time.Duration(at)/time.Millisecond), 10)
}

func (e *engine) key(k string) {
	e.line = append(e.line, ',', '"')
	e.line = append(e.line, k...)
	e.line = append(e.line, '"', ':')
}

func (e *engine) str(k, v string) {
	e.key(k)
	e.line = appendJSONString(e.line, v)
}

// appendJSONString quotes s as a JSON string: quotes, backslashes and
// control bytes escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func (e *engine) num(k string, v uint64) {
	e.key(k)
	e.line = strconv.AppendUint(e.line, v, 10)
}

func (e *engine) int(k string, v int) {
	e.key(k)
	e.line = strconv.AppendInt(e.line, int64(v), 10)
}

func (e *engine) ms(k string, d time.Duration) {
	e.key(k)
	e.line = strconv.AppendInt(e.line, int64(d/time.Millisecond), 10)
}

func (e *engine) bool(k string, v bool) {
	e.key(k)
	e.line = strconv.AppendBool(e.line, v)
}

func (e *engine) end() {
	e.line = append(e.line, '}', '\n')
	if e.holding && e.isEvent {
		e.held = append(e.held, e.line...)
		return
	}
	e.out.Write(e.line)
}
