package e2e

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/transport/memnet"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

var attackerAddr = netip.MustParseAddrPort("10.9.9.9:6666")

// attacker sends raw datagrams to the manager from its own address.
type attacker struct {
	s  *sim
	ep *memnet.Endpoint
}

func newAttacker(s *sim) *attacker {
	s.t.Helper()
	ep, err := s.net.Listen(attackerAddr)
	if err != nil {
		s.t.Fatal(err)
	}
	return &attacker{s, ep}
}

// send puts pkts on the network to the manager.
func (a *attacker) send(pkts ...[]byte) {
	ms := make([]transport.Message, len(pkts))
	for i, p := range pkts {
		ms[i] = transport.Message{Addr: simManagerAddr, Data: p, N: len(p)}
	}
	if _, err := a.ep.WriteBatch(ms); err != nil {
		a.s.t.Fatal(err)
	}
}

// inject hands pkts straight to the manager's receive path at the current
// virtual time, as if they had just arrived from the attacker.
func (a *attacker) inject(pkts ...[]byte) {
	for len(pkts) > 0 {
		k := min(len(pkts), 64)
		ms := make([]transport.Message, k)
		for i, p := range pkts[:k] {
			ms[i] = transport.Message{Addr: attackerAddr, Data: p, N: len(p)}
		}
		a.s.m.Receive(wheel.Time(a.s.now), ms)
		pkts = pkts[k:]
	}
}

func encode(t *testing.T, codec *wire.Codec, m wire.Message) []byte {
	t.Helper()
	buf := make([]byte, wire.MaxMessageSize)
	n, err := codec.Encode(buf, &m)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// forgeries returns a heartbeat, a leave and an extension request for the
// worker holding tk, each signed by a key the manager does not know under
// an unknown key ID and under the fleet's key ID. Their sequence numbers
// are far ahead, so that one accepted would shut the real worker out.
func forgeries(t *testing.T, tk wire.Ticket, inc uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for _, id := range []uint8{2, 1} {
		ring, err := wire.NewKeyring(id, forgedKey)
		if err != nil {
			t.Fatal(err)
		}
		codec := wire.NewCodec(ring)
		seq := uint64(1) << 60
		for _, m := range []wire.Message{
			{Type: wire.TypeHeartbeat, Ticket: tk, Incarnation: inc + 1},
			{Type: wire.TypeLeave, Ticket: tk, Incarnation: inc + 1},
			{Type: wire.TypeExtensionRequest, Ticket: tk, Incarnation: inc, RequestID: 1, HasCount: true, Completed: 1 << 40},
		} {
			seq++
			m.Seq = seq
			out = append(out, encode(t, codec, m))
		}
	}
	return out
}

func statsDelta(before, after manager.Stats) (auth, replays, bad uint64) {
	return after.AuthFailures() - before.AuthFailures(), after.Replays() - before.Replays(), after.BadPackets() - before.BadPackets()
}

func TestForgedHeartbeatLeaveAndExtensionAreRejected(t *testing.T) {
	s := newSim(t, 3, 50, memnet.Link{Delay: time.Millisecond})
	s.joinAll(2 * time.Second)
	s.run(time.Second)
	const alive, crashed = 1, 2
	s.stop(crashed)
	s.run(s.now + 300*time.Millisecond)
	a := newAttacker(s)

	// Straight into the receive path: nothing may change, every packet is
	// counted as an authentication failure.
	var pkts [][]byte
	for _, i := range []int{alive, crashed} {
		st := s.cores[i].State()
		pkts = append(pkts, forgeries(t, st.Ticket, st.Incarnation)...)
	}
	before, st0, n0 := s.statuses(), s.m.Stats(), len(s.events)
	a.inject(pkts...)
	st1 := s.m.Stats()
	if auth, _, bad := statsDelta(st0, st1); auth != uint64(len(pkts)) || bad != uint64(len(pkts)) {
		t.Errorf("auth failures +%d, bad packets +%d, want +%d each", auth, bad, len(pkts))
	}
	if k, tag := st1.Bad[wire.FaultKeyID]-st0.Bad[wire.FaultKeyID], st1.Bad[wire.FaultTag]-st0.Bad[wire.FaultTag]; k != 6 || tag != 6 {
		t.Errorf("unknown key ID +%d, bad tag +%d, want +6 each", k, tag)
	}
	if !slices.Equal(before, s.statuses()) {
		t.Error("forged packets changed a worker's status")
	}
	if len(s.events) != n0 || st1.PacketsOut != st0.PacketsOut {
		t.Errorf("forged packets produced %d events and %d replies", len(s.events)-n0, st1.PacketsOut-st0.PacketsOut)
	}

	// Over the network, again and again while the crashed worker's deadline
	// runs out: it is evicted on time, the live one is never disturbed.
	sent := 0
	for at := s.now; at < 6*time.Second; at += 100 * time.Millisecond {
		s.at(at, func() { a.send(pkts...) })
		sent += len(pkts)
	}
	s.run(8 * time.Second)
	ev := s.events.of(detector.EventEvicted, workerID(crashed))
	if len(ev) != 1 {
		t.Fatalf("crashed worker: %d evictions, want 1", len(ev))
	}
	stop := wheel.Time(s.stopAt[crashed])
	if hi := evictionBound(stop, s.events.maxLHMBefore(ev[0].At), 0, s.maxDelay()); ev[0].At > hi {
		t.Errorf("crashed worker evicted at %v, bound %v", time.Duration(ev[0].At), time.Duration(hi))
	}
	for _, k := range []detector.EventKind{detector.EventRefuted, detector.EventExtended, detector.EventLeft, detector.EventDenied} {
		if n := s.events.count(k); n != 0 {
			t.Errorf("%d %v events, want none", n, k)
		}
	}
	if got := s.events.workersWith(detector.EventSuspected); !slices.Equal(got, []string{workerID(crashed)}) {
		t.Errorf("suspected: %v, want only the crashed worker", got)
	}
	if st := s.m.Status(workerID(alive)); st.Status != detector.StatusAlive {
		t.Errorf("live worker %v, want alive", st.Status)
	}
	if auth, _, _ := statsDelta(st1, s.m.Stats()); auth != uint64(sent) {
		t.Errorf("auth failures over the network +%d, want +%d", auth, sent)
	}
}

func TestReplayedHeartbeatDoesNotKeepCrashedWorkerAlive(t *testing.T) {
	s := newSim(t, 4, 50, memnet.Link{Delay: time.Millisecond})
	const victim = 3
	s.record[victim] = true
	s.joinAll(2 * time.Second)
	s.run(1500 * time.Millisecond)
	s.stop(victim)
	var recorded [][]byte
	for _, p := range s.sent[victim] {
		if p.typ == wire.TypeHeartbeat {
			recorded = append(recorded, p.data)
		}
	}
	if len(recorded) < 5 {
		t.Fatalf("recorded %d heartbeats, want a few", len(recorded))
	}
	last := recorded[len(recorded)-1]
	a := newAttacker(s)
	st0 := s.m.Stats()
	// The last heartbeat every 50ms, and now and then all of them.
	replayed := 0
	for k, at := 0, s.now+50*time.Millisecond; at < 7*time.Second; k, at = k+1, at+50*time.Millisecond {
		pkts := [][]byte{last}
		if k%10 == 0 {
			pkts = recorded
		}
		replayed += len(pkts)
		s.at(at, func() { a.send(pkts...) })
	}
	s.run(8 * time.Second)
	ev := s.events.of(detector.EventEvicted, workerID(victim))
	if len(ev) != 1 {
		t.Fatalf("victim: %d evictions, want 1", len(ev))
	}
	stop := wheel.Time(s.stopAt[victim])
	lo, hi := earliestEviction(stop), evictionBound(stop, s.events.maxLHMBefore(ev[0].At), 0, s.maxDelay())
	if ev[0].At < lo || ev[0].At > hi {
		t.Errorf("victim evicted at %v, want within [%v, %v]", time.Duration(ev[0].At), time.Duration(lo), time.Duration(hi))
	}
	if n := len(s.events.of(detector.EventRefuted, workerID(victim))); n != 0 {
		t.Errorf("victim refuted %d times by replays", n)
	}
	st1 := s.m.Stats()
	if _, replays, bad := statsDelta(st0, st1); replays != uint64(replayed) || bad != uint64(replayed) {
		t.Errorf("replays +%d (bad +%d), want +%d", replays, bad, replayed)
	}
	if st1.HeartbeatsFast+st1.HeartbeatsSlow-st0.HeartbeatsFast-st0.HeartbeatsSlow == 0 {
		t.Error("no heartbeat applied at all: the fleet went silent")
	}
}

func TestRandomAndTruncatedPacketsAreCountedWithoutStateChange(t *testing.T) {
	s := newSim(t, 5, 50, memnet.Link{Delay: time.Millisecond})
	for i := range 10 {
		s.record[i] = true
	}
	s.joinAll(2 * time.Second)
	// A job, so that extension requests are among the recorded packets.
	s.at(s.now, func() { s.setBusy(4, true) })
	s.at(s.now, func() { s.extend(4, extension.Progress{HasCount: true, Completed: 1}) })
	s.at(s.now+200*time.Millisecond, func() { s.setBusy(4, false) })
	s.run(1500 * time.Millisecond)
	var valid [][]byte
	types := map[wire.Type]bool{}
	for i := range 10 {
		for _, p := range s.sent[i] {
			valid = append(valid, p.data)
			types[p.typ] = true
		}
	}
	for _, typ := range []wire.Type{wire.TypeJoin, wire.TypeHeartbeat, wire.TypeExtensionRequest} {
		if !types[typ] {
			t.Fatalf("no %v recorded", typ)
		}
	}

	rng := rand.New(rand.NewPCG(5, 5))
	const n = 10000
	pkts := make([][]byte, n)
	for i := range pkts {
		if i%2 == 0 {
			p := make([]byte, rng.IntN(wire.MaxMessageSize+40))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if len(p) > 1 && i%4 == 0 {
				p[0] = wire.Version // get past the version check now and then
			}
			pkts[i] = p
		} else {
			v := valid[rng.IntN(len(valid))]
			pkts[i] = slices.Clone(v[:rng.IntN(len(v))])
		}
	}
	a := newAttacker(s)
	before, st0, n0 := s.statuses(), s.m.Stats(), len(s.events)
	a.inject(pkts...)
	st1 := s.m.Stats()
	if _, _, bad := statsDelta(st0, st1); bad != n {
		t.Errorf("bad packets +%d, want +%d (each counted once)", bad, n)
	}
	if st1.PacketsIn-st0.PacketsIn != n {
		t.Errorf("packets in +%d, want +%d", st1.PacketsIn-st0.PacketsIn, n)
	}
	if !slices.Equal(before, s.statuses()) {
		t.Error("malformed packets changed a worker's status")
	}
	if len(s.events) != n0 || st1.PacketsOut != st0.PacketsOut || st1.Forwarded != st0.Forwarded ||
		st1.HeartbeatsFast != st0.HeartbeatsFast || st1.HeartbeatsSlow != st0.HeartbeatsSlow {
		t.Errorf("malformed packets had effects: %d events, %d replies, %d forwarded",
			len(s.events)-n0, st1.PacketsOut-st0.PacketsOut, st1.Forwarded-st0.Forwarded)
	}

	// The same garbage to an agent: counted, ignored.
	env0, state0 := s.env.Stats(), s.cores[0].State()
	for _, p := range pkts[:1000] {
		s.cores[0].Handle(s.env, s.now, transport.Message{Addr: simManagerAddr, Data: p, N: len(p)})
	}
	s.touched(0)
	env1 := s.env.Stats()
	var rejected uint64
	for f := range env1.Rejected {
		rejected += env1.Rejected[f] - env0.Rejected[f]
	}
	if rejected != 1000 {
		t.Errorf("agent rejected +%d, want +1000", rejected)
	}
	if s.cores[0].State() != state0 {
		t.Error("malformed packets changed the agent's state")
	}

	// And the fleet carries on: nobody suspected.
	s.run(5 * time.Second)
	if n := s.events.count(detector.EventSuspected); n != 0 {
		t.Errorf("%d suspicions after the garbage", n)
	}
}
