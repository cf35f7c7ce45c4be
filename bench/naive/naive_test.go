package naive

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// wait bounds every wait for a reply or an event. The transitions under test
// take at most a few hundred milliseconds; the bound only keeps a broken
// build from hanging.
const wait = 10 * time.Second

func testKey(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func testRing(t testing.TB, b byte) *wire.Keyring {
	t.Helper()
	r, err := wire.NewKeyring(1, testKey(b))
	require.NoError(t, err)
	return r
}

// rig is a running Manager with its events on a channel.
type rig struct {
	m      *Manager
	events chan detector.Event
}

func startRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{events: make(chan detector.Event, 1024)}
	cfg.Listen = "127.0.0.1:0"
	if cfg.Keyring == nil {
		cfg.Keyring = testRing(t, 1)
	}
	cfg.OnEvents = func(evs []detector.Event) {
		for _, ev := range evs {
			r.events <- ev
		}
	}
	m, err := New(cfg)
	require.NoError(t, err)
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(wait):
			t.Fatal("Run did not return after its context ended")
		}
	})
	return r
}

// next returns the next event, failing the test after the bound.
func (r *rig) next(t *testing.T) detector.Event {
	t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case <-time.After(wait):
		t.Fatal("no event")
	}
	return detector.Event{}
}

// expect returns the next event and checks its kind and worker.
func (r *rig) expect(t *testing.T, kind detector.EventKind, worker string) detector.Event {
	t.Helper()
	ev := r.next(t)
	require.Equal(t, kind.String(), ev.Kind.String(), "event %+v", ev)
	require.Equal(t, worker, ev.Worker)
	return ev
}

// client is a raw wire client: one UDP socket, a codec and a sequence.
type client struct {
	conn  *net.UDPConn
	to    netip.AddrPort
	codec *wire.Codec
	seq   *wire.Sequence
	buf   []byte
}

func newClient(t *testing.T, to netip.AddrPort, ring *wire.Keyring) *client {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &client{conn: conn, to: to, codec: wire.NewCodec(ring), seq: wire.NewSequence(1), buf: make([]byte, 2048)}
}

// packet encodes msg with the client's next sequence number.
func (c *client) packet(t *testing.T, msg wire.Message) []byte {
	t.Helper()
	msg.Seq = c.seq.Next()
	n, err := c.codec.Encode(c.buf, &msg)
	require.NoError(t, err)
	return append([]byte(nil), c.buf[:n]...)
}

func (c *client) sendRaw(t *testing.T, pkt []byte) {
	t.Helper()
	_, err := c.conn.WriteToUDPAddrPort(pkt, c.to)
	require.NoError(t, err)
}

func (c *client) send(t *testing.T, msg wire.Message) { c.sendRaw(t, c.packet(t, msg)) }

// recv returns the next reply, decoded and verified.
func (c *client) recv(t *testing.T) wire.Message {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(wait)))
	n, _, err := c.conn.ReadFromUDPAddrPort(c.buf)
	require.NoError(t, err, "no reply")
	var m wire.Message
	require.NoError(t, c.codec.Decode(c.buf[:n], &m))
	m.WorkerID, m.Reason = nil, nil
	return m
}

// join joins id at inc and returns the Welcome.
func (c *client) join(t *testing.T, id string, inc uint64) wire.Message {
	t.Helper()
	c.send(t, wire.Message{Type: wire.TypeJoin, WorkerID: []byte(id), Incarnation: inc})
	w := c.recv(t)
	require.Equal(t, wire.TypeWelcome, w.Type)
	return w
}

func (c *client) heartbeat(t *testing.T, tk wire.Ticket, inc uint64) {
	t.Helper()
	c.send(t, wire.Message{Type: wire.TypeHeartbeat, Ticket: tk, Incarnation: inc})
}

// sync sends a heartbeat with a ticket nobody holds and waits for its
// "unknown" notice: the one reader handles packets in order, so every packet
// sent before has been handled when it returns.
func (c *client) sync(t *testing.T) {
	t.Helper()
	c.heartbeat(t, wire.Ticket{Slot: 1 << 30}, 1)
	n := c.recv(t)
	require.Equal(t, wire.TypeNotice, n.Type)
	require.Equal(t, wire.NoticeUnknown, n.State)
}

func TestJoinWelcomesWithTicket(t *testing.T) {
	r := startRig(t, Config{Base: 30 * time.Second, Suspicion: 10 * time.Second, HeartbeatInterval: 2 * time.Second})
	c := newClient(t, r.m.Addr(), testRing(t, 1))

	w := c.join(t, "w1", 3)
	require.Equal(t, wire.JoinAccepted, w.Status)
	require.Equal(t, wire.Ticket{Slot: 0, Gen: 0}, w.Ticket)
	require.Equal(t, uint64(3), w.Incarnation)
	require.Equal(t, uint32(2000), w.HeartbeatIntervalMS)
	require.Equal(t, uint32(30000), w.BaseMS)
	ev := r.expect(t, detector.EventJoined, "w1")
	require.Equal(t, uint64(3), ev.Inc)

	w2 := c.join(t, "w2", 1)
	require.Equal(t, wire.Ticket{Slot: 1, Gen: 0}, w2.Ticket)
	r.expect(t, detector.EventJoined, "w2")

	// A join of a live worker counts as a heartbeat: same ticket, no event.
	again := c.join(t, "w1", 3)
	require.Equal(t, wire.JoinAccepted, again.Status)
	require.Equal(t, w.Ticket, again.Ticket)

	s := r.m.Stats()
	require.Equal(t, 2, s.Alive)
	require.Equal(t, uint64(3), s.PacketsIn)
	require.Equal(t, uint64(3), s.PacketsOut)
	require.Zero(t, s.Bad)
	require.Empty(t, r.events)
}

func TestHeartbeatKeepsAlive(t *testing.T) {
	r := startRig(t, Config{Base: 500 * time.Millisecond, Suspicion: 200 * time.Millisecond})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	a := c.join(t, "beating", 1).Ticket
	r.expect(t, detector.EventJoined, "beating")
	c.join(t, "silent", 1)
	r.expect(t, detector.EventJoined, "silent")

	// A heartbeat moves the deadline to now+Base.
	before := r.m.now()
	c.heartbeat(t, a, 1)
	c.sync(t)
	r.m.mu.Lock()
	dl := r.m.workers["beating"].deadline
	r.m.mu.Unlock()
	require.GreaterOrEqual(t, dl, before+500*time.Millisecond)

	// Heartbeats every 50 ms (a tenth of Base) keep "beating" alive while
	// "silent" is suspected and evicted: the only events are silent's.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var kinds []detector.EventKind
	for len(kinds) < 2 {
		select {
		case <-tick.C:
			c.heartbeat(t, a, 1)
		case ev := <-r.events:
			require.Equal(t, "silent", ev.Worker, "event %+v", ev)
			kinds = append(kinds, ev.Kind)
		case <-time.After(wait):
			t.Fatal("silent was not evicted")
		}
	}
	require.Equal(t, []detector.EventKind{detector.EventSuspected, detector.EventEvicted}, kinds)
	c.sync(t)
	s := r.m.Stats()
	require.Equal(t, 1, s.Alive)
	require.Equal(t, uint64(1), s.Evicted)
	require.GreaterOrEqual(t, s.Heartbeats, uint64(2))
}

func TestSilenceSuspectsThenEvicts(t *testing.T) {
	r := startRig(t, Config{Base: 200 * time.Millisecond, Suspicion: 200 * time.Millisecond})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	tk := c.join(t, "w", 4).Ticket
	joined := r.expect(t, detector.EventJoined, "w")

	sus := r.expect(t, detector.EventSuspected, "w")
	require.Equal(t, detector.CauseDeadline, sus.Cause)
	require.GreaterOrEqual(t, sus.At-joined.At, durationTime(200*time.Millisecond), "suspected early")
	require.Equal(t, 1, r.m.Stats().Suspect)
	ev := r.expect(t, detector.EventEvicted, "w")
	require.Equal(t, detector.CauseDeadline, ev.Cause)
	require.GreaterOrEqual(t, ev.At-sus.At, durationTime(200*time.Millisecond), "evicted early")
	s := r.m.Stats()
	require.Equal(t, uint64(1), s.Evicted)
	require.Zero(t, s.Alive)
	require.Zero(t, s.Suspect)

	// The evicted worker is told so, and must re-join with a higher
	// incarnation.
	c.heartbeat(t, tk, 4)
	n := c.recv(t)
	require.Equal(t, wire.TypeNotice, n.Type)
	require.Equal(t, wire.NoticeDead, n.State)
	require.Equal(t, uint64(4), n.Incarnation)
	stale := c.join(t, "w", 4)
	require.Equal(t, wire.JoinStaleIncarnation, stale.Status)
	require.Equal(t, uint64(4), stale.Incarnation)
	back := c.join(t, "w", 5)
	require.Equal(t, wire.JoinAccepted, back.Status)
	require.Equal(t, tk, back.Ticket)
	require.Equal(t, uint64(5), r.expect(t, detector.EventJoined, "w").Inc)
}

func TestRefutation(t *testing.T) {
	r := startRig(t, Config{Base: 100 * time.Millisecond, Suspicion: time.Minute})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	tk := c.join(t, "w", 1).Ticket
	r.expect(t, detector.EventJoined, "w")
	r.expect(t, detector.EventSuspected, "w")

	// At the suspected incarnation a heartbeat does not count: the notice
	// tells the worker it is suspect.
	c.heartbeat(t, tk, 1)
	n := c.recv(t)
	require.Equal(t, wire.NoticeSuspect, n.State)
	require.Equal(t, uint64(1), n.Incarnation)
	// So does a join at that incarnation, after its welcome.
	w := c.join(t, "w", 1)
	require.Equal(t, wire.JoinAccepted, w.Status)
	n = c.recv(t)
	require.Equal(t, wire.NoticeSuspect, n.State)

	// A higher incarnation refutes.
	c.heartbeat(t, tk, 2)
	ev := r.expect(t, detector.EventRefuted, "w")
	require.Equal(t, uint64(2), ev.Inc)
	s := r.m.Stats()
	require.Equal(t, 1, s.Alive)
	require.Zero(t, s.Suspect)

	// A stale incarnation is ignored without a reply.
	c.heartbeat(t, tk, 1)
	c.sync(t)
	require.Empty(t, r.events)
}

func TestExtensionGrantMovesDeadline(t *testing.T) {
	policy := extension.Policy{Base: 400 * time.Millisecond, MinGrant: 100 * time.Millisecond, MaxExtensions: 2, WarnRemaining: 0}
	r := startRig(t, Config{Base: time.Second, Suspicion: time.Minute, Policy: policy})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	tk := c.join(t, "w", 1).Ticket
	r.expect(t, detector.EventJoined, "w")

	extend := func(id uint32, completed uint64) wire.Message {
		c.send(t, wire.Message{Type: wire.TypeExtensionRequest, Ticket: tk, Incarnation: 1, RequestID: id,
			HasCount: true, Completed: completed, Total: 10})
		resp := c.recv(t)
		require.Equal(t, wire.TypeExtensionResponse, resp.Type)
		require.Equal(t, id, resp.RequestID)
		return resp
	}

	resp := extend(1, 1)
	require.True(t, resp.Granted)
	require.Equal(t, uint32(400), resp.GrantMS)
	require.Equal(t, uint8(1), resp.Remaining)
	require.Greater(t, resp.DeadlineInMS, uint32(400))
	grant := r.expect(t, detector.EventExtended, "w")
	require.Equal(t, 400*time.Millisecond, grant.Grant)

	// No progress since the last grant: denied, deadline unchanged.
	resp = extend(2, 1)
	require.False(t, resp.Granted)
	require.Equal(t, wire.DenialNoProgress, resp.Denial)
	require.Equal(t, extension.NoProgress, r.expect(t, detector.EventDenied, "w").Denial)

	// Progress: the second (last) grant, half the first, with the warning.
	resp = extend(3, 2)
	require.True(t, resp.Granted)
	require.Equal(t, uint32(200), resp.GrantMS)
	require.Zero(t, resp.Remaining)
	require.True(t, resp.Warning)
	last := r.expect(t, detector.EventExtended, "w")
	require.Equal(t, grant.Deadline+durationTime(200*time.Millisecond), last.Deadline)

	resp = extend(4, 3)
	require.Equal(t, wire.DenialExhausted, resp.Denial)
	r.expect(t, detector.EventDenied, "w")

	// The worker is suspected at its extended deadline, not before, and
	// as one that used every grant.
	sus := r.expect(t, detector.EventSuspected, "w")
	require.GreaterOrEqual(t, sus.At, last.Deadline, "suspected before the extended deadline")
	require.Equal(t, detector.CauseExhausted, sus.Cause)

	// A suspect worker must refute before asking again.
	resp = extend(5, 4)
	require.Equal(t, wire.DenialNotAlive, resp.Denial)
	require.Equal(t, extension.NotAlive, r.expect(t, detector.EventDenied, "w").Denial)
}

func TestWrongKeyCountedAndIgnored(t *testing.T) {
	r := startRig(t, Config{Base: 200 * time.Millisecond, Suspicion: 200 * time.Millisecond})
	good := newClient(t, r.m.Addr(), testRing(t, 1))
	forger := newClient(t, r.m.Addr(), testRing(t, 99))

	// A forged join creates nobody: the next real join gets slot 0.
	forger.send(t, wire.Message{Type: wire.TypeJoin, WorkerID: []byte("intruder"), Incarnation: 1})
	w := good.join(t, "w", 1)
	require.Equal(t, wire.Ticket{}, w.Ticket)
	r.expect(t, detector.EventJoined, "w")
	require.Equal(t, uint64(1), r.m.Stats().Bad)

	// Forged heartbeats do not keep the worker alive, and a recorded one
	// replayed is dropped too.
	rec := good.packet(t, wire.Message{Type: wire.TypeHeartbeat, Ticket: w.Ticket, Incarnation: 1})
	good.sendRaw(t, rec)
	good.sendRaw(t, rec)
	forger.heartbeat(t, w.Ticket, 1)
	forger.heartbeat(t, w.Ticket, 2)
	good.sync(t)
	s := r.m.Stats()
	require.Equal(t, uint64(4), s.Bad)
	require.Equal(t, uint64(2), s.Heartbeats) // the recorded one and sync's
	r.expect(t, detector.EventSuspected, "w")
	r.expect(t, detector.EventEvicted, "w")

	// Junk is counted too.
	good.sendRaw(t, []byte{wire.Version, 3, 1})
	good.sync(t)
	require.Equal(t, uint64(5), r.m.Stats().Bad)
}

func TestLeave(t *testing.T) {
	r := startRig(t, Config{Base: 30 * time.Second, Suspicion: time.Second})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	tk := c.join(t, "w", 2).Ticket
	r.expect(t, detector.EventJoined, "w")
	c.send(t, wire.Message{Type: wire.TypeLeave, Ticket: tk, Incarnation: 1}) // stale: ignored
	c.send(t, wire.Message{Type: wire.TypeLeave, Ticket: tk, Incarnation: 2})
	r.expect(t, detector.EventLeft, "w")
	c.heartbeat(t, tk, 2)
	n := c.recv(t)
	require.Equal(t, wire.NoticeLeft, n.State)
	require.Zero(t, r.m.Stats().Alive)
	// A left worker comes back with a join, at any incarnation.
	require.Equal(t, wire.JoinAccepted, c.join(t, "w", 2).Status)
	r.expect(t, detector.EventJoined, "w")
}

func TestRetentionForgetsAndReusesSlot(t *testing.T) {
	r := startRig(t, Config{Base: 30 * time.Second, Suspicion: time.Second, Retention: 50 * time.Millisecond})
	c := newClient(t, r.m.Addr(), testRing(t, 1))
	tk := c.join(t, "old", 1).Ticket
	r.expect(t, detector.EventJoined, "old")
	c.send(t, wire.Message{Type: wire.TypeLeave, Ticket: tk, Incarnation: 1})
	r.expect(t, detector.EventLeft, "old")
	// Poll the record count through packets, not sleeps: each sync is one
	// round trip.
	deadline := time.Now().Add(wait)
	for r.m.Stats().Workers != 0 {
		require.True(t, time.Now().Before(deadline), "record never forgotten")
		c.sync(t)
	}
	// The slot is reused under a new generation; the old ticket names nobody.
	nt := c.join(t, "new", 1).Ticket
	require.Equal(t, wire.Ticket{Slot: tk.Slot, Gen: tk.Gen + 1}, nt)
	c.heartbeat(t, tk, 1)
	require.Equal(t, wire.NoticeUnknown, c.recv(t).State)
}

func TestConfigErrors(t *testing.T) {
	ring := testRing(t, 1)
	ok := Config{Listen: "127.0.0.1:0", Keyring: ring, Base: time.Second, Suspicion: time.Second}
	cases := map[string]func(*Config){
		"Listen":            func(c *Config) { c.Listen = "" },
		"Keyring":           func(c *Config) { c.Keyring = nil },
		"Base":              func(c *Config) { c.Base = 0 },
		"Suspicion":         func(c *Config) { c.Suspicion = -1 },
		"HeartbeatInterval": func(c *Config) { c.HeartbeatInterval = 2 * time.Second },
		"Retention":         func(c *Config) { c.Retention = -1 },
		"MinGrant":          func(c *Config) { c.Policy = extension.Policy{Base: time.Second} },
	}
	for field, mutate := range cases {
		cfg := ok
		mutate(&cfg)
		_, err := New(cfg)
		require.ErrorIs(t, err, ErrConfig, field)
		require.ErrorContains(t, err, field)
	}
	_, err := New(Config{Listen: "not an address", Keyring: ring, Base: time.Second, Suspicion: time.Second})
	require.Error(t, err)
}

func TestRunTwice(t *testing.T) {
	m, err := New(Config{Listen: "127.0.0.1:0", Keyring: testRing(t, 1), Base: time.Second, Suspicion: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Run(ctx)) // returns at once: its context is over
	require.True(t, errors.Is(m.Run(context.Background()), ErrRunning))
}

func durationTime(d time.Duration) wheel.Time { return wheel.Time(d) }
