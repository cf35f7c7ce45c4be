package detector

import (
	"sync/atomic"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

// phase is where a worker stands within its status.
type phase uint8

const (
	phaseNone     phase = iota // alive: waiting for its deadline
	phasePing                  // alive: deadline passed, direct ping sent
	phaseIndirect              // alive: ping-reqs sent through helpers
	phaseSuspect               // suspect: waiting for refutation or the window's end
	phaseRetained              // dead or left: kept until retention ends
)

// record is one worker's state, indexed by its wheel slot. Its deadline is
// not here: it lives in the wheel slot, the one authority for time.
//
// Its incarnation is not here either: it sits in a dense array beside the
// records (records.inc), because HeartbeatFast reads it on every heartbeat
// and 8 bytes a worker stay in cache where 90 do not.
//
// Concurrency: every field belongs to the owner goroutine.
type record struct {
	id        string          // shares its bytes with the ids map key
	ext       extension.State // extension cycle
	since     wheel.Time      // suspect: when the suspicion began
	confirmed uint32          // suspect: bit i set once peer manager i confirmed
	probeSeq  uint32          // probe round, echoed by nacks
	alivePos  uint32          // 1 + index in Detector.alive; 0 when not alive
	status    Status
	phase     phase
	cause     Cause
	// round is the current ping-req round's helpers asked (high nibble)
	// and nacks received (low nibble); Indirect is at most 15.
	round uint8
}

func (r *record) asked() uint8 { return r.round >> 4 }
func (r *record) nacks() uint8 { return r.round & 0xf }

const chunkBits = 12 // 4096 records a chunk

// chunk holds the records of 4096 slots and, apart, their incarnations.
//
// Concurrency: inc is written only by the owner goroutine and read by
// HeartbeatFast from any goroutine.
type chunk struct {
	inc [1 << chunkBits]atomic.Uint64
	rec [1 << chunkBits]record
}

// records is a dense array of records in chunks, grown on demand. Chunk
// pointers are atomic so that HeartbeatFast on other goroutines never races
// with growth by the owner.
type records struct {
	chunks []atomic.Pointer[chunk] // fixed length, from the slot capacity
}

func newRecords(capacity int) records {
	n := (capacity + 1<<chunkBits - 1) >> chunkBits
	return records{chunks: make([]atomic.Pointer[chunk], n)}
}

// chunkOf returns the chunk holding slot, or nil when it was never made.
func (r *records) chunkOf(slot uint32) *chunk {
	ci := slot >> chunkBits
	if int(ci) >= len(r.chunks) {
		return nil
	}
	return r.chunks[ci].Load()
}

// get returns the record of slot, or nil when its chunk was never made.
func (r *records) get(slot uint32) *record {
	if c := r.chunkOf(slot); c != nil {
		return &c.rec[slot&(1<<chunkBits-1)]
	}
	return nil
}

// inc returns the incarnation of slot, or nil when its chunk was never made.
func (r *records) inc(slot uint32) *atomic.Uint64 {
	if c := r.chunkOf(slot); c != nil {
		return &c.inc[slot&(1<<chunkBits-1)]
	}
	return nil
}

// make returns the record of slot, making its chunk if needed. Owner only.
func (r *records) make(slot uint32) *record {
	ci := slot >> chunkBits
	c := r.chunks[ci].Load()
	if c == nil {
		c = new(chunk)
		// Store publishes a fully zeroed chunk; a reader that loads the
		// pointer sees incarnations 0, which HeartbeatFast treats as any
		// other: the wheel's generation check decides.
		r.chunks[ci].Store(c)
	}
	return &c.rec[slot&(1<<chunkBits-1)]
}
