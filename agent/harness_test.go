package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/transport/memnet"
	"github.com/swimwheel/swimwheel/wire"
)

var (
	mgrAddr    = netip.MustParseAddrPort("10.0.0.1:7946")
	agentAddr  = netip.MustParseAddrPort("10.0.0.2:5000")
	targetAddr = netip.MustParseAddrPort("10.0.0.3:5000")
	testKey    = []byte("0123456789abcdef")
	ticket     = wire.Ticket{Slot: 17, Gen: 3}
)

func testRing(t testing.TB) *wire.Keyring {
	t.Helper()
	ring, err := wire.NewKeyring(1, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// got is a packet one side received (or the agent sent), decoded, with the
// raw bytes kept for replays.
type got struct {
	at   time.Duration
	from netip.AddrPort
	to   netip.AddrPort
	m    wire.Message
	raw  []byte
}

// peer is a fake manager or a fake worker on the memnet: it records what it
// receives, and an optional reply function answers at once.
type peer struct {
	h     *harness
	ep    *memnet.Endpoint
	codec *wire.Codec
	seq   *wire.Sequence
	inbox []got
	reply func(p *peer, g got)
}

func (p *peer) send(to netip.AddrPort, m wire.Message) []byte {
	p.h.t.Helper()
	m.Seq = p.seq.Next()
	buf := make([]byte, wire.MaxMessageSize)
	n, err := p.codec.Encode(buf, &m)
	if err != nil {
		p.h.t.Fatalf("encode %v: %v", m.Type, err)
	}
	p.sendRaw(to, buf[:n])
	return buf[:n]
}

func (p *peer) sendRaw(to netip.AddrPort, raw []byte) {
	p.h.t.Helper()
	if _, err := p.ep.WriteBatch([]transport.Message{{Addr: to, Data: raw}}); err != nil {
		p.h.t.Fatal(err)
	}
}

// of returns the received messages of type t.
func (p *peer) of(t wire.Type) []got {
	var out []got
	for _, g := range p.inbox {
		if g.m.Type == t {
			out = append(out, g)
		}
	}
	return out
}

func (p *peer) poll() {
	var ms [64]transport.Message
	for {
		n := p.ep.Poll(ms[:])
		if n == 0 {
			return
		}
		for _, msg := range ms[:n] {
			g := got{at: p.h.now, from: msg.Addr, to: p.ep.LocalAddr(), raw: append([]byte(nil), msg.Data...)}
			if err := p.codec.Decode(g.raw, &g.m); err != nil {
				p.h.t.Fatalf("peer %v: bad packet from %v: %v", p.ep.LocalAddr(), msg.Addr, err)
			}
			p.inbox = append(p.inbox, g)
			if p.reply != nil {
				p.reply(p, g)
			}
		}
	}
}

// harness drives one Agent by hand on a memnet network in virtual time.
type harness struct {
	t     *testing.T
	net   *memnet.Network
	a     *Agent
	ep    *memnet.Endpoint
	mgr   *peer
	peers []*peer
	codec *wire.Codec
	now   time.Duration
	sent  []got // every packet the agent sent
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ring := testRing(t)
	if cfg.ID == "" {
		cfg.ID = "worker-1"
	}
	cfg.Manager = mgrAddr
	cfg.Keyring = ring
	if cfg.FirstSeq == 0 {
		cfg.FirstSeq = 1000
	}
	h := &harness{t: t, net: memnet.New(1), codec: wire.NewCodec(ring)}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	if h.ep, err = h.net.Listen(agentAddr); err != nil {
		t.Fatal(err)
	}
	h.mgr = h.peer(mgrAddr, ring)
	return h
}

func (h *harness) peer(addr netip.AddrPort, ring *wire.Keyring) *peer {
	h.t.Helper()
	ep, err := h.net.Listen(addr)
	if err != nil {
		h.t.Fatal(err)
	}
	p := &peer{h: h, ep: ep, codec: wire.NewCodec(ring), seq: wire.NewSequence(1)}
	h.peers = append(h.peers, p)
	return p
}

// flush sends the agent's outbox, recording every packet.
func (h *harness) flush() {
	out := h.a.Outbox()
	for _, msg := range out {
		g := got{at: h.now, from: agentAddr, to: msg.Addr, raw: append([]byte(nil), msg.Data...)}
		if err := h.codec.Decode(g.raw, &g.m); err != nil {
			h.t.Fatalf("agent sent a bad packet: %v", err)
		}
		h.sent = append(h.sent, g)
	}
	if len(out) > 0 {
		if _, err := h.ep.WriteBatch(out); err != nil {
			h.t.Fatal(err)
		}
	}
}

// run advances virtual time to until, delivering packets and firing the
// agent's timers at their exact times.
func (h *harness) run(until time.Duration) {
	h.t.Helper()
	var ms [64]transport.Message
	for {
		t, due := until, false
		if n, ok := h.a.Next(); ok && n <= t {
			t, due = n, true
		}
		if n, ok := h.net.Next(); ok && n <= t {
			t, due = n, true
		}
		t = max(t, h.now)
		if _, err := h.net.Advance(t); err != nil {
			h.t.Fatal(err)
		}
		h.now = t
		for {
			n := h.ep.Poll(ms[:])
			if n == 0 {
				break
			}
			h.a.Handle(t, ms[:n])
		}
		h.a.Tick(t)
		h.flush()
		for _, p := range h.peers {
			p.poll()
		}
		if !due {
			return
		}
	}
}

// sentOf returns what the agent sent of type t.
func (h *harness) sentOf(t wire.Type) []got {
	var out []got
	for _, g := range h.sent {
		if g.m.Type == t {
			out = append(out, g)
		}
	}
	return out
}

// welcome makes the manager accept every join with the ticket and interval.
func (h *harness) welcome(intervalMS uint32) {
	h.mgr.reply = func(p *peer, g got) {
		if g.m.Type == wire.TypeJoin {
			p.send(g.from, wire.Message{Type: wire.TypeWelcome, Status: wire.JoinAccepted, Ticket: ticket,
				Incarnation: g.m.Incarnation, HeartbeatIntervalMS: intervalMS, BaseMS: 30000})
		}
	}
}

// joined runs until the agent holds the ticket, and clears the records.
func (h *harness) joined(intervalMS uint32) {
	h.t.Helper()
	h.welcome(intervalMS)
	h.run(h.now + time.Millisecond)
	if s := h.a.State(); !s.Joined || s.Ticket != ticket {
		h.t.Fatalf("not joined: %+v", s)
	}
	h.mgr.reply = nil
	h.mgr.inbox, h.sent = nil, nil
}

// extend starts an extension request on the core at the harness's time.
func (h *harness) extend(p extension.Progress, reason string) uint32 {
	h.t.Helper()
	h.a.mu.Lock()
	id, err := h.a.core.Extend(h.a.env, h.now, p, reason, 0)
	h.a.mu.Unlock()
	if err != nil {
		h.t.Fatal(err)
	}
	h.flush()
	return id
}

func (h *harness) decision(id uint32) (Decision, bool) {
	h.a.mu.Lock()
	defer h.a.mu.Unlock()
	return h.a.core.Decision(id)
}

func (h *harness) setBusy(b bool) {
	h.a.SetBusy(b)
	h.flush()
}
