package manager

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/internal/prefetch"
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

// ingestGroup is how many packets ingest takes through its passes at a
// time: a read batch.
const ingestGroup = 64

// check is which replay window a verified packet must pass.
type check uint8

const (
	checkNone   check = iota // none: a join of an unknown worker, a helper's report
	checkTicket              // the window of the slot its ticket names
	checkJoin                // a known worker's join: the window of its slot, if of its generation
)

// pending is what a reader keeps of one verified packet between the passes
// of ingest: what the replay window and the fast path need, 32 bytes. The
// other fields of a packet that is not a heartbeat wait in reader.slow.
type pending struct {
	seq    uint64
	inc    uint64
	ticket wheel.Ticket // checkJoin: the ticket of the known worker
	typ    wire.Type
	check  check
	keep   bool  // handed to the loop
	pkt    uint8 // index of its packet in the group
	slow   uint8 // not a heartbeat: index of its inbound in reader.slow
}

// reader is the per-goroutine decode state: a codec (not shareable), the
// batch being filled for the loop, and the scratch of ingest's passes.
type reader struct {
	codec *wire.Codec
	raws  [ingestGroup][]byte       // the packets of a group, for DecodeBatch
	msgs  [ingestGroup]wire.Message // and what it decoded of them
	errs  [ingestGroup]error
	cur   *batch
	pend  []pending                // the verified packets of a group, in arrival order
	slow  []inbound                // their inbound structs, those that are not heartbeats
	hbs   []detector.FastHeartbeat // the heartbeats that passed their windows
	hbAt  []uint8                  // hbs[k] is pend[hbAt[k]]
}

func (rd *reader) init(ring *wire.Keyring) {
	rd.codec = wire.NewCodec(ring)
	rd.cur = &batch{items: make([]inbound, 0, ingestGroup)}
	rd.pend = make([]pending, 0, ingestGroup)
	rd.slow = make([]inbound, 0, ingestGroup)
	rd.hbs = make([]detector.FastHeartbeat, 0, ingestGroup)
	rd.hbAt = make([]uint8, 0, ingestGroup)
}

// ingest takes the packets of a read, all at now (the time of the read):
// heartbeats the fast path applies are done with, and everything else that
// verified and passed its replay window is appended to rd.cur for the loop,
// in arrival order. It allocates nothing.
func (m *Manager) ingest(rd *reader, now wheel.Time, pkts []transport.Message) {
	for len(pkts) > 0 {
		group := pkts[:min(len(pkts), ingestGroup)]
		pkts = pkts[len(group):]
		m.ingestGroup(rd, now, group)
	}
}

// ingestGroup is ingest for up to ingestGroup packets, in passes, so that
// the cache misses of the group's workers overlap instead of queuing one
// behind the other: at 200,000 workers each heartbeat touches three
// per-worker words (replay window, incarnation, wheel slot) in three
// arrays far larger than the cache, in random order.
//
//  1. Decode and verify every packet, in one DecodeBatch (which verifies
//     the tags of eight heartbeats at once); keep what the later passes need
//     in rd.pend (and, for the rare packets that are not heartbeats, their
//     inbound struct in rd.slow).
//  2. Warm the replay windows of the group: independent loads whose misses
//     overlap.
//  3. Check the windows in arrival order, on lines now in the cache: the
//     same checks, in the same order, as one packet at a time, and each
//     only after the packet's tag verified.
//  4. Apply the heartbeats that passed in one HeartbeatFastBatch call, which
//     warms the incarnations and wheel words the same way.
//  5. Append what the loop must see, in arrival order: the refused
//     heartbeats among the other packets, so that the loop sees every
//     worker's packets in order.
func (m *Manager) ingestGroup(rd *reader, now wheel.Time, pkts []transport.Message) {
	m.stats.packetsIn.Add(uint64(len(pkts)))
	pend, slow := rd.pend[:0], rd.slow[:0]
	for i := range pkts {
		m.prefetchWindow(&pkts[i])
		rd.raws[i] = pkts[i].Data[:pkts[i].N]
	}
	rd.codec.DecodeBatch(rd.raws[:len(pkts)], rd.msgs[:], rd.errs[:])
	for i := range pkts {
		pkt, msg := &pkts[i], &rd.msgs[i]
		if err := rd.errs[i]; err != nil {
			m.stats.bad[wire.FaultOf(err)].Add(1)
			continue
		}
		chk, ticket := checkNone, wheel.Ticket(msg.Ticket)
		switch msg.Type {
		case wire.TypeHeartbeat, wire.TypeAck, wire.TypeExtensionRequest, wire.TypeLeave:
			// The sender is the worker the ticket names. A ticket with no
			// peer yet is passed on: the loop answers it with an "unknown"
			// notice.
			chk = checkTicket
		case wire.TypeJoin:
			// A known worker's join must be newer than what its slot saw; a
			// new worker's join must be fresh (Config.JoinFreshness), and
			// opens the window (the loop resets it).
			id := unsafe.String(unsafe.SliceData(msg.WorkerID), len(msg.WorkerID))
			if kt, ok := m.det.Lookup(id); ok {
				chk, ticket = checkJoin, kt
			} else if !m.freshJoin(msg.Seq) {
				// Unknown, and too far from the clock to be a live
				// worker's join: a replay, or a worker whose clock is off.
				m.stats.staleJoins.Add(1)
				continue
			}
		case wire.TypeIndirectAck, wire.TypeNack:
			// A helper's report names the target, not the helper; the
			// detector accepts it only for the probe round under way
			// (ProbeSeq).
		default:
			m.stats.unexpected.Add(1)
			continue
		}
		// Filled in place, field by field: a pending built whole is
		// assembled on the stack and copied in 16-byte moves, each of which
		// waits for the narrower stores that built it. (pend never outgrows
		// its capacity, a group.)
		pend = pend[:len(pend)+1]
		p := &pend[len(pend)-1]
		p.seq, p.inc, p.ticket = msg.Seq, msg.Incarnation, ticket
		p.typ, p.check, p.keep, p.pkt, p.slow = msg.Type, chk, true, uint8(i), 0
		if msg.Type != wire.TypeHeartbeat {
			p.slow = uint8(len(slow))
			slow = append(slow, inbound{})
			fill(&slow[len(slow)-1], pkt.Addr, msg)
		}
	}

	// Warm-up loads of the windows. They are harmless: a load changes
	// nothing, its value is dropped, and every decision below is made by
	// Check on loads of its own, after this pass. A window that changes in
	// between (another reader, the loop's reset on a join) is simply a
	// line fetched again.
	var sum uint64
	for i := range pend {
		if pend[i].check == checkTicket {
			if w := m.peers.window(pend[i].ticket.Slot); w != nil {
				sum += w.Max() + uint64(m.peers.get(pend[i].ticket.Slot).gen.Load())
			}
		}
	}
	warm(sum)

	// The windows, in arrival order. The tag of every packet here verified
	// in the first pass, so a forged far-ahead sequence number cannot shut
	// a sender out.
	hbs, hbAt := rd.hbs[:0], rd.hbAt[:0]
	var replays uint64
	for i := range pend {
		p := &pend[i]
		switch p.check {
		case checkTicket:
			// Only the slot's current owner moves its window: a ticket of
			// an earlier life of the slot goes on unchecked, and the loop
			// answers it "unknown" so that its sender joins again.
			if pr := m.peers.get(p.ticket.Slot); pr != nil && pr.gen.Load() == uint32(p.ticket.Gen) &&
				!m.peers.window(p.ticket.Slot).Check(p.seq) {
				p.keep = false
			}
		case checkJoin:
			if pr := m.peers.get(p.ticket.Slot); pr != nil && pr.gen.Load() == uint32(p.ticket.Gen) && !m.peers.window(p.ticket.Slot).Check(p.seq) {
				p.keep = false
			}
		}
		if !p.keep {
			replays++
			continue
		}
		if p.typ == wire.TypeHeartbeat {
			hbs = append(hbs, detector.FastHeartbeat{Ticket: p.ticket, Inc: p.inc})
			hbAt = append(hbAt, uint8(i))
		}
	}
	if replays > 0 {
		m.stats.bad[wire.FaultReplay].Add(replays)
	}

	// The heartbeats, all at now, on the lock-free path.
	kept := len(pend) - int(replays)
	if len(hbs) > 0 {
		fast := m.det.HeartbeatFastBatch(now, hbs)
		m.stats.heartbeatsFast.Add(uint64(fast))
		kept -= fast
		for k := range hbs {
			if hbs[k].OK {
				pend[hbAt[k]].keep = false
			}
		}
	}
	if kept > 0 {
		m.stats.forwarded.Add(uint64(kept))
		items := rd.cur.items
		for i := range pend {
			p := &pend[i]
			if !p.keep {
				continue
			}
			if p.typ != wire.TypeHeartbeat {
				items = append(items, slow[p.slow])
				continue
			}
			// All the loop reads of a heartbeat.
			items = append(items, inbound{})
			in := &items[len(items)-1]
			in.from = pkts[p.pkt].Addr
			in.typ = p.typ
			in.ticket = p.ticket
			in.inc = p.inc
			in.seq = p.seq
		}
		rd.cur.items = items
	}
	rd.pend, rd.slow, rd.hbs, rd.hbAt = pend[:0], slow[:0], hbs[:0], hbAt[:0]
}

// prefetchWindow starts bringing the replay window of a heartbeat's sender,
// and the generation it belongs to, into the cache before the packet is
// verified, so that the misses overlap
// with the AES of this and the next packets. The slot is read from the
// unverified bytes: it decides nothing, a prefetch changes nothing, and a
// forged slot costs one wasted line.
func (m *Manager) prefetchWindow(pkt *transport.Message) {
	b := pkt.Data[:pkt.N]
	if len(b) < wire.HeaderSize+4 || wire.Type(b[1]) != wire.TypeHeartbeat {
		return
	}
	slot := binary.BigEndian.Uint32(b[wire.HeaderSize:])
	if c := m.peers.chunk(slot); c != nil {
		i := slot & (1<<peerChunkBits - 1)
		prefetch.Read(unsafe.Pointer(&c.window[i]))
		prefetch.Read(unsafe.Pointer(&c.peer[i].gen)) // the owner check before the window's
	}
	// And the lines HeartbeatFastBatch will touch: the worker's incarnation
	// and wheel word.
	m.det.Prefetch(slot)
}

// fill sets in from a verified message that came from from.
func fill(in *inbound, from netip.AddrPort, msg *wire.Message) {
	in.from = from
	in.typ = msg.Type
	in.ticket = wheel.Ticket(msg.Ticket)
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

// warm does nothing with its argument, in a call the compiler cannot see
// into: the warm-up loads sum their values into it, so that the compiler
// keeps them (it drops an atomic load whose value is unused).
//
//go:noinline
func warm(uint64) {}
