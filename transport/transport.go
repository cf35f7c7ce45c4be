package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

// Message is one datagram. For ReadBatch, Data is a view into a buffer owned by
// the conn and is valid until the next ReadBatch on that conn; for WriteBatch
// the caller owns Data.
type Message struct {
	Addr netip.AddrPort
	Data []byte
	N    int // bytes (ReadBatch sets it; Data = buf[:N])
}

// PacketConn is what the manager and agent use; the UDP sockets of this package
// and the in-memory network (package memnet) both implement it.
type PacketConn interface {
	// ReadBatch fills up to len(ms) messages and returns how many. It blocks
	// until at least one datagram arrives or the conn is closed (then it
	// returns net.ErrClosed).
	ReadBatch(ms []Message) (int, error)
	// WriteBatch sends ms[i].Data to ms[i].Addr, returning how many were
	// sent. It attempts every message: one the network refuses is skipped,
	// counted, and reported as the first error.
	WriteBatch(ms []Message) (int, error)
	LocalAddr() netip.AddrPort
	Close() error
}

// Config sizes the sockets. The zero value is valid: every zero field takes
// its default.
type Config struct {
	Sockets     int // SO_REUSEPORT sockets on the one address; default GOMAXPROCS
	Batch       int // messages per recvmmsg/sendmmsg; default 64, at most 1024
	BufSize     int // bytes per receive buffer; default 2048 (largest datagram accepted)
	ReadBuffer  int // SO_RCVBUF bytes requested; default 4 MiB
	WriteBuffer int // SO_SNDBUF bytes requested; default 4 MiB
}

// Limits on Config fields.
const (
	MaxSockets  = 256
	MaxBatch    = 1024 // the kernel's UIO_MAXIOV bound on vlen
	MaxBufSize  = 65535
	maxSockBuf  = 1 << 30
	defaultBuf  = 4 << 20
	defaultSize = 2048
)

var (
	// ErrConfig is wrapped by errors about invalid Config fields.
	ErrConfig = errors.New("transport: invalid config")
	// ErrAddress is wrapped by errors about unusable addresses.
	ErrAddress = errors.New("transport: invalid address")
)

// withDefaults returns cfg with every zero field set to its default, or an
// error naming the first field out of range.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Sockets == 0 {
		cfg.Sockets = runtime.GOMAXPROCS(0)
	}
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	if cfg.BufSize == 0 {
		cfg.BufSize = defaultSize
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = defaultBuf
	}
	if cfg.WriteBuffer == 0 {
		cfg.WriteBuffer = defaultBuf
	}
	switch {
	case cfg.Sockets < 1 || cfg.Sockets > MaxSockets:
		return cfg, fmt.Errorf("%w: Sockets %d outside 1..%d", ErrConfig, cfg.Sockets, MaxSockets)
	case cfg.Batch < 1 || cfg.Batch > MaxBatch:
		return cfg, fmt.Errorf("%w: Batch %d outside 1..%d", ErrConfig, cfg.Batch, MaxBatch)
	case cfg.BufSize < 1 || cfg.BufSize > MaxBufSize:
		return cfg, fmt.Errorf("%w: BufSize %d outside 1..%d", ErrConfig, cfg.BufSize, MaxBufSize)
	case cfg.ReadBuffer < 1 || cfg.ReadBuffer > maxSockBuf:
		return cfg, fmt.Errorf("%w: ReadBuffer %d outside 1..%d", ErrConfig, cfg.ReadBuffer, maxSockBuf)
	case cfg.WriteBuffer < 1 || cfg.WriteBuffer > maxSockBuf:
		return cfg, fmt.Errorf("%w: WriteBuffer %d outside 1..%d", ErrConfig, cfg.WriteBuffer, maxSockBuf)
	}
	return cfg, nil
}

// Stats are counters of one conn, or summed over a Group.
type Stats struct {
	Received    uint64 // datagrams returned by ReadBatch
	Sent        uint64 // datagrams accepted by the kernel
	Dropped     uint64 // datagrams the kernel dropped at a full receive queue (SO_RXQ_OVFL), as last reported
	Truncated   uint64 // datagrams longer than BufSize: discarded, never returned
	WriteErrors uint64 // messages WriteBatch skipped (bad address, kernel refusal)
	ReadCalls   uint64 // receive syscalls (recvmmsg, or one per datagram in the fallback)
	WriteCalls  uint64 // send syscalls (sendmmsg, or one per datagram in the fallback)
	ReadBuffer  int    // receive buffer bytes the kernel granted, per socket (0: unknown)
	WriteBuffer int    // send buffer bytes the kernel granted, per socket (0: unknown)
}

func (s *Stats) add(o Stats) {
	s.Received += o.Received
	s.Sent += o.Sent
	s.Dropped += o.Dropped
	s.Truncated += o.Truncated
	s.WriteErrors += o.WriteErrors
	s.ReadCalls += o.ReadCalls
	s.WriteCalls += o.WriteCalls
	s.ReadBuffer = o.ReadBuffer
	s.WriteBuffer = o.WriteBuffer
}

// Group is the set of sockets bound to one address by Listen. It is safe for
// concurrent use.
type Group struct {
	// Immutable after Listen.
	conns []*Conn
	local netip.AddrPort
}

// Listen opens cfg.Sockets UDP sockets bound to addr ("host:port"; an empty
// host means every address, IPv4 and IPv6) with SO_REUSEPORT, so that the
// kernel spreads datagrams over them by flow. Each conn is meant to be served
// by one goroutine of the caller. Without SO_REUSEPORT support (the fallback)
// the group holds one socket. Port 0 picks a free port shared by all sockets.
func Listen(addr string, cfg Config) (*Group, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ap, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	n := cfg.Sockets
	if !reusePortSupported {
		n = 1
	}
	g := &Group{conns: make([]*Conn, 0, n)}
	for i := 0; i < n; i++ {
		c, err := openConn(ap, cfg, n > 1)
		if err != nil {
			g.Close()
			return nil, err
		}
		if i == 0 {
			// Later sockets join the port the first one got (port 0 asks
			// the kernel for one).
			ap = netip.AddrPortFrom(ap.Addr(), c.LocalAddr().Port())
			g.local = c.LocalAddr()
		}
		g.conns = append(g.conns, c)
	}
	return g, nil
}

// ListenConn opens one UDP socket bound to addr, without SO_REUSEPORT: the
// worker side, typically on port 0 (any free port).
func ListenConn(addr string, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ap, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	return openConn(ap, cfg, false)
}

// Conns returns the group's sockets, one per serving goroutine.
func (g *Group) Conns() []PacketConn {
	out := make([]PacketConn, len(g.conns))
	for i, c := range g.conns {
		out[i] = c
	}
	return out
}

// LocalAddr is the address every socket of the group is bound to.
func (g *Group) LocalAddr() netip.AddrPort { return g.local }

// Stats sums the counters of every socket.
func (g *Group) Stats() Stats {
	var s Stats
	for _, c := range g.conns {
		s.add(c.Stats())
	}
	return s
}

// Close closes every socket, unblocking their readers; it returns the first
// error.
func (g *Group) Close() error {
	var first error
	for _, c := range g.conns {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// resolve turns "host:port" into an address; an empty host gives the invalid
// Addr, which openConn takes as "every address".
func resolve(addr string) (netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: %v", ErrAddress, addr, err)
	}
	if ua.Zone != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: %q: IPv6 zones are not supported", ErrAddress, addr)
	}
	if ua.IP == nil {
		return netip.AddrPortFrom(netip.Addr{}, uint16(ua.Port)), nil
	}
	return ua.AddrPort(), nil
}

// checkDest reports why ap cannot be a destination, or nil.
func checkDest(ap netip.AddrPort) error {
	if !ap.Addr().IsValid() || ap.Port() == 0 {
		return fmt.Errorf("%w: destination %v", ErrAddress, ap)
	}
	return nil
}
