package naive

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wire"
)

// MaxWorkers is how many worker records (dead and left ones included) a
// Manager holds, the detector's default capacity.
const MaxWorkers = 1 << 22

// DefaultRetention is how long a dead or left worker's record is kept when
// Config.Retention is zero, the detector's default.
const DefaultRetention = 5 * time.Minute

// socketBuffer is the receive and send buffer size asked for, the transport
// package's default.
const socketBuffer = 4 << 20

// Config is what New needs.
type Config struct {
	// Listen is the UDP address to serve, e.g. "127.0.0.1:0".
	Listen string
	// Keyring authenticates every packet, as in the real manager.
	Keyring *wire.Keyring
	// Base is the deadline after a heartbeat; Suspicion the window between
	// suspected and evicted. Both are required.
	Base, Suspicion time.Duration
	// Policy judges extension requests. The zero Policy means
	// extension.DefaultPolicy() with its Base set to Base, as the detector
	// builds it.
	Policy extension.Policy
	// HeartbeatInterval is what Welcome tells workers; default Base/5.
	HeartbeatInterval time.Duration
	// Retention is how long a dead or left worker's record is kept so that
	// late packets of its old life are recognised; default DefaultRetention.
	Retention time.Duration
	// OnEvents receives every transition, one event per call, with the
	// manager's mutex held (see the package documentation). Optional. It
	// must not keep the slice.
	OnEvents func([]detector.Event)
}

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("naive: invalid config")

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("naive: Run called twice")

func (c *Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Listen == "":
		return bad("Listen address is required")
	case c.Keyring == nil:
		return bad("Keyring is required")
	case c.Base <= 0:
		return bad("Base %v must be positive", c.Base)
	case c.Suspicion <= 0:
		return bad("Suspicion %v must be positive", c.Suspicion)
	case c.HeartbeatInterval < 0:
		return bad("HeartbeatInterval %v is negative", c.HeartbeatInterval)
	case c.Retention < 0:
		return bad("Retention %v is negative", c.Retention)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.Base / 5
	}
	if c.HeartbeatInterval >= c.Base {
		return bad("HeartbeatInterval %v must be shorter than Base %v", c.HeartbeatInterval, c.Base)
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.Policy == (extension.Policy{}) {
		c.Policy = extension.DefaultPolicy()
		c.Policy.Base = c.Base
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Manager is the naive baseline manager. New opens its socket; Run serves
// it until its context ends.
type Manager struct {
	// Immutable after New.
	cfg   Config
	conn  *net.UDPConn
	addr  netip.AddrPort
	epoch time.Time
	seq   *wire.Sequence

	running atomic.Bool
	stats   counters

	mu sync.Mutex // guards all following fields, and every worker's fields
	// workers holds every worker record by ID.
	workers map[string]*worker
	// slots maps a ticket's slot to the ID of the worker holding it.
	slots []slot
	// free lists the slots of forgotten workers, for reuse.
	free []uint32
	// closed is set when Run returns: timers that fire later do nothing.
	closed bool
	// events is the one-event batch handed to OnEvents.
	events [1]detector.Event
}

// slot is one entry of Manager.slots.
type slot struct {
	id   string // "" when free
	gen  uint16 // bumped each time the slot gets a new owner
	used bool
}

// counters are the statistics, all atomic so that Stats takes no lock.
type counters struct {
	packetsIn, packetsOut, sendErrors atomic.Uint64
	bad, heartbeats, evicted          atomic.Uint64
	alive, suspect, workers           atomic.Int64
}

// Stats is a snapshot of the counters.
type Stats struct {
	PacketsIn  uint64 // datagrams read
	PacketsOut uint64 // datagrams handed to the socket (failed writes also in SendErrors)
	SendErrors uint64 // replies the socket refused
	// Bad counts dropped packets: malformed, failed authentication, replayed,
	// or of a type a manager never receives.
	Bad uint64
	// Heartbeats counts authenticated heartbeats handled, whatever their
	// outcome.
	Heartbeats uint64
	Alive      int    // workers alive now
	Suspect    int    // workers suspect now
	Evicted    uint64 // evictions since New
	Workers    int    // records held, dead and left ones included
}

// New validates cfg and opens the socket.
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ua, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("naive: listen address %q: %w", cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("naive: listen: %w", err)
	}
	// The kernel caps these at its maxima and reports no error for that.
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("naive: receive buffer: %w", err)
	}
	if err := conn.SetWriteBuffer(socketBuffer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("naive: send buffer: %w", err)
	}
	return newManager(cfg, conn), nil
}

// newManager builds a Manager on an open socket (nil in benchmarks that
// drive the handling path without one).
func newManager(cfg Config, conn *net.UDPConn) *Manager {
	m := &Manager{
		cfg:     cfg,
		conn:    conn,
		epoch:   time.Now(),
		seq:     wire.NewSequence(uint64(time.Now().UnixNano())),
		workers: make(map[string]*worker),
	}
	if conn != nil {
		m.addr = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return m
}

// Addr is the address the manager serves.
func (m *Manager) Addr() netip.AddrPort { return m.addr }

// now is the manager's clock: time since New.
func (m *Manager) now() time.Duration { return time.Since(m.epoch) }

// Run serves until ctx ends, then closes the socket, stops every timer and
// returns nil; or returns the read error that stopped it. Call it once.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	stop := context.AfterFunc(ctx, func() { m.conn.Close() })
	defer stop()
	err := m.serve()
	m.conn.Close()
	m.shutdown()
	if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// serve is the one reader goroutine: one packet per read, each reply one
// write.
func (m *Manager) serve() error {
	buf := make([]byte, 2048)
	out := make([]byte, wire.MaxMessageSize)
	codec := wire.NewCodec(m.cfg.Keyring)
	var in wire.Message
	var replies [2]wire.Message
	for {
		n, from, err := m.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		k := m.handle(codec, &in, &replies, buf[:n])
		for i := range replies[:k] {
			m.send(codec, out, &replies[i], from)
		}
	}
}

// send encodes one reply and writes it.
func (m *Manager) send(codec *wire.Codec, out []byte, msg *wire.Message, to netip.AddrPort) {
	msg.Seq = m.seq.Next()
	n, err := codec.Encode(out, msg)
	if err != nil {
		// Every reply is built from valid fields; count it rather than panic.
		m.stats.sendErrors.Add(1)
		return
	}
	// Counted before the write, so that a peer that has the reply also
	// finds it counted; a failed write is counted in sendErrors too.
	m.stats.packetsOut.Add(1)
	if _, err := m.conn.WriteToUDPAddrPort(out[:n], to); err != nil {
		m.stats.sendErrors.Add(1)
	}
}

// shutdown stops every timer; timers already firing see closed and return.
func (m *Manager) shutdown() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, w := range m.workers {
		w.timer.Stop()
	}
}

// Stats returns a snapshot; safe for concurrent use, OnEvents included.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		PacketsIn:  c.packetsIn.Load(),
		PacketsOut: c.packetsOut.Load(),
		SendErrors: c.sendErrors.Load(),
		Bad:        c.bad.Load(),
		Heartbeats: c.heartbeats.Load(),
		Alive:      int(c.alive.Load()),
		Suspect:    int(c.suspect.Load()),
		Evicted:    c.evicted.Load(),
		Workers:    int(c.workers.Load()),
	}
}
