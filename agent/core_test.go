package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wire"
)

func TestJoinRetriesWithBackoffThenWelcome(t *testing.T) {
	h := newHarness(t, Config{Seed: 7, JoinBackoffMin: 100 * time.Millisecond, JoinBackoffMax: time.Second})
	h.net.Block(agentAddr, mgrAddr)
	h.run(5 * time.Second)
	joins := h.sentOf(wire.TypeJoin)
	if len(joins) < 6 {
		t.Fatalf("%d joins in 5s under loss, want at least 6", len(joins))
	}
	if joins[0].at != 0 {
		t.Errorf("first join at %v, want 0", joins[0].at)
	}
	for i := 1; i < len(joins); i++ {
		b := min(100*time.Millisecond<<(i-1), time.Second)
		if gap := joins[i].at - joins[i-1].at; gap < b/2 || gap > b {
			t.Errorf("join %d after %v, want within [%v, %v]", i, gap, b/2, b)
		}
		if joins[i].m.Incarnation != 0 || string(joins[i].m.WorkerID) != "worker-1" {
			t.Errorf("join %d: %+v", i, joins[i].m)
		}
	}
	if len(h.mgr.inbox) != 0 {
		t.Fatalf("manager received %d packets through the block", len(h.mgr.inbox))
	}

	h.net.Heal()
	h.welcome(1000)
	h.run(7 * time.Second)
	s := h.a.State()
	if !s.Joined || s.Ticket != ticket || s.Incarnation != 0 {
		t.Fatalf("state after welcome: %+v", s)
	}
	n := len(h.sentOf(wire.TypeJoin))
	h.run(20 * time.Second)
	if m := len(h.sentOf(wire.TypeJoin)); m != n {
		t.Errorf("%d joins after the welcome", m-n)
	}
}

func TestJoinFullBacksOff(t *testing.T) {
	h := newHarness(t, Config{})
	full := 0
	h.mgr.reply = func(p *peer, g got) {
		if g.m.Type != wire.TypeJoin {
			return
		}
		st := wire.JoinAccepted
		if full < 3 {
			full++
			st = wire.JoinFull
		}
		p.send(g.from, wire.Message{Type: wire.TypeWelcome, Status: st, Ticket: ticket, HeartbeatIntervalMS: 1000})
	}
	h.run(2 * time.Second)
	joins := h.sentOf(wire.TypeJoin)
	if len(joins) != 4 || !h.a.State().Joined {
		t.Fatalf("%d joins, state %+v; want 4 joins then joined", len(joins), h.a.State())
	}
	for i := 1; i < len(joins); i++ {
		if gap := joins[i].at - joins[i-1].at; gap < 50*time.Millisecond {
			t.Errorf("join %d only %v after a full refusal", i, gap)
		}
	}
}

func TestHeartbeatsAtInterval(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(1000)
	start := h.now
	h.run(start + 10*time.Second)
	hbs := h.sentOf(wire.TypeHeartbeat)
	if len(hbs) < 9 {
		t.Fatalf("%d heartbeats in 10s at 1s", len(hbs))
	}
	if first := hbs[0].at - start; first < 500*time.Millisecond || first > time.Second {
		t.Errorf("first heartbeat %v after the welcome, want within [500ms, 1s]", first)
	}
	for i, hb := range hbs {
		if hb.m.Ticket != ticket || hb.m.Incarnation != 0 || hb.to != mgrAddr {
			t.Errorf("heartbeat %d: %+v to %v", i, hb.m, hb.to)
		}
		if i > 0 && hb.at-hbs[i-1].at != time.Second {
			t.Errorf("heartbeat %d after %v, want 1s", i, hb.at-hbs[i-1].at)
		}
		if i > 0 && hb.m.Seq <= hbs[i-1].m.Seq {
			t.Errorf("sequence numbers not increasing: %d then %d", hbs[i-1].m.Seq, hb.m.Seq)
		}
	}
}

func TestHeartbeatIntervalOverride(t *testing.T) {
	h := newHarness(t, Config{HeartbeatInterval: 300 * time.Millisecond})
	h.joined(1000)
	h.run(h.now + 3*time.Second)
	hbs := h.sentOf(wire.TypeHeartbeat)
	if len(hbs) < 9 {
		t.Fatalf("%d heartbeats in 3s at 300ms", len(hbs))
	}
	for i := 1; i < len(hbs); i++ {
		if gap := hbs[i].at - hbs[i-1].at; gap != 300*time.Millisecond {
			t.Fatalf("heartbeat %d after %v, want 300ms", i, gap)
		}
	}
}

func TestPingAnswered(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 7})
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: wire.Ticket{Slot: 17, Gen: 2}, ProbeSeq: 8})
	h.run(h.now + time.Millisecond)
	acks := h.mgr.of(wire.TypeAck)
	if len(acks) != 1 {
		t.Fatalf("%d acks, want 1 (the ping of an old ticket is ignored)", len(acks))
	}
	if m := acks[0].m; m.Ticket != ticket || m.ProbeSeq != 7 || m.Incarnation != 0 {
		t.Errorf("ack %+v", m)
	}
	if s := h.a.State(); s.Dropped.Ignored != 1 || s.Refutations != 0 {
		t.Errorf("state %+v", s)
	}
}

func TestSuspectPingBumpsIncarnation(t *testing.T) {
	h := newHarness(t, Config{Incarnation: 4})
	h.joined(60000)
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 1, Suspect: true})
	h.run(h.now + time.Millisecond)
	acks := h.mgr.of(wire.TypeAck)
	if len(acks) != 1 || acks[0].m.Incarnation != 5 || acks[0].m.ProbeSeq != 1 {
		t.Fatalf("acks %+v, want one at incarnation 5", acks)
	}
	if s := h.a.State(); s.Incarnation != 5 || s.Refutations != 1 {
		t.Errorf("state %+v", s)
	}
	// Heartbeats carry the new incarnation.
	h.run(h.now + 61*time.Second)
	for _, hb := range h.sentOf(wire.TypeHeartbeat) {
		if hb.m.Incarnation != 5 {
			t.Errorf("heartbeat at incarnation %d", hb.m.Incarnation)
		}
	}
}

func TestNoticeSuspectRefutes(t *testing.T) {
	h := newHarness(t, Config{Incarnation: 2})
	h.joined(60000)
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, Incarnation: 2, State: wire.NoticeSuspect})
	h.run(h.now + time.Millisecond)
	hbs := h.mgr.of(wire.TypeHeartbeat)
	if len(hbs) != 1 || hbs[0].m.Incarnation != 3 || hbs[0].m.Ticket != ticket {
		t.Fatalf("refutation %+v, want one heartbeat at incarnation 3", hbs)
	}
	// Suspected above our incarnation (we restarted): jump past it.
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, Incarnation: 9, State: wire.NoticeSuspect})
	// Suspected below ours: a heartbeat at ours refutes, no bump.
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, Incarnation: 1, State: wire.NoticeSuspect})
	h.run(h.now + time.Millisecond)
	hbs = h.mgr.of(wire.TypeHeartbeat)
	if len(hbs) != 3 || hbs[1].m.Incarnation != 10 || hbs[2].m.Incarnation != 10 {
		t.Fatalf("refutations %+v, want incarnations 3, 10, 10", hbs)
	}
	if s := h.a.State(); s.Refutations != 3 || s.Incarnation != 10 || !s.Joined {
		t.Errorf("state %+v", s)
	}
}

func TestNoticeDeadRejoins(t *testing.T) {
	h := newHarness(t, Config{Incarnation: 3})
	h.joined(1000)
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, Incarnation: 3, State: wire.NoticeDead})
	h.run(h.now + time.Millisecond)
	joins := h.mgr.of(wire.TypeJoin)
	if len(joins) != 1 || joins[0].m.Incarnation != 4 {
		t.Fatalf("joins %+v, want one at incarnation 4", joins)
	}
	if s := h.a.State(); s.Joined || s.Evictions != 1 || s.Incarnation != 4 {
		t.Fatalf("state %+v", s)
	}
	h.welcome(1000)
	h.run(h.now + time.Second)
	if s := h.a.State(); !s.Joined || s.Incarnation != 4 {
		t.Fatalf("state after re-join %+v", s)
	}
}

func TestNoticeUnknownAndLeftRejoinAtSameIncarnation(t *testing.T) {
	for _, st := range []wire.NoticeState{wire.NoticeUnknown, wire.NoticeLeft} {
		h := newHarness(t, Config{Incarnation: 6})
		h.joined(1000)
		h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, Incarnation: 6, State: st})
		h.run(h.now + time.Millisecond)
		joins := h.mgr.of(wire.TypeJoin)
		if len(joins) != 1 || joins[0].m.Incarnation != 6 {
			t.Fatalf("%v: joins %+v, want one at incarnation 6", st, joins)
		}
		if s := h.a.State(); s.Joined || s.Evictions != 0 {
			t.Fatalf("%v: state %+v", st, s)
		}
	}
}

func TestStaleWelcomeBumpsIncarnation(t *testing.T) {
	h := newHarness(t, Config{})
	h.mgr.reply = func(p *peer, g got) {
		if g.m.Type != wire.TypeJoin {
			return
		}
		if g.m.Incarnation <= 8 {
			p.send(g.from, wire.Message{Type: wire.TypeWelcome, Status: wire.JoinStaleIncarnation, Incarnation: 8})
			return
		}
		p.send(g.from, wire.Message{Type: wire.TypeWelcome, Status: wire.JoinAccepted, Ticket: ticket, Incarnation: g.m.Incarnation, HeartbeatIntervalMS: 1000})
	}
	h.run(time.Millisecond)
	joins := h.mgr.of(wire.TypeJoin)
	if len(joins) != 2 || joins[0].m.Incarnation != 0 || joins[1].m.Incarnation != 9 || joins[1].at != joins[0].at {
		t.Fatalf("joins %+v, want incarnation 0 then 9 at once", joins)
	}
	if s := h.a.State(); !s.Joined || s.Incarnation != 9 {
		t.Fatalf("state %+v", s)
	}
}

func TestRelayIndirectAck(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	target := wire.Ticket{Slot: 5, Gen: 1}
	tp := h.peer(targetAddr, testRing(t))
	tp.reply = func(p *peer, g got) {
		if g.m.Type == wire.TypePing {
			// First an ack of another probe (ignored), then the right one.
			p.send(g.from, wire.Message{Type: wire.TypeAck, Ticket: target, Incarnation: 3, ProbeSeq: g.m.ProbeSeq - 1})
			p.send(g.from, wire.Message{Type: wire.TypeAck, Ticket: wire.Ticket{Slot: 6, Gen: 1}, Incarnation: 3, ProbeSeq: g.m.ProbeSeq})
			p.send(g.from, wire.Message{Type: wire.TypeAck, Ticket: target, Incarnation: 3, ProbeSeq: g.m.ProbeSeq})
			p.send(g.from, wire.Message{Type: wire.TypeAck, Ticket: target, Incarnation: 3, ProbeSeq: g.m.ProbeSeq})
		}
	}
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePingReq, Ticket: target, ProbeSeq: 42, Addr: targetAddr, Suspect: true})
	h.run(h.now + time.Second)
	pings := tp.of(wire.TypePing)
	if len(pings) != 1 || pings[0].m.Ticket != target || pings[0].m.ProbeSeq != 42 || !pings[0].m.Suspect {
		t.Fatalf("relayed pings %+v", pings)
	}
	ind := h.mgr.of(wire.TypeIndirectAck)
	if len(ind) != 1 || ind[0].m.Ticket != target || ind[0].m.Incarnation != 3 || ind[0].m.ProbeSeq != 42 {
		t.Fatalf("indirect acks %+v, want one", ind)
	}
	if n := len(h.mgr.of(wire.TypeNack)); n != 0 {
		t.Errorf("%d nacks after a good ack", n)
	}
	if s := h.a.State(); s.Dropped.Ignored != 3 {
		t.Errorf("ignored %d, want 3 (two mismatched acks and a duplicate)", s.Dropped.Ignored)
	}
}

func TestRelayNackOnTimeout(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	target := wire.Ticket{Slot: 5, Gen: 1}
	tp := h.peer(targetAddr, testRing(t))
	h.setBusy(true) // a busy helper still relays
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePingReq, Ticket: target, ProbeSeq: 9, Addr: targetAddr})
	sentAt := h.now
	h.run(h.now + time.Second)
	if n := len(tp.of(wire.TypePing)); n != 1 {
		t.Fatalf("%d relayed pings, want 1", n)
	}
	nacks := h.mgr.of(wire.TypeNack)
	if len(nacks) != 1 || nacks[0].m.Ticket != target || nacks[0].m.ProbeSeq != 9 {
		t.Fatalf("nacks %+v", nacks)
	}
	if d := nacks[0].at - sentAt; d != DefaultRelayTimeout {
		t.Errorf("nack after %v, want %v", d, DefaultRelayTimeout)
	}
	// A late ack matches no relay any more.
	tp.send(agentAddr, wire.Message{Type: wire.TypeAck, Ticket: target, ProbeSeq: 9})
	h.run(h.now + time.Millisecond)
	if n := len(h.mgr.of(wire.TypeIndirectAck)); n != 0 {
		t.Errorf("%d indirect acks from a late ack", n)
	}
}

func TestRelayTableBounded(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	for i := range MaxRelays + 10 {
		h.mgr.send(agentAddr, wire.Message{Type: wire.TypePingReq, Ticket: wire.Ticket{Slot: uint32(i)}, ProbeSeq: 1, Addr: targetAddr})
		h.run(h.now + time.Millisecond)
	}
	if n := len(h.a.core.relays); n != MaxRelays {
		t.Fatalf("%d relays pending, want %d", n, MaxRelays)
	}
	// The oldest gave way: slot 0 is gone, the newest is there.
	if h.a.core.findRelay(wire.Ticket{Slot: 0}, 1) >= 0 || h.a.core.findRelay(wire.Ticket{Slot: MaxRelays + 9}, 1) < 0 {
		t.Error("the oldest relay was not the one evicted")
	}
}

func TestBusyMode(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(1000)
	h.setBusy(true)
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 1})
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 2, Suspect: true})
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeSuspect})
	h.run(h.now + 10*time.Second)
	if len(h.sent) != 0 {
		t.Fatalf("a busy agent sent %+v", h.sent)
	}
	if s := h.a.State(); !s.Busy || s.Refutations != 0 || s.Incarnation != 0 {
		t.Errorf("state %+v", s)
	}
	// Progress is what keeps it alive.
	h.extend(extension.Progress{Completed: 1, Total: 10, HasCount: true}, "batch")
	if n := len(h.sentOf(wire.TypeExtensionRequest)); n != 1 {
		t.Errorf("%d extension requests while busy", n)
	}
	h.setBusy(false)
	hbs := h.sentOf(wire.TypeHeartbeat)
	if len(hbs) != 1 || hbs[0].at != h.now {
		t.Fatalf("heartbeats after SetBusy(false): %+v", hbs)
	}
	h.run(h.now + time.Second)
	if n := len(h.sentOf(wire.TypeHeartbeat)); n != 2 {
		t.Errorf("%d heartbeats one interval after leaving busy mode, want 2", n)
	}
}

func TestEvictedWhileBusyRejoinsWhenFree(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(1000)
	h.setBusy(true)
	id := h.extend(extension.Progress{Completed: 1, HasCount: true}, "")
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeDead})
	h.run(h.now + 10*time.Second)
	if n := len(h.sentOf(wire.TypeJoin)); n != 0 {
		t.Fatalf("%d joins while busy after an eviction", n)
	}
	if d, ok := h.decision(id); !ok || d.Granted || d.Denial != wire.DenialNotAlive {
		t.Errorf("pending request after eviction: %+v %v", d, ok)
	}
	if s := h.a.State(); s.Joined || s.Evictions != 1 || s.Incarnation != 1 {
		t.Errorf("state %+v", s)
	}
	id = h.extend(extension.Progress{Completed: 2, HasCount: true}, "")
	if d, ok := h.decision(id); !ok || d.Denial != wire.DenialNotAlive {
		t.Errorf("request while evicted: %+v %v", d, ok)
	}
	h.setBusy(false)
	joins := h.sentOf(wire.TypeJoin)
	if len(joins) != 1 || joins[0].m.Incarnation != 1 {
		t.Fatalf("joins after SetBusy(false): %+v", joins)
	}
}

func TestExtensionDecisionAndRetry(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	h.mgr.reply = func(p *peer, g got) {
		if g.m.Type == wire.TypeExtensionRequest {
			p.send(g.from, wire.Message{Type: wire.TypeExtensionResponse, Ticket: g.m.Ticket, RequestID: g.m.RequestID,
				Granted: true, GrantMS: 15000, DeadlineInMS: 40000, Remaining: 3, Warning: true})
		}
	}
	h.net.Block(agentAddr, mgrAddr) // the first request is lost
	id := h.extend(extension.Progress{Completed: 5, Total: 10, HasCount: true, Fraction: 0.5, HasFraction: true}, "reindex")
	h.run(h.now + 100*time.Millisecond)
	if _, ok := h.decision(id); ok {
		t.Fatal("decision without a response")
	}
	h.net.Heal()
	h.run(h.now + time.Second)
	reqs := h.sentOf(wire.TypeExtensionRequest)
	if len(reqs) != 2 || reqs[0].m.RequestID != id || reqs[1].m.RequestID != id {
		t.Fatalf("requests %+v, want two with ID %d", reqs, id)
	}
	if gap := reqs[1].at - reqs[0].at; gap != DefaultExtensionRetry {
		t.Errorf("retry after %v, want %v", gap, DefaultExtensionRetry)
	}
	m := reqs[1].m
	if m.Ticket != ticket || !m.HasCount || m.Completed != 5 || m.Total != 10 || !m.HasFraction || m.Fraction != 0.5 || string(m.Reason) != "reindex" {
		t.Errorf("request %+v", m)
	}
	d, ok := h.decision(id)
	want := Decision{Granted: true, Grant: 15 * time.Second, DeadlineIn: 40 * time.Second, Remaining: 3, Warning: true}
	if !ok || d != want {
		t.Fatalf("decision %+v %v, want %+v", d, ok, want)
	}
	if _, ok := h.a.core.Next(); !ok {
		t.Fatal("no heartbeat timer")
	}
	// Answered: no more retries.
	h.run(h.now + 5*time.Second)
	if n := len(h.sentOf(wire.TypeExtensionRequest)); n != 2 {
		t.Errorf("%d requests after the answer", n)
	}
}

func TestExtensionBeforeJoinWaitsForWelcome(t *testing.T) {
	h := newHarness(t, Config{})
	h.net.Block(agentAddr, mgrAddr)
	h.run(0)
	id := h.extend(extension.Progress{Fraction: 0.25, HasFraction: true}, "")
	h.run(time.Second)
	if n := len(h.sentOf(wire.TypeExtensionRequest)); n != 0 {
		t.Fatalf("%d requests without a ticket", n)
	}
	h.net.Heal()
	h.welcome(1000)
	h.run(h.now + 3*time.Second)
	reqs := h.sentOf(wire.TypeExtensionRequest)
	if len(reqs) == 0 || reqs[0].m.RequestID != id || reqs[0].m.Ticket != ticket {
		t.Fatalf("requests %+v", reqs)
	}
	if _, err := h.a.core.Extend(h.a.env, h.now, extension.Progress{}, string(make([]byte, wire.MaxReasonLen+1)), 0); !errors.Is(err, ErrReasonLen) {
		t.Errorf("long reason: %v", err)
	}
}

func TestCloseSendsLeave(t *testing.T) {
	h := newHarness(t, Config{Incarnation: 2})
	h.joined(1000)
	if err := h.a.Close(); err != nil {
		t.Fatal(err)
	}
	h.flush()
	leaves := h.sentOf(wire.TypeLeave)
	if len(leaves) != 2 || leaves[0].m.Ticket != ticket || leaves[0].m.Incarnation != 2 || leaves[0].m.Seq == leaves[1].m.Seq {
		t.Fatalf("leaves %+v, want two with distinct sequence numbers", leaves)
	}
	if err := h.a.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	h.sent = nil
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 1})
	h.run(h.now + 10*time.Second)
	if len(h.sent) != 0 {
		t.Errorf("a closed agent sent %+v", h.sent)
	}
	if _, ok := h.a.Next(); ok {
		t.Error("a closed agent has a timer")
	}
}

func TestReplayedManagerPacketsDropped(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	ping := h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 1, Suspect: true})
	h.run(h.now + time.Millisecond)
	suspect := h.mgr.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeSuspect, Incarnation: 1})
	h.run(h.now + time.Millisecond)
	before := h.a.State()
	h.mgr.sendRaw(agentAddr, ping)
	h.mgr.sendRaw(agentAddr, suspect)
	h.run(h.now + time.Millisecond)
	s := h.a.State()
	if n := len(h.mgr.of(wire.TypeAck)); n != 1 {
		t.Errorf("%d acks, want 1: the replayed ping was answered", n)
	}
	if s.Incarnation != before.Incarnation || s.Refutations != before.Refutations {
		t.Errorf("replays changed the state: %+v -> %+v", before, s)
	}
	if s.Dropped.Rejected[wire.FaultReplay] != 2 {
		t.Errorf("replays counted %d, want 2", s.Dropped.Rejected[wire.FaultReplay])
	}
}

func TestBadKeyDroppedAndCounted(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	other, err := wire.NewKeyring(9, []byte("fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	forged := &peer{h: h, ep: h.mgr.ep, codec: wire.NewCodec(other), seq: wire.NewSequence(1 << 40)}
	forged.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 1})
	forged.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeDead})
	sameID, err := wire.NewKeyring(1, []byte("fedcba9876543210"))
	if err != nil {
		t.Fatal(err)
	}
	forged.codec = wire.NewCodec(sameID)
	forged.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeDead})
	h.mgr.sendRaw(agentAddr, []byte{1, 2, 3})
	h.run(h.now + time.Millisecond)
	s := h.a.State()
	if len(h.sent) != 0 || !s.Joined || s.Evictions != 0 {
		t.Fatalf("forged packets acted on: sent %+v, state %+v", h.sent, s)
	}
	if s.Dropped.Rejected[wire.FaultKeyID] != 2 || s.Dropped.Rejected[wire.FaultTag] != 1 || s.Dropped.Rejected[wire.FaultTruncated] != 1 {
		t.Errorf("rejected %v", s.Dropped.Rejected)
	}
	// The forged sequence number (far ahead) did not reach the window: the
	// manager's next packet is still accepted.
	h.mgr.send(agentAddr, wire.Message{Type: wire.TypePing, Ticket: ticket, ProbeSeq: 2})
	h.run(h.now + time.Millisecond)
	if n := len(h.mgr.of(wire.TypeAck)); n != 1 {
		t.Errorf("%d acks to the real manager", n)
	}
}

func TestManagerMessagesOnlyFromManager(t *testing.T) {
	h := newHarness(t, Config{})
	h.joined(60000)
	rogue := h.peer(targetAddr, testRing(t))
	rogue.send(agentAddr, wire.Message{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeDead})
	rogue.send(agentAddr, wire.Message{Type: wire.TypePingReq, Ticket: ticket, ProbeSeq: 1, Addr: targetAddr})
	rogue.send(agentAddr, wire.Message{Type: wire.TypeHeartbeat, Ticket: ticket})
	h.run(h.now + time.Millisecond)
	if s := h.a.State(); !s.Joined || s.Evictions != 0 || s.Dropped.Ignored != 3 || len(h.sent) != 0 {
		t.Fatalf("state %+v, sent %+v", s, h.sent)
	}
}

func TestConfigErrors(t *testing.T) {
	ring := testRing(t)
	good := Config{ID: "w", Manager: mgrAddr, Keyring: ring}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"empty id", func(c *Config) { c.ID = "" }, "ID is empty"},
		{"long id", func(c *Config) { c.ID = string(make([]byte, 65)) }, "ID is 65 bytes"},
		{"no manager", func(c *Config) { c.Manager = netip0() }, "Manager"},
		{"no keyring", func(c *Config) { c.Keyring = nil }, "Keyring is nil"},
		{"negative", func(c *Config) { c.RelayTimeout = -1 }, "RelayTimeout -1ns is negative"},
		{"backoff", func(c *Config) { c.JoinBackoffMin, c.JoinBackoffMax = time.Second, time.Millisecond }, "JoinBackoffMin 1s above JoinBackoffMax 1ms"},
	}
	for _, tc := range cases {
		cfg := good
		tc.edit(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, ErrConfig) || !contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(good); err != nil {
		t.Fatal(err)
	}
}

// TestJoinRaisesSequenceToWallClock: with numbers that follow the wall
// clock (FirstSeq 0), every join carries at least the wall clock at that
// moment, however few packets went before; with FirstSeq set, joins just
// take the next number.
func TestJoinRaisesSequenceToWallClock(t *testing.T) {
	joinSeqs := func(first uint64) (before uint64, seqs []uint64) {
		ring := testRing(t)
		env, err := NewEnv(ring, nil)
		if err != nil {
			t.Fatal(err)
		}
		before = uint64(time.Now().UnixNano())
		c, err := NewCore(Config{ID: "w", Manager: mgrAddr, FirstSeq: first, JoinBackoffMin: time.Second, JoinBackoffMax: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		mc := wire.NewCodec(ring)
		for _, now := range []time.Duration{0, time.Hour} {
			if c.wallNow != nil && now > 0 {
				// The host's clock an hour on, as after a long suspend.
				c.wallNow = func() int64 { return int64(before) + int64(time.Hour) }
			}
			c.Tick(env, now) // no welcome comes: each Tick past the backoff joins again
			for _, p := range env.Drain() {
				var m wire.Message
				if err := mc.Decode(p.Data[:p.N], &m); err != nil || m.Type != wire.TypeJoin {
					t.Fatalf("sent %v (%v), want a join", m.Type, err)
				}
				seqs = append(seqs, m.Seq)
			}
		}
		return before, seqs
	}
	before, seqs := joinSeqs(0)
	if len(seqs) != 2 || seqs[0] < before || seqs[1] < before+uint64(time.Hour) {
		t.Fatalf("join numbers %v, want the first >= %d and the second at the clock an hour later", seqs, before)
	}
	if _, seqs = joinSeqs(1000); len(seqs) != 2 || seqs[0] != 1000 || seqs[1] != 1001 {
		t.Fatalf("with FirstSeq 1000 the joins took %v, want [1000 1001]", seqs)
	}
}
