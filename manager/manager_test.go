package manager

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/transport/memnet"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// harness drives one manager and raw wire-speaking workers on an in-memory
// network, in virtual time, on one goroutine.
type harness struct {
	t      *testing.T
	net    *memnet.Network
	ep     *memnet.Endpoint
	m      *Manager
	ring   *wire.Keyring
	now    time.Duration
	events []detector.Event
	buf    []transport.Message
}

func newHarness(t *testing.T, mutate func(*detector.Config)) *harness {
	t.Helper()
	return newHarnessFresh(t, mutate, -1)
}

// newHarnessFresh is newHarness with Config.JoinFreshness set to freshness.
func newHarnessFresh(t *testing.T, mutate func(*detector.Config), freshness time.Duration) *harness {
	t.Helper()
	ring, err := wire.NewKeyring(1, testKey)
	require.NoError(t, err)
	n := memnet.New(1)
	ep, err := n.Listen(netip.MustParseAddrPort("10.0.0.1:7946"))
	require.NoError(t, err)
	cfg := detector.DefaultConfig()
	cfg.Probing = false
	cfg.Shards = 1
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{t: t, net: n, ep: ep, ring: ring, buf: make([]transport.Message, 64)}
	// The workers' sequence numbers start at small fixed values, not at the
	// wall clock: joins are not held to JoinFreshness (-1) but in
	// TestJoinFreshness.
	m, err := New(Config{Conns: []transport.PacketConn{ep}, Detector: cfg, Keyring: ring, JoinFreshness: freshness,
		OnEvents: func(evs []detector.Event) { h.events = append(h.events, evs...) }})
	require.NoError(t, err)
	h.m = m
	return h
}

// run moves virtual time to `to`, delivering packets and firing deadlines
// in time order.
func (h *harness) run(to time.Duration) {
	for {
		next := to
		if nt, ok := h.net.Next(); ok && nt < next {
			next = nt
		}
		if mt, ok := h.m.Next(); ok && time.Duration(mt) < next {
			next = time.Duration(mt)
		}
		next = max(next, h.now)
		_, err := h.net.Advance(next)
		require.NoError(h.t, err)
		h.now = next
		for {
			n := h.ep.Poll(h.buf)
			if n == 0 {
				break
			}
			h.m.Receive(wheel.Time(h.now), h.buf[:n])
		}
		h.m.Advance(wheel.Time(h.now))
		if next >= to {
			if nt, ok := h.net.Next(); !ok || nt > to {
				return
			}
		}
	}
}

func (h *harness) eventsOf(kind detector.EventKind, worker string) []detector.Event {
	var out []detector.Event
	for _, e := range h.events {
		if e.Kind == kind && e.Worker == worker {
			out = append(out, e)
		}
	}
	return out
}

// worker is a raw wire client.
type worker struct {
	h      *harness
	id     string
	ep     *memnet.Endpoint
	codec  *wire.Codec
	seq    *wire.Sequence
	ticket wire.Ticket
	inc    uint64
	inbox  []wire.Message
	last   []byte // the last packet sent, for replay tests
}

func (h *harness) worker(id string, addr string) *worker {
	ep, err := h.net.Listen(netip.MustParseAddrPort(addr))
	require.NoError(h.t, err)
	return &worker{h: h, id: id, ep: ep, codec: wire.NewCodec(h.ring), seq: wire.NewSequence(1000)}
}

func (w *worker) sendWith(codec *wire.Codec, m wire.Message) {
	m.Seq = w.seq.Next()
	buf := make([]byte, wire.MaxMessageSize)
	n, err := codec.Encode(buf, &m)
	require.NoError(w.h.t, err)
	w.last = buf[:n]
	w.raw(buf[:n])
}

func (w *worker) send(m wire.Message) { w.sendWith(w.codec, m) }

func (w *worker) raw(pkt []byte) {
	_, err := w.ep.WriteBatch([]transport.Message{{Addr: w.h.ep.LocalAddr(), Data: pkt, N: len(pkt)}})
	require.NoError(w.h.t, err)
}

// recv decodes everything delivered to the worker.
func (w *worker) recv() []wire.Message {
	buf := make([]transport.Message, 64)
	var out []wire.Message
	for {
		n := w.ep.Poll(buf)
		if n == 0 {
			return out
		}
		for _, p := range buf[:n] {
			var m wire.Message
			require.NoError(w.h.t, w.codec.Decode(p.Data[:p.N], &m))
			m.WorkerID, m.Reason = nil, nil
			out = append(out, m)
		}
	}
}

func (w *worker) join() {
	w.send(wire.Message{Type: wire.TypeJoin, WorkerID: []byte(w.id), Incarnation: w.inc})
	w.h.run(w.h.now)
	msgs := w.recv()
	require.Len(w.h.t, msgs, 1)
	require.Equal(w.h.t, wire.TypeWelcome, msgs[0].Type)
	require.Equal(w.h.t, wire.JoinAccepted, msgs[0].Status)
	w.ticket = msgs[0].Ticket
}

func (w *worker) heartbeat() {
	w.send(wire.Message{Type: wire.TypeHeartbeat, Ticket: w.ticket, Incarnation: w.inc})
}

func TestJoinAndFastHeartbeat(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	require.Len(t, h.eventsOf(detector.EventJoined, "w1"), 1)

	h.run(10 * time.Second)
	w.heartbeat()
	h.run(10 * time.Second)
	st := h.m.Status("w1")
	require.Equal(t, detector.StatusAlive, st.Status)
	require.Equal(t, wheel.Time(40*time.Second), st.Deadline)
	require.Equal(t, uint64(1), h.m.Stats().HeartbeatsFast)

	// No heartbeat after 10s: suspect at 40s, evicted at 50s.
	h.run(60 * time.Second)
	require.Equal(t, wheel.Time(40*time.Second), h.eventsOf(detector.EventSuspected, "w1")[0].At)
	require.Equal(t, wheel.Time(50*time.Second), h.eventsOf(detector.EventEvicted, "w1")[0].At)

	// The evicted worker's heartbeat is answered with a "dead" notice.
	w.recv()
	w.heartbeat()
	h.run(61 * time.Second)
	msgs := w.recv()
	require.Len(t, msgs, 1)
	require.Equal(t, wire.TypeNotice, msgs[0].Type)
	require.Equal(t, wire.NoticeDead, msgs[0].State)
}

func TestReplayedHeartbeatDoesNotKeepCrashedWorkerAlive(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	h.run(5 * time.Second)
	w.heartbeat()
	recorded := w.last
	h.run(5 * time.Second)
	// The worker crashes; an attacker replays its last heartbeat.
	for _, at := range []time.Duration{20 * time.Second, 34 * time.Second, 40 * time.Second} {
		h.run(at)
		w.raw(recorded)
	}
	h.run(60 * time.Second)
	require.Equal(t, wheel.Time(35*time.Second), h.eventsOf(detector.EventSuspected, "w1")[0].At)
	require.Len(t, h.eventsOf(detector.EventEvicted, "w1"), 1)
	require.Equal(t, uint64(3), h.m.Stats().Replays())
}

func TestWrongKeyIsRejectedAndCounted(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	other, err := wire.NewKeyring(2, []byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)
	forger := wire.NewCodec(other)
	sameID, err := wire.NewKeyring(1, []byte("fedcba9876543210fedcba9876543210"))
	require.NoError(t, err)
	forgerSameID := wire.NewCodec(sameID)

	h.run(20 * time.Second)
	// Forged heartbeat, leave and extension request: none may shield or
	// evict the worker.
	w.sendWith(forger, wire.Message{Type: wire.TypeHeartbeat, Ticket: w.ticket})
	w.sendWith(forgerSameID, wire.Message{Type: wire.TypeHeartbeat, Ticket: w.ticket})
	w.sendWith(forgerSameID, wire.Message{Type: wire.TypeLeave, Ticket: w.ticket})
	w.sendWith(forgerSameID, wire.Message{Type: wire.TypeExtensionRequest, Ticket: w.ticket, HasCount: true, Completed: 1})
	h.run(20 * time.Second)
	st := h.m.Stats()
	require.Equal(t, uint64(4), st.AuthFailures())
	require.Equal(t, uint64(1), st.Bad[wire.FaultKeyID])
	require.Equal(t, uint64(3), st.Bad[wire.FaultTag])
	ws := h.m.Status("w1")
	require.Equal(t, detector.StatusAlive, ws.Status)
	require.Equal(t, wheel.Time(30*time.Second), ws.Deadline)
	require.Equal(t, 5, ws.Remaining)
}

func TestRandomAndTruncatedPacketsAreCountedWithoutStateChange(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	w.heartbeat()
	valid := w.last
	h.run(time.Second)
	before := h.m.Status("w1")

	rng := rand.New(rand.NewPCG(7, 7))
	const n = 10000
	for i := 0; i < n; i++ {
		var pkt []byte
		if i%2 == 0 {
			pkt = make([]byte, rng.IntN(200))
			for j := range pkt {
				pkt[j] = byte(rng.Uint32())
			}
		} else {
			pkt = append([]byte(nil), valid[:rng.IntN(len(valid))]...)
		}
		w.raw(pkt)
		if i%500 == 0 {
			h.run(h.now)
		}
	}
	h.run(2 * time.Second)
	st := h.m.Stats()
	require.Equal(t, uint64(n), st.BadPackets(), "every bad packet counted once")
	require.Equal(t, before, h.m.Status("w1"))
	require.Zero(t, st.HeartbeatsFast+st.HeartbeatsSlow-1)
}

func TestExtensionRequestIsAnswered(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	h.run(20 * time.Second)
	w.send(wire.Message{Type: wire.TypeExtensionRequest, Ticket: w.ticket, RequestID: 9, HasCount: true, Completed: 10, Total: 100})
	h.run(20 * time.Second)
	msgs := w.recv()
	require.Len(t, msgs, 1)
	r := msgs[0]
	require.Equal(t, wire.TypeExtensionResponse, r.Type)
	require.Equal(t, uint32(9), r.RequestID)
	require.True(t, r.Granted)
	require.Equal(t, uint32(30000), r.GrantMS)
	require.Equal(t, uint32(40000), r.DeadlineInMS) // 30s + 30s - 20s
	require.Equal(t, uint8(4), r.Remaining)
	require.Equal(t, wheel.Time(60*time.Second), h.m.Status("w1").Deadline)

	// The same progress again is denied, and the deadline stays.
	w.send(wire.Message{Type: wire.TypeExtensionRequest, Ticket: w.ticket, RequestID: 10, HasCount: true, Completed: 10, Total: 100})
	h.run(21 * time.Second)
	r = w.recv()[0]
	require.False(t, r.Granted)
	require.Equal(t, wire.DenialNoProgress, r.Denial)
	require.Equal(t, wheel.Time(60*time.Second), h.m.Status("w1").Deadline)
}

func TestProbeAckKeepsWorkerAliveAndSilenceEvictsIt(t *testing.T) {
	h := newHarness(t, func(c *detector.Config) { c.Probing = true; c.Indirect = 0 })
	a := h.worker("a", "10.0.0.2:1000")
	b := h.worker("b", "10.0.0.3:1000")
	a.join()
	b.join()
	h.run(30 * time.Second)
	// Both are pinged at their deadline; a answers, b does not.
	for _, m := range a.recv() {
		require.Equal(t, wire.TypePing, m.Type)
		a.send(wire.Message{Type: wire.TypeAck, Ticket: a.ticket, ProbeSeq: m.ProbeSeq})
	}
	require.Len(t, b.recv(), 1)
	h.run(45 * time.Second)
	require.Empty(t, h.eventsOf(detector.EventSuspected, "a"))
	require.Equal(t, wheel.Time(30500*time.Millisecond), h.eventsOf(detector.EventSuspected, "b")[0].At)
	require.Equal(t, wheel.Time(40500*time.Millisecond), h.eventsOf(detector.EventEvicted, "b")[0].At)
	// While suspect, b was pinged with the suspect flag.
	var buddy int
	for _, m := range b.recv() {
		if m.Type == wire.TypePing && m.Suspect {
			buddy++
		}
	}
	require.Greater(t, buddy, 10)
}

// A packet carrying an earlier life's ticket of a reused slot must not move
// the new owner's replay window: its sender is told "unknown" instead.
func TestStaleTicketDoesNotTouchNewOwnersWindow(t *testing.T) {
	h := newHarness(t, func(c *detector.Config) { c.Retention = time.Second })
	a := h.worker("a", "10.0.0.2:1000")
	a.seq = wire.NewSequence(1 << 40) // a later process start: higher numbers
	a.join()
	h.run(45 * time.Second) // a: suspected at 30s, evicted at 40s, forgotten at 41s
	require.Len(t, h.eventsOf(detector.EventEvicted, "a"), 1)
	b := h.worker("b", "10.0.0.3:1000")
	b.join()
	require.Equal(t, a.ticket.Slot, b.ticket.Slot, "b reuses a's slot")
	require.NotEqual(t, a.ticket.Gen, b.ticket.Gen)

	a.recv()
	a.heartbeat() // old ticket, sequence number far ahead of b's
	h.run(46 * time.Second)
	msgs := a.recv()
	require.Len(t, msgs, 1)
	require.Equal(t, wire.NoticeUnknown, msgs[0].State)

	b.heartbeat()
	h.run(47 * time.Second)
	require.Zero(t, h.m.Stats().Replays(), "b's window was not moved by a")
	require.Equal(t, wheel.Time(76*time.Second), h.m.Status("b").Deadline)
}

func TestBufSizeHoldsEveryMessage(t *testing.T) {
	require.GreaterOrEqual(t, managerBufSize, wire.MaxMessageSize)
}

// TestTransportDefaults: the manager reads one socket for every two cores
// (at least one), in 512-datagram batches; what the embedder sets stays.
func TestTransportDefaults(t *testing.T) {
	ring, err := wire.NewKeyring(1, testKey)
	require.NoError(t, err)
	c := Config{Listen: "127.0.0.1:0", Keyring: ring, Detector: detector.DefaultConfig()}
	require.NoError(t, c.validate())
	require.Equal(t, max(1, runtime.GOMAXPROCS(0)/2), c.Transport.Sockets)
	require.Equal(t, 4<<20*runtime.GOMAXPROCS(0)/c.Transport.Sockets, c.Transport.ReadBuffer)
	require.Equal(t, 512, c.Transport.Batch)
	require.Equal(t, managerBufSize, c.Transport.BufSize)

	c = Config{Listen: "127.0.0.1:0", Keyring: ring, Detector: detector.DefaultConfig(), Transport: transport.Config{Sockets: 3}}
	require.NoError(t, c.validate())
	require.Equal(t, 3, c.Transport.Sockets)
}

// TestJoinFreshness: a join from an unknown worker must carry a sequence
// number (the sender's wall clock) within JoinFreshness of the manager's
// clock, before or after; a recorded join replayed after its worker was
// forgotten is refused; a known worker's join is not held to it.
func TestJoinFreshness(t *testing.T) {
	h := newHarnessFresh(t, func(c *detector.Config) { c.Retention = 4 * time.Second }, time.Second)
	wall := func() uint64 { return uint64(h.m.epoch.Add(h.now).UnixNano()) }
	h.m.wallNow = func() int64 { return int64(wall()) } // the harness's virtual clock

	a := h.worker("a", "10.0.0.2:1000")
	a.seq = wire.NewSequence(wall())
	a.join()
	recorded := a.last
	require.Len(t, h.eventsOf(detector.EventJoined, "a"), 1)

	// A known worker's join is checked against its window, not its age.
	h.run(5 * time.Second)
	a.join()
	require.Len(t, h.eventsOf(detector.EventJoined, "a"), 1)

	for i, off := range []int64{-1100, 1100} { // ms off the manager's clock
		id := fmt.Sprintf("off%d", i)
		w := h.worker(id, fmt.Sprintf("10.0.0.%d:1000", 3+i))
		w.seq = wire.NewSequence(uint64(int64(wall()) + off*int64(time.Millisecond)))
		w.send(wire.Message{Type: wire.TypeJoin, WorkerID: []byte(id), Incarnation: 1})
		h.run(h.now)
		require.Empty(t, w.recv(), "a join %d ms off gets no welcome", off)
		require.Empty(t, h.eventsOf(detector.EventJoined, id))
		require.Equal(t, uint64(i+1), h.m.Stats().StaleJoins)
	}
	for i, off := range []int64{-1000, 1000} { // exactly JoinFreshness off: accepted
		id := fmt.Sprintf("edge%d", i)
		w := h.worker(id, fmt.Sprintf("10.0.0.%d:1000", 5+i))
		w.seq = wire.NewSequence(uint64(int64(wall()) + off*int64(time.Millisecond)))
		w.join()
		require.Len(t, h.eventsOf(detector.EventJoined, id), 1)
	}

	// a stops; it is suspected at 35s, evicted a suspicion window later and
	// forgotten Retention after that. Its recorded join, replayed then, is
	// too old to pass for a new worker.
	h.run(70 * time.Second)
	require.Len(t, h.eventsOf(detector.EventEvicted, "a"), 1)
	require.Equal(t, detector.StatusUnknown, h.m.Status("a").Status)
	a.recv()
	a.raw(recorded)
	h.run(71 * time.Second)
	require.Empty(t, a.recv())
	require.Len(t, h.eventsOf(detector.EventJoined, "a"), 1, "the replayed join made no record")
	require.Equal(t, uint64(3), h.m.Stats().StaleJoins)
	require.Zero(t, h.m.Stats().Replays())
}

func TestJoinFreshnessMustBeBelowHalfTheRetention(t *testing.T) {
	ring, err := wire.NewKeyring(1, testKey)
	require.NoError(t, err)
	cfg := detector.DefaultConfig()
	_, err = New(Config{Listen: "127.0.0.1:0", Detector: cfg, Keyring: ring, JoinFreshness: cfg.Retention / 2})
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, "JoinFreshness")
}

// TestHandOff: a reader's batch is queued without waking the loop, which
// comes for it on its own timer; with ReadLinger negative every batch wakes
// it; a full queue wakes it and waits for room.
func TestHandOff(t *testing.T) {
	h := newHarness(t, nil)
	m, ctx := h.m, context.Background()
	require.True(t, m.handOff(ctx, &batch{}))
	require.Len(t, m.inbox, 1)
	require.Len(t, m.kick, 0, "a queued batch woke the loop")
	<-m.inbox

	m.cfg.ReadLinger = -1
	require.True(t, m.handOff(ctx, &batch{}))
	require.Len(t, m.kick, 1, "no lingering, and the loop was not woken")
	<-m.inbox
	<-m.kick

	m.cfg.ReadLinger = 5 * time.Millisecond
	for range cap(m.inbox) {
		require.True(t, m.handOff(ctx, &batch{}))
	}
	require.Len(t, m.kick, 0)
	last := &batch{}
	done := make(chan bool)
	go func() { done <- m.handOff(ctx, last) }()
	<-m.kick // the full queue woke the loop
	for range cap(m.inbox) {
		require.NotSame(t, last, <-m.inbox)
	}
	require.True(t, <-done)
	require.Same(t, last, <-m.inbox)

	// A reader waiting for room gives up when the manager stops.
	for range cap(m.inbox) {
		require.True(t, m.handOff(ctx, &batch{}))
	}
	stop, cancel := context.WithCancel(ctx)
	cancel()
	require.False(t, m.handOff(stop, &batch{}))
}
