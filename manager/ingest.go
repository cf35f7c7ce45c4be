package manager

import (
	"net/netip"
	"unsafe"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// inbound is a verified packet handed from a reader to the loop. It owns its
// bytes: the worker ID is copied out of the receive buffer.
type inbound struct {
	from     netip.AddrPort
	typ      wire.Type
	idLen    uint8
	ticket   wheel.Ticket
	inc      uint64
	seq      uint64
	probeSeq uint32
	reqID    uint32
	progress extension.Progress
	id       [wire.MaxWorkerIDLen]byte
}

// batch is a reusable slice of inbound packets.
type batch struct {
	items []inbound
}

// reader is the per-goroutine decode state: a codec (not shareable), the
// batch being filled for the loop, and the heartbeats of the current read.
type reader struct {
	codec *wire.Codec
	msg   wire.Message
	cur   *batch
	// hbs are the heartbeats of the packets ingested since the last
	// applyHeartbeats; hbs[k] came as cur.items[hbAt[k]].
	hbs  []detector.FastHeartbeat
	hbAt []int
}

func (rd *reader) init(ring *wire.Keyring) {
	rd.codec = wire.NewCodec(ring)
	rd.cur = &batch{items: make([]inbound, 0, 64)}
	rd.hbs = make([]detector.FastHeartbeat, 0, 64)
	rd.hbAt = make([]int, 0, 64)
}

// ingest verifies one packet and appends it to the reader's batch for the
// loop; a heartbeat is also noted for applyHeartbeats, which takes it out of
// the batch again if the fast path applies it. It allocates nothing.
func (m *Manager) ingest(rd *reader, now wheel.Time, pkt *transport.Message) {
	m.stats.packetsIn.Add(1)
	msg := &rd.msg
	if err := rd.codec.Decode(pkt.Data[:pkt.N], msg); err != nil {
		m.stats.bad[wire.FaultOf(err)].Add(1)
		return
	}
	t := wheel.Ticket(msg.Ticket)
	switch msg.Type {
	case wire.TypeHeartbeat, wire.TypeAck, wire.TypeExtensionRequest, wire.TypeLeave:
		// The sender is the worker the ticket names. Its replay window is
		// checked only after the tag verified, so a forged far-ahead
		// sequence number cannot shut it out. A ticket with no peer yet is
		// passed on: the loop answers it with an "unknown" notice.
		if p := m.peers.get(t.Slot); p != nil && !p.window.Check(msg.Seq) {
			m.stats.bad[wire.FaultReplay].Add(1)
			return
		}
	case wire.TypeJoin:
		// A known worker's join must be newer than what its slot saw; a new
		// worker's join opens the window (the loop resets it).
		id := unsafe.String(unsafe.SliceData(msg.WorkerID), len(msg.WorkerID))
		if kt, ok := m.det.Lookup(id); ok {
			if p := m.peers.get(kt.Slot); p != nil && p.gen.Load() == uint32(kt.Gen) && !p.window.Check(msg.Seq) {
				m.stats.bad[wire.FaultReplay].Add(1)
				return
			}
		}
	case wire.TypeIndirectAck, wire.TypeNack:
		// A helper's report names the target, not the helper; the detector
		// accepts it only for the probe round under way (ProbeSeq).
	default:
		m.stats.unexpected.Add(1)
		return
	}
	if msg.Type == wire.TypeHeartbeat {
		rd.hbs = append(rd.hbs, detector.FastHeartbeat{Ticket: t, Inc: msg.Incarnation})
		rd.hbAt = append(rd.hbAt, len(rd.cur.items))
	} else {
		m.stats.forwarded.Add(1)
	}
	rd.cur.items = append(rd.cur.items, inbound{})
	in := &rd.cur.items[len(rd.cur.items)-1]
	in.from = pkt.Addr
	in.typ = msg.Type
	in.ticket = t
	in.inc = msg.Incarnation
	in.seq = msg.Seq
	in.probeSeq = msg.ProbeSeq
	in.reqID = msg.RequestID
	in.progress = extension.Progress{
		Completed: msg.Completed, Total: msg.Total, HasCount: msg.HasCount,
		Fraction: msg.Fraction, HasFraction: msg.HasFraction,
	}
	in.idLen = uint8(copy(in.id[:], msg.WorkerID))
}

// applyHeartbeats runs the heartbeats of a read batch through the lock-free
// path in one HeartbeatFastBatch call, all at now (the time of the read),
// and takes the applied ones out of the batch for the loop. The refused
// ones stay where they arrived among the other forwarded packets, so the
// loop sees every worker's packets in order.
func (m *Manager) applyHeartbeats(rd *reader, now wheel.Time) {
	if len(rd.hbs) == 0 {
		return
	}
	fast := m.det.HeartbeatFastBatch(now, rd.hbs)
	m.stats.heartbeatsFast.Add(uint64(fast))
	m.stats.forwarded.Add(uint64(len(rd.hbs) - fast))
	items := rd.cur.items
	keep, k := rd.hbAt[0], 0
	for i := keep; i < len(items); i++ {
		if k < len(rd.hbAt) && rd.hbAt[k] == i {
			k++
			if rd.hbs[k-1].OK {
				continue
			}
		}
		if keep != i {
			items[keep] = items[i]
		}
		keep++
	}
	rd.cur.items = items[:keep]
	rd.hbs, rd.hbAt = rd.hbs[:0], rd.hbAt[:0]
}
