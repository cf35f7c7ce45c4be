package manager

import (
	"net/netip"
	"sync/atomic"

	"github.com/swimwheel/swimwheel/wire"
)

// peer is the network side of one worker slot: where the worker is and
// which of its sequence numbers were seen.
//
// Concurrency: window and gen are used by every reader goroutine (both are
// lock-free); the other fields belong to the loop.
type peer struct {
	// The slot's replay window is not a field here but its entry in the
	// chunk's dense window array (peers.window): a reader checks a window
	// for every packet, in random order over the fleet, and 16 bytes a
	// worker stay in cache (and in the TLB) where the whole peer does not.

	// gen is the ticket generation the window and address belong to. The
	// loop stores it after resetting the window for a new owner, so a
	// reader that loads the new gen also sees the reset window.
	gen   atomic.Uint32
	ip    [16]byte // IPv4 as 4-in-6
	port  uint16
	known bool
}

func (p *peer) setAddr(ap netip.AddrPort) {
	p.ip = ap.Addr().As16()
	p.port = ap.Port()
	p.known = true
}

func (p *peer) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(p.ip).Unmap(), p.port)
}

const peerChunkBits = 12

// peerChunk holds the peers of 4096 slots and, apart, their replay
// windows.
type peerChunk struct {
	window [1 << peerChunkBits]wire.ReplayWindow
	peer   [1 << peerChunkBits]peer
}

// peers is a dense array of peers by slot, in chunks made on demand; the
// chunk pointers are atomic so that readers never race with growth.
type peers struct {
	chunks []atomic.Pointer[peerChunk]
}

func newPeers(capacity int) peers {
	n := (capacity + 1<<peerChunkBits - 1) >> peerChunkBits
	return peers{chunks: make([]atomic.Pointer[peerChunk], n)}
}

// chunk returns the chunk of slot, or nil when it does not exist.
func (ps *peers) chunk(slot uint32) *peerChunk {
	ci := slot >> peerChunkBits
	if int(ci) >= len(ps.chunks) {
		return nil
	}
	return ps.chunks[ci].Load()
}

// get returns the peer of slot, or nil when its chunk does not exist.
func (ps *peers) get(slot uint32) *peer {
	if c := ps.chunk(slot); c != nil {
		return &c.peer[slot&(1<<peerChunkBits-1)]
	}
	return nil
}

// window returns the replay window of slot, or nil when its chunk does not
// exist. It touches only the dense window array.
func (ps *peers) window(slot uint32) *wire.ReplayWindow {
	if c := ps.chunk(slot); c != nil {
		return &c.window[slot&(1<<peerChunkBits-1)]
	}
	return nil
}

// make returns the peer of slot, making its chunk. Loop only.
func (ps *peers) make(slot uint32) *peer {
	ci := slot >> peerChunkBits
	c := ps.chunks[ci].Load()
	if c == nil {
		c = new(peerChunk)
		// Store publishes a zeroed chunk: empty windows, generation 0.
		ps.chunks[ci].Store(c)
	}
	return &c.peer[slot&(1<<peerChunkBits-1)]
}
