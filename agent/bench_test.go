package agent

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

var helperAddr = netip.MustParseAddrPort("10.0.0.9:5000")

// joinedCore returns a core holding ticket, with its Env, a codec for the
// manager's side and the time.
func joinedCore(tb testing.TB) (*Core, *Env, *wire.Codec, time.Duration) {
	tb.Helper()
	ring := testRing(tb)
	env, err := NewEnv(ring, nil)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := NewCore(Config{ID: "bench-worker", Manager: mgrAddr, HeartbeatInterval: time.Second, FirstSeq: 1})
	if err != nil {
		tb.Fatal(err)
	}
	mc := wire.NewCodec(ring)
	c.Tick(env, 0)
	env.Drain()
	w := encode(tb, mc, wire.Message{Type: wire.TypeWelcome, Seq: 1, Status: wire.JoinAccepted, Ticket: ticket})
	c.Handle(env, 0, transport.Message{Addr: mgrAddr, Data: w})
	if !c.State().Joined {
		tb.Fatal("not joined")
	}
	return c, env, mc, time.Millisecond
}

func encode(tb testing.TB, c *wire.Codec, m wire.Message) []byte {
	tb.Helper()
	buf := make([]byte, wire.MaxMessageSize)
	n, err := c.Encode(buf, &m)
	if err != nil {
		tb.Fatal(err)
	}
	return buf[:n]
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	c, env, mc, now := joinedCore(t)
	// Warm the outbox up to its working size.
	c.sendHeartbeat(env, now)
	env.Drain()

	if n := testing.AllocsPerRun(100, func() {
		now += time.Second
		c.Tick(env, now)
		if len(env.Drain()) != 1 {
			t.Fatal("no heartbeat")
		}
	}); n != 0 {
		t.Errorf("heartbeat: %v allocs", n)
	}

	ping := transport.Message{Addr: helperAddr, Data: encode(t, mc, wire.Message{Type: wire.TypePing, Seq: 5, Ticket: ticket, ProbeSeq: 3})}
	if n := testing.AllocsPerRun(100, func() {
		c.Handle(env, now, ping)
		if len(env.Drain()) != 1 {
			t.Fatal("no ack")
		}
	}); n != 0 {
		t.Errorf("ping from a helper: %v allocs", n)
	}

	pings := make([]transport.Message, 101)
	for i := range pings {
		pings[i] = transport.Message{Addr: mgrAddr, Data: encode(t, mc, wire.Message{Type: wire.TypePing, Seq: uint64(10 + i), Ticket: ticket, ProbeSeq: uint32(i)})}
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		c.Handle(env, now, pings[i])
		i++
		if len(env.Drain()) != 1 {
			t.Fatal("no ack")
		}
	}); n != 0 {
		t.Errorf("ping from the manager: %v allocs", n)
	}
}

// TestCoreSize pins the per-worker footprint that the fleet simulator
// multiplies by 100,000 and more.
func TestCoreSize(t *testing.T) {
	const limit = 256
	if s := unsafe.Sizeof(Core{}); s > limit {
		t.Errorf("Core is %d bytes, want at most %d", s, limit)
	}
}

// BenchmarkHeartbeat: a core's heartbeat (timer, encode, sign, queue)
// beside the baseline of encoding and signing a heartbeat alone.
func BenchmarkHeartbeat(b *testing.B) {
	b.Run("core", func(b *testing.B) {
		c, env, _, now := joinedCore(b)
		b.ReportAllocs()
		for b.Loop() {
			now += time.Second
			c.Tick(env, now)
			env.Drain()
		}
	})
	b.Run("encode-baseline", func(b *testing.B) {
		codec := wire.NewCodec(testRing(b))
		buf := make([]byte, wire.MaxMessageSize)
		m := wire.Message{Type: wire.TypeHeartbeat, Ticket: ticket, Incarnation: 1}
		b.ReportAllocs()
		for b.Loop() {
			m.Seq++
			if _, err := codec.Encode(buf, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPingAnswer: a core answering a ping (decode, verify, checks,
// ack encoded and queued) beside the baseline of one decode and one encode.
func BenchmarkPingAnswer(b *testing.B) {
	b.Run("core", func(b *testing.B) {
		c, env, mc, now := joinedCore(b)
		ping := transport.Message{Addr: helperAddr, Data: encode(b, mc, wire.Message{Type: wire.TypePing, Seq: 5, Ticket: ticket, ProbeSeq: 3})}
		b.ReportAllocs()
		for b.Loop() {
			c.Handle(env, now, ping)
			env.Drain()
		}
	})
	b.Run("decode-encode-baseline", func(b *testing.B) {
		codec := wire.NewCodec(testRing(b))
		ping := encode(b, codec, wire.Message{Type: wire.TypePing, Seq: 5, Ticket: ticket, ProbeSeq: 3})
		buf := make([]byte, wire.MaxMessageSize)
		var in wire.Message
		b.ReportAllocs()
		for b.Loop() {
			if err := codec.Decode(ping, &in); err != nil {
				b.Fatal(err)
			}
			out := wire.Message{Type: wire.TypeAck, Seq: in.Seq, Ticket: in.Ticket, ProbeSeq: in.ProbeSeq}
			if _, err := codec.Encode(buf, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzHandle: any packet, from the manager or elsewhere, into a joined
// core never panics, and whatever the core sends is a valid packet.
func FuzzHandle(f *testing.F) {
	ring := testRing(f)
	mc := wire.NewCodec(ring)
	for i, m := range []wire.Message{
		{Type: wire.TypeWelcome, Status: wire.JoinStaleIncarnation, Incarnation: 3},
		{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeDead},
		{Type: wire.TypeNotice, Ticket: ticket, State: wire.NoticeSuspect, Incarnation: 1<<64 - 1},
		{Type: wire.TypePing, Ticket: ticket, Suspect: true},
		{Type: wire.TypePingReq, Ticket: wire.Ticket{Slot: 2}, Addr: targetAddr},
		{Type: wire.TypeAck, Ticket: wire.Ticket{Slot: 2}},
		{Type: wire.TypeExtensionResponse, Ticket: ticket, RequestID: 1},
	} {
		m.Seq = uint64(100 + i)
		f.Add(encode(f, mc, m), true)
		f.Add(encode(f, mc, m), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, fromManager bool) {
		c, env, _, now := joinedCore(t)
		from := helperAddr
		if fromManager {
			from = mgrAddr
		}
		c.Handle(env, now, transport.Message{Addr: from, Data: data})
		c.Tick(env, now+time.Hour)
		check := wire.NewCodec(ring)
		var m wire.Message
		for _, p := range env.Drain() {
			if err := check.Decode(p.Data, &m); err != nil {
				t.Fatalf("sent a bad packet: %v", err)
			}
		}
		if next, ok := c.Next(); ok && next < now {
			t.Fatalf("timer %v in the past of %v", next, now)
		}
	})
}
