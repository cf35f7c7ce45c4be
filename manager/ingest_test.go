package manager

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// packet signs m as w would send it, with w's next sequence number.
func (w *worker) packet(m wire.Message) transport.Message {
	m.Seq = w.seq.Next()
	buf := make([]byte, wire.MaxMessageSize)
	n, err := w.codec.Encode(buf, &m)
	require.NoError(w.h.t, err)
	return transport.Message{Addr: w.ep.LocalAddr(), Data: buf[:n], N: n}
}

// The passes of ingest keep arrival order: what goes to the loop (refused
// heartbeats among the other packets) is in the order it came, the replay
// window sees the packets in the order they came, and heartbeats the fast
// path applies are done with.
func TestIngestKeepsArrivalOrderAcrossItsPasses(t *testing.T) {
	h := newHarness(t, nil)
	w1 := h.worker("w1", "10.0.0.2:1000")
	w1.join()
	w2 := h.worker("w2", "10.0.0.3:1000")
	w2.join()
	before := h.m.Stats()

	hb2 := w2.packet(wire.Message{Type: wire.TypeHeartbeat, Ticket: w2.ticket})
	pkts := []transport.Message{
		w1.packet(wire.Message{Type: wire.TypeExtensionRequest, Ticket: w1.ticket, RequestID: 7}),
		// A higher incarnation: the fast path refuses it, the loop adopts it.
		w1.packet(wire.Message{Type: wire.TypeHeartbeat, Ticket: w1.ticket, Incarnation: 1}),
		w2.packet(wire.Message{Type: wire.TypeNack, Ticket: w1.ticket, ProbeSeq: 3}),
		hb2,
		hb2, // a replay within the read
		{Addr: hb2.Addr, Data: []byte{wire.Version}, N: 1},
		w1.packet(wire.Message{Type: wire.TypeLeave, Ticket: w1.ticket, Incarnation: 1}),
	}
	var rd reader
	rd.init(h.ring)
	h.m.ingest(&rd, wheel.Time(h.now), pkts)

	items := rd.cur.items
	require.Len(t, items, 4)
	require.Equal(t, wire.TypeExtensionRequest, items[0].typ)
	require.Equal(t, uint32(7), items[0].reqID)
	require.Equal(t, wire.TypeHeartbeat, items[1].typ)
	require.Equal(t, uint64(1), items[1].inc)
	require.Equal(t, w1.ep.LocalAddr(), items[1].from)
	require.Equal(t, wheel.Ticket(w1.ticket), items[1].ticket)
	require.Equal(t, wire.TypeNack, items[2].typ)
	require.Equal(t, uint32(3), items[2].probeSeq)
	require.Equal(t, wire.TypeLeave, items[3].typ)

	s := h.m.Stats()
	require.Equal(t, uint64(len(pkts)), s.PacketsIn-before.PacketsIn)
	require.Equal(t, uint64(1), s.HeartbeatsFast-before.HeartbeatsFast)
	require.Equal(t, uint64(1), s.Replays()-before.Replays())
	require.Equal(t, uint64(4), s.Forwarded-before.Forwarded)
	require.Equal(t, uint64(2), s.BadPackets()-before.BadPackets())
}

// A read longer than one group of passes checks its windows in arrival
// order across the groups: a packet repeated on either side of a group's
// end is a replay.
func TestIngestChecksWindowsAcrossGroups(t *testing.T) {
	h := newHarness(t, nil)
	w := h.worker("w1", "10.0.0.2:1000")
	w.join()
	before := h.m.Stats()

	pkts := make([]transport.Message, 0, ingestGroup+2)
	for range ingestGroup {
		pkts = append(pkts, w.packet(wire.Message{Type: wire.TypeHeartbeat, Ticket: w.ticket}))
	}
	pkts = append(pkts, pkts[ingestGroup-1], pkts[0])
	h.m.Receive(wheel.Time(h.now), pkts)

	s := h.m.Stats()
	require.Equal(t, uint64(ingestGroup), s.HeartbeatsFast-before.HeartbeatsFast)
	require.Equal(t, uint64(2), s.Replays()-before.Replays())
	require.Equal(t, uint64(0), s.Forwarded-before.Forwarded)
}
