package agent

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// Env is what many cores can share: the codec, the scratch messages, the
// outbox and the counters of dropped packets. A simulator keeps one Env per
// goroutine and drives thousands of cores with it; an Agent has its own.
// An Env is not safe for concurrent use.
type Env struct {
	codec *wire.Codec
	log   *slog.Logger // nil: no logs

	in  wire.Message // the packet being handled
	msg wire.Message // the packet being sent

	// buf holds the encoded packets of out; out[i].Data aliases it. When it
	// runs short a bigger one replaces it, and the packets already queued
	// keep the old one, so nothing queued is ever overwritten before Drain.
	buf []byte
	out []transport.Message

	stats Stats
}

// Stats count packets an Env's cores did not act on.
type Stats struct {
	// Rejected counts packets by the fault that made them fail: decoding and
	// authentication faults (wire.FaultTag, wire.FaultKeyID, ...) and
	// wire.FaultReplay for manager packets the replay window dropped.
	Rejected [wire.NumFaults]uint64
	// Ignored counts authentic packets that did not apply: a manager's
	// message from another address, a ping or notice for another ticket, an
	// ack matching no relay, a response to no pending request, a message
	// type a worker never receives.
	Ignored uint64
	// Unsent counts messages the codec refused to encode (none is expected).
	Unsent uint64
}

// NewEnv returns an Env that signs and verifies with ring; log may be nil.
func NewEnv(ring *wire.Keyring, log *slog.Logger) (*Env, error) {
	if ring == nil {
		return nil, fmt.Errorf("%w: Keyring is nil", ErrConfig)
	}
	return &Env{codec: wire.NewCodec(ring), log: log}, nil
}

// Drain returns the packets queued since the last Drain and empties the
// outbox. The packets stay valid until the next call that queues packets
// (Handle, Tick, ...) on a core using this Env: send them before.
func (e *Env) Drain() []transport.Message {
	out := e.out
	e.out = e.out[:0]
	e.buf = e.buf[:0]
	return out
}

// Stats returns the counters.
func (e *Env) Stats() Stats { return e.stats }

// send encodes e.msg with seq and queues it for to. It does not allocate
// once the outbox has grown to its working size.
func (e *Env) send(to netip.AddrPort, seq uint64) {
	const room = wire.MaxMessageSize
	if cap(e.buf)-len(e.buf) < room {
		e.buf = make([]byte, 0, max(2*cap(e.buf), 16*room))
	}
	e.msg.Seq = seq
	off := len(e.buf)
	n, err := e.codec.Encode(e.buf[off:off+room], &e.msg)
	if err != nil {
		e.stats.Unsent++
		return
	}
	e.buf = e.buf[:off+n]
	e.out = append(e.out, transport.Message{Addr: to, Data: e.buf[off : off+n : off+n], N: n})
}

func (e *Env) reject(f wire.Fault) {
	if f >= wire.NumFaults {
		f = wire.FaultNone
	}
	e.stats.Rejected[f]++
}
