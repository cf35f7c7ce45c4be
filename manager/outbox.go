package manager

import (
	"net/netip"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

const outboxSize = 256

// outbox encodes the loop's messages into reused buffers and sends them in
// batches. Loop only.
type outbox struct {
	conn  transport.PacketConn
	codec *wire.Codec
	stats *counters
	msg0  wire.Message
	bufs  [][wire.MaxMessageSize]byte
	batch []transport.Message
}

func (o *outbox) init(conn transport.PacketConn, ring *wire.Keyring, stats *counters) {
	o.conn = conn
	o.codec = wire.NewCodec(ring)
	o.stats = stats
	o.bufs = make([][wire.MaxMessageSize]byte, outboxSize)
	o.batch = make([]transport.Message, 0, outboxSize)
}

// msg starts a message of type typ about ticket t; fill it, then send.
func (o *outbox) msg(typ wire.Type, t wheel.Ticket) *wire.Message {
	o.msg0 = wire.Message{Type: typ, Ticket: wire.Ticket(t)}
	return &o.msg0
}

// send encodes the message started by msg and queues it for to.
func (o *outbox) send(to netip.AddrPort, seq uint64) {
	if len(o.batch) == outboxSize {
		o.flush()
	}
	o.msg0.Seq = seq
	i := len(o.batch)
	n, err := o.codec.Encode(o.bufs[i][:], &o.msg0)
	if err != nil {
		o.stats.sendErrors.Add(1)
		return
	}
	o.batch = append(o.batch, transport.Message{Addr: to, Data: o.bufs[i][:n], N: n})
}

// flush sends what is queued.
func (o *outbox) flush() {
	if len(o.batch) == 0 {
		return
	}
	// Counted before the write, so that a peer that has a reply also finds
	// it counted, and never taken back (a counter only grows): PacketsOut
	// counts packets handed to the socket, and those it then refused are
	// counted in SendErrors too.
	o.stats.packetsOut.Add(uint64(len(o.batch)))
	n, err := o.conn.WriteBatch(o.batch)
	if err != nil {
		o.stats.sendErrors.Add(uint64(len(o.batch) - n))
	}
	o.batch = o.batch[:0]
}
