package manager

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// Config is what an embedder sets. Detector starts from
// detector.DefaultConfig(); its OnEvents and OnSend are the manager's own.
type Config struct {
	// Listen is the UDP address to serve, e.g. "0.0.0.0:7946" or
	// "127.0.0.1:0". Ignored when Conns is set.
	Listen string
	// Transport sizes the sockets. The manager's defaults differ from the
	// transport's: one socket for every two cores (at least one), each with
	// the receive buffer of the sockets it stands for (8 MiB), reads of 512
	// datagrams, 256-byte buffers, which every valid message fits.
	Transport transport.Config
	// Conns, when set, are used instead of listening: an in-memory network
	// for deterministic tests, or sockets the embedder opened. The manager
	// closes them when Run returns.
	Conns []transport.PacketConn

	Detector detector.Config
	Keyring  *wire.Keyring

	// HeartbeatInterval is what Welcome tells agents; default Base/5.
	HeartbeatInterval time.Duration

	// ReadLinger is how long a reader waits after a read that did not fill
	// its batch (the socket's queue is empty), so that the kernel gathers
	// the next packets into
	// one batch: fewer syscalls and wakeups per packet, for at most this much
	// added latency, which deadlines of seconds do not notice. Measured with
	// loadgen's default fleet: 1ms and 64-packet reads cut the manager's CPU
	// per heartbeat by about 40%; 2ms and 256-packet reads by another
	// quarter; at 200,000 workers, 5ms and 1024-packet reads took it from
	// 1709 to 1463 ns and the context switches from 8,650 to 4,900 a second.
	// The defaults are 5ms and 512 (Transport.Batch): a busy socket takes
	// about 500 packets in 5ms, and 512 measured the same CPU as 1024 with
	// 5 bytes a worker less RSS at 200,000 workers. The loop is not woken
	// for each batch the readers forward: it comes for them at least every
	// ReadLinger or Detector.Tick, whichever is longer (see Run). Negative:
	// never wait, and wake the loop for every batch.
	ReadLinger time.Duration

	// JoinFreshness bounds how far the sequence number of a join from a
	// worker the manager does not know (never seen, or forgotten after
	// Detector.Retention) may be from the manager's wall clock: the number,
	// read as the sender's wall clock in Unix nanoseconds (agents raise their
	// wire.Sequence to it before each join), must be within JoinFreshness of
	// the manager's, before or after, or the join is dropped and counted in
	// Stats.StaleJoins. A known worker's join is checked against its replay
	// window instead. A recorded join replayed after its worker was forgotten
	// is then always refused: it was recorded while the worker lived, at
	// least Retention ago, with a number at most JoinFreshness ahead, and
	// Retention > 2 x JoinFreshness. (A manager that restarts forgets every
	// worker at once: joins recorded in the last JoinFreshness before the
	// restart can be replayed once, each making a record that is evicted a
	// base deadline plus a suspicion window later.) Default Retention/4; it
	// must be below Retention/2. Negative: off (every join of an unknown
	// worker is accepted, at any sequence number). Workers whose clocks are
	// off from the manager's by more than JoinFreshness cannot join.
	JoinFreshness time.Duration

	// MetricsAddr, when set, serves /metrics (Prometheus text) and
	// /debug/vars (expvar) over HTTP on that address.
	MetricsAddr string
	Logger      *slog.Logger

	// OnEvents receives the detector's events in batches, on the manager's
	// loop goroutine; it must not block for long and must not keep the slice.
	OnEvents func([]detector.Event)
}

// managerBufSize is the manager's default receive buffer per datagram: the
// largest valid message rounded up to a power of two.
const managerBufSize = 256

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("manager: invalid config")

func (c *Config) validate() error {
	switch {
	case c.Keyring == nil:
		return fmt.Errorf("%w: Keyring is required (authentication is not optional)", ErrConfig)
	case len(c.Conns) == 0 && c.Listen == "":
		return fmt.Errorf("%w: Listen address or Conns is required", ErrConfig)
	case c.HeartbeatInterval < 0:
		return fmt.Errorf("%w: HeartbeatInterval %v is negative", ErrConfig, c.HeartbeatInterval)
	}
	if c.ReadLinger == 0 {
		c.ReadLinger = 5 * time.Millisecond
	}
	if c.Transport.Sockets == 0 {
		// Half the transport's own default (one a core): a reader takes a
		// socket's packets in batches gathered over ReadLinger, so fewer
		// sockets mean larger batches and fewer wake-ups, and one reader
		// keeps up with hundreds of thousands of packets a second (the
		// kernel's share, about 1µs a packet, is most of its work). The
		// other cores are left to the loop and the embedder. Measured at
		// 200,000 workers on 2 cores, three alternating pairs of 30 s
		// loadgen runs: one socket 120-138 ns user a heartbeat, two
		// 143-156; system time about the same (800-910 and 824-940 ns).
		c.Transport.Sockets = max(1, runtime.GOMAXPROCS(0)/2)
		if c.Transport.ReadBuffer == 0 {
			// And as much kernel buffer in all as one socket a core had
			// (4 MiB each): the queue must hold what arrives while the
			// process is held up, about 8,000 heartbeats for 8 MiB.
			c.Transport.ReadBuffer = 4 << 20 * runtime.GOMAXPROCS(0) / c.Transport.Sockets
		}
	}
	if c.Transport.Batch == 0 {
		// Larger than the transport's own default: with the linger, one
		// recvmmsg then takes a few milliseconds of a busy socket's packets.
		c.Transport.Batch = 512
	}
	if c.Transport.BufSize == 0 {
		// Every valid message fits (wire.MaxMessageSize); a longer datagram
		// is dropped and counted as truncated. Smaller than the transport's
		// own default (2048), so that 512-packet reads take 128 KiB of
		// buffers a socket, not 1 MiB.
		c.Transport.BufSize = managerBufSize
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = c.Detector.Base / 5
	}
	if c.HeartbeatInterval >= c.Detector.Base {
		return fmt.Errorf("%w: HeartbeatInterval %v must be shorter than the base deadline %v", ErrConfig, c.HeartbeatInterval, c.Detector.Base)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := c.Detector.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.JoinFreshness == 0 {
		c.JoinFreshness = c.Detector.Retention / 4
	}
	if 2*c.JoinFreshness >= c.Detector.Retention {
		return fmt.Errorf("%w: JoinFreshness %v must be below half the detector's Retention %v, or a join recorded before its worker was forgotten could still pass", ErrConfig, c.JoinFreshness, c.Detector.Retention)
	}
	return nil
}

// Manager runs a detector on the network. Run is the goroutine wrapper;
// Receive and Advance are the deterministic core it drives, usable directly
// by a caller that owns the clock (tests, simulations).
type Manager struct {
	// Immutable after New.
	cfg   Config
	det   *detector.Detector
	conns []transport.PacketConn
	group *transport.Group // nil when Conns were given
	epoch time.Time
	log   *slog.Logger
	// wallNow is the wall clock in Unix nanoseconds, for the freshness of
	// joins (time.Now; a test may set its own).
	wallNow func() int64

	// Safe for concurrent use.
	peers peers
	stats counters
	seq   *wire.Sequence
	inbox chan *batch   // readers -> loop
	kick  chan struct{} // readers -> loop: come now (see handOff)
	free  chan *batch   // loop -> readers, recycled

	// Loop goroutine only (or the caller of Receive/Advance).
	out  outbox
	loop reader // the loop's own decode state, for Receive
}

// New validates cfg and opens the sockets (unless cfg.Conns is set).
func New(cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		cfg:     cfg,
		epoch:   time.Now(),
		wallNow: func() int64 { return time.Now().UnixNano() },
		log:     cfg.Logger,
		seq:     wire.NewSequence(uint64(time.Now().UnixNano())),
		inbox:   make(chan *batch, 64),
		kick:    make(chan struct{}, 1),
		free:    make(chan *batch, 64),
	}
	dcfg := cfg.Detector
	dcfg.OnEvents = m.onEvents
	dcfg.OnSend = m.onSend
	det, err := detector.New(dcfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	m.det = det
	m.peers = newPeers(dcfg.MaxWorkers)
	if len(cfg.Conns) > 0 {
		m.conns = cfg.Conns
	} else {
		g, err := transport.Listen(cfg.Listen, cfg.Transport)
		if err != nil {
			return nil, err
		}
		m.group = g
		m.conns = g.Conns()
	}
	m.out.init(m.conns[0], cfg.Keyring, &m.stats)
	m.loop.init(cfg.Keyring)
	return m, nil
}

// Addr is the address the manager serves.
func (m *Manager) Addr() netip.AddrPort { return m.conns[0].LocalAddr() }

// freshJoin reports whether a join from an unknown worker, with sequence
// number seq, is within Config.JoinFreshness of the manager's wall clock.
func (m *Manager) freshJoin(seq uint64) bool {
	if m.cfg.JoinFreshness < 0 {
		return true
	}
	if seq > math.MaxInt64 {
		return false
	}
	d := int64(seq) - m.wallNow()
	return -int64(m.cfg.JoinFreshness) <= d && d <= int64(m.cfg.JoinFreshness)
}

// Now is the manager's monotonic clock: time since New, as the detector's
// time.
func (m *Manager) Now() wheel.Time { return wheel.Time(time.Since(m.epoch)) }

// Next is when Advance should next be called; ok is false when nothing is
// armed.
func (m *Manager) Next() (wheel.Time, bool) { return m.det.NextDeadline() }

// Receive handles a batch of received packets at now on the calling
// goroutine: the fast heartbeat path, then everything else, then the
// replies are sent. Not safe for concurrent use with Run or Advance.
func (m *Manager) Receive(now wheel.Time, pkts []transport.Message) {
	rd := &m.loop
	m.ingest(rd, now, pkts)
	if rd.cur != nil {
		m.process(now, rd.cur.items)
		rd.cur.items = rd.cur.items[:0]
	}
	m.publish()
	m.out.flush()
}

// Advance fires every deadline due at or before now and sends what that
// produces. Not safe for concurrent use with Run or Receive.
func (m *Manager) Advance(now wheel.Time) {
	m.det.Advance(now)
	m.publish()
	m.out.flush()
}

// Status answers a status query. Safe only on the loop goroutine, or when
// the caller drives Receive/Advance itself.
func (m *Manager) Status(id string) detector.WorkerStatus { return m.det.Status(id) }

// counters are the manager's statistics, all atomic.
type counters struct {
	packetsIn      atomic.Uint64
	packetsOut     atomic.Uint64
	sendErrors     atomic.Uint64
	bad            [wire.NumFaults]atomic.Uint64
	unexpected     atomic.Uint64
	staleJoins     atomic.Uint64
	heartbeatsFast atomic.Uint64
	heartbeatsSlow atomic.Uint64
	forwarded      atomic.Uint64
	events         [numEventKinds]atomic.Uint64
	tickLagLast    atomic.Int64
	tickLagMax     atomic.Int64
	lhm            atomic.Int64
	brake          atomic.Int64
	alive          atomic.Int64
	suspect        atomic.Int64
}

const numEventKinds = int(detector.EventLHM) + 1

// Stats is a snapshot of the counters.
type Stats struct {
	// PacketsOut counts packets handed to the sockets; those a socket then
	// refused are counted in SendErrors too.
	PacketsIn, PacketsOut, SendErrors uint64
	// Bad counts dropped packets by fault; Bad[wire.FaultReplay] counts
	// replays, Bad[wire.FaultTag] and Bad[wire.FaultKeyID] authentication
	// failures.
	Bad            [wire.NumFaults]uint64
	Unexpected     uint64 // well-formed packets of a type a manager never receives
	StaleJoins     uint64 // joins of unknown workers outside JoinFreshness of the manager's clock
	HeartbeatsFast uint64 // applied lock-free on a reader goroutine
	HeartbeatsSlow uint64 // handed to the loop (cycle reset, probe, refutation, notice)
	Forwarded      uint64 // packets handed from readers to the loop
	Events         [numEventKinds]uint64
	TickLag        time.Duration // how late after the wheel's deadline the last Advance of Run ran
	TickLagMax     time.Duration
	LHM            int
	Brake          detector.BrakeState
	Alive, Suspect int
	Workers        int // records, including dead and left ones kept for retention
	Transport      transport.Stats
}

// AuthFailures is the number of packets whose key or tag did not verify.
func (s Stats) AuthFailures() uint64 { return s.Bad[wire.FaultTag] + s.Bad[wire.FaultKeyID] }

// Replays is the number of packets dropped by the replay windows.
func (s Stats) Replays() uint64 { return s.Bad[wire.FaultReplay] }

// BadPackets is the number of packets dropped for any fault.
func (s Stats) BadPackets() uint64 {
	var n uint64
	for _, v := range s.Bad {
		n += v
	}
	return n
}

// Stats returns a snapshot; safe for concurrent use.
func (m *Manager) Stats() Stats {
	c := &m.stats
	s := Stats{
		PacketsIn:      c.packetsIn.Load(),
		PacketsOut:     c.packetsOut.Load(),
		SendErrors:     c.sendErrors.Load(),
		Unexpected:     c.unexpected.Load(),
		StaleJoins:     c.staleJoins.Load(),
		HeartbeatsFast: c.heartbeatsFast.Load(),
		HeartbeatsSlow: c.heartbeatsSlow.Load(),
		Forwarded:      c.forwarded.Load(),
		TickLag:        time.Duration(c.tickLagLast.Load()),
		TickLagMax:     time.Duration(c.tickLagMax.Load()),
		LHM:            int(c.lhm.Load()),
		Brake:          detector.BrakeState(c.brake.Load()),
		Alive:          int(c.alive.Load()),
		Suspect:        int(c.suspect.Load()),
		Workers:        m.det.Workers(),
	}
	for i := range c.bad {
		s.Bad[i] = c.bad[i].Load()
	}
	for i := range c.events {
		s.Events[i] = c.events[i].Load()
	}
	if m.group != nil {
		s.Transport = m.group.Stats()
	}
	return s
}

// publish copies the loop-owned gauges into the counters.
func (m *Manager) publish() {
	m.stats.lhm.Store(int64(m.det.LHM()))
	m.stats.brake.Store(int64(m.det.Brake()))
	m.stats.alive.Store(int64(m.det.Alive()))
	m.stats.suspect.Store(int64(m.det.Suspect()))
}
