package manager

import (
	"net/netip"
	"time"
	"unsafe"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// process applies a batch of forwarded packets on the loop goroutine.
func (m *Manager) process(now wheel.Time, items []inbound) {
	// The workers of a batch are spread over arrays far larger than the
	// cache: ask for all their lines first, so that the misses overlap
	// instead of stalling each handle in turn. (A join names no slot yet;
	// the slot a helper's report names is the target's, as good a guess.)
	for i := range items {
		if items[i].typ != wire.TypeJoin {
			m.det.PrefetchOwner(items[i].ticket.Slot)
		}
	}
	for i := range items {
		m.handle(now, &items[i])
	}
}

func (m *Manager) handle(now wheel.Time, in *inbound) {
	switch in.typ {
	case wire.TypeJoin:
		m.join(now, in)
	case wire.TypeHeartbeat:
		m.stats.heartbeatsSlow.Add(1)
		o := m.det.HeartbeatSlow(now, in.ticket, in.inc) // the reader's fast path refused it
		m.notice(in.from, in.ticket, o)
	case wire.TypeAck:
		o := m.det.Ack(now, in.ticket, in.inc)
		m.notice(in.from, in.ticket, o)
	case wire.TypeIndirectAck:
		m.det.IndirectAck(now, in.ticket, in.inc, in.probeSeq)
	case wire.TypeNack:
		m.det.Nack(now, in.ticket, in.probeSeq)
	case wire.TypeExtensionRequest:
		dec := m.det.Extend(now, in.ticket, in.inc, extension.Request{Progress: in.progress})
		msg := m.out.msg(wire.TypeExtensionResponse, in.ticket)
		msg.RequestID = in.reqID
		msg.Granted = dec.Granted
		msg.GrantMS = clampMS(dec.Grant)
		if dec.Deadline > time.Duration(now) {
			msg.DeadlineInMS = clampMS(dec.Deadline - time.Duration(now))
		}
		msg.Remaining = uint8(min(dec.Remaining, 255))
		msg.Warning = dec.Warning
		msg.Denial = wire.Denial(dec.Reason)
		m.out.send(in.from, m.seq.Next())
	case wire.TypeLeave:
		m.det.Leave(now, in.ticket, in.inc)
	}
}

// join admits a worker and answers with a Welcome.
func (m *Manager) join(now wheel.Time, in *inbound) {
	// The detector copies the ID when it stores it.
	id := unsafe.String(&in.id[0], int(in.idLen))
	t, o := m.det.Join(now, id, in.inc)
	msg := m.out.msg(wire.TypeWelcome, t)
	msg.HeartbeatIntervalMS = clampMS(m.cfg.HeartbeatInterval)
	msg.BaseMS = clampMS(m.cfg.Detector.Base)
	msg.Incarnation = in.inc
	switch o {
	case detector.Accepted, detector.IgnoredSuspect:
		p := m.peers.make(t.Slot)
		if p.gen.Load() != uint32(t.Gen) || !p.known {
			// A new life of this slot: the previous owner's sequence
			// numbers mean nothing to the new one. Its packets carry the
			// old generation and are refused by the ticket check.
			w := m.peers.window(t.Slot)
			w.Reset()
			w.Check(in.seq)
			p.gen.Store(uint32(t.Gen))
		}
		p.setAddr(in.from)
		msg.Status = wire.JoinAccepted
		msg.Incarnation = m.det.StatusOf(t).Inc
	case detector.RefusedFull:
		msg.Status = wire.JoinFull
	default: // stale incarnation, refused or ignored
		msg.Status = wire.JoinStaleIncarnation
		msg.Incarnation = m.det.StatusOf(t).Inc
	}
	m.out.send(in.from, m.seq.Next())
	if o == detector.IgnoredSuspect {
		m.notice(in.from, t, o)
	}
}

// notice tells a worker why its heartbeat or ack did not count, so that it
// refutes (suspect) or joins again (dead, left, unknown).
func (m *Manager) notice(to netip.AddrPort, t wheel.Ticket, o detector.Outcome) {
	var state wire.NoticeState
	switch o {
	case detector.IgnoredSuspect:
		state = wire.NoticeSuspect
	case detector.IgnoredDead:
		state = wire.NoticeDead
	case detector.IgnoredLeft:
		state = wire.NoticeLeft
	case detector.IgnoredUnknown:
		state = wire.NoticeUnknown
	default:
		return
	}
	msg := m.out.msg(wire.TypeNotice, t)
	msg.State = state
	msg.Incarnation = m.det.StatusOf(t).Inc
	m.out.send(to, m.seq.Next())
}

// onEvents counts the detector's events and hands them to the embedder.
func (m *Manager) onEvents(evs []detector.Event) {
	for i := range evs {
		m.stats.events[evs[i].Kind].Add(1)
		switch evs[i].Kind {
		case detector.EventBrake:
			m.log.Warn("eviction brake", "state", evs[i].Brake.String(), "suspect", evs[i].Suspect, "fleet", evs[i].Fleet)
		case detector.EventLHM:
			m.log.Info("local health", "lhm", evs[i].LHM)
		}
	}
	if m.cfg.OnEvents != nil {
		m.cfg.OnEvents(evs)
	}
}

// onSend encodes the detector's pings and ping-reqs.
func (m *Manager) onSend(msgs []detector.Message) {
	for _, dm := range msgs {
		to := m.peers.get(dm.To.Slot)
		if to == nil || !to.known {
			continue
		}
		switch dm.Kind {
		case detector.MsgPing:
			msg := m.out.msg(wire.TypePing, dm.To)
			msg.ProbeSeq = dm.ProbeSeq
			msg.Suspect = dm.Suspect // the wire ping carries no incarnation
		case detector.MsgPingReq:
			target := m.peers.get(dm.Target.Slot)
			if target == nil || !target.known {
				continue
			}
			msg := m.out.msg(wire.TypePingReq, dm.Target)
			msg.ProbeSeq = dm.ProbeSeq
			msg.Suspect = dm.Suspect
			msg.Addr = target.addr()
		}
		m.out.send(to.addr(), m.seq.Next())
	}
}

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
