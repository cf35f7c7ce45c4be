package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// probeTimeout is the detector's default, which the child keeps.
const probeTimeout = 500 * time.Millisecond

// Options are where a run writes while it runs.
type Options struct {
	// Live receives one line a second; nil: none.
	Live io.Writer
	// Terminal redraws the live line in place instead of writing lines.
	Terminal bool
}

// Fleet is one run: the simulated workers, their sockets and the manager
// they drive.
type Fleet struct {
	// Immutable after setup.
	cfg          Config
	plan         Plan
	ring         *wire.Keyring
	mgr          netip.AddrPort
	workers      []worker // each guarded by its socket's lock
	socks        []*sock
	roles        [numRoles]int
	start        time.Time
	probeTimeout time.Duration

	joined atomic.Int64 // workers that were welcomed at least once
	// t0 is the fleet time at which every worker had joined, plus one
	// (0: not yet). Stored once by Run; read by every socket goroutine.
	t0 atomic.Int64

	ev events // the manager's events, as the child streams them
}

// now is fleet time: since the fleet started.
func (f *Fleet) now() time.Duration { return time.Since(f.start) }

// planTime is the time since every worker joined; measuring is false
// before that, when no fault is active yet.
func (f *Fleet) planTime(now time.Duration) (time.Duration, bool) {
	t0 := f.t0.Load()
	if t0 == 0 {
		return 0, false
	}
	return now - time.Duration(t0-1), true
}

// silent reports whether w neither sends nor receives at plan time pt:
// crashed, paused or cut off by the partition.
func (f *Fleet) silent(w *worker, pt time.Duration, measuring bool) bool {
	if !measuring {
		return false
	}
	p := &f.plan
	switch w.role {
	case roleCrash:
		return pt >= p.CrashAt
	case rolePause:
		return pt >= p.PauseAt && pt < p.PauseAt+p.PauseFor
	case rolePartition:
		return pt >= p.PartitionAt && pt < p.PartitionAt+p.PartitionFor
	}
	return false
}

// busy reports whether w runs a long (or stuck) job at plan time pt.
func (f *Fleet) busy(w *worker, pt time.Duration, measuring bool) bool {
	return measuring && (w.role == roleLong || w.role == roleStuck) && pt >= f.plan.LongFrom
}

// manager is what the run needs of the manager it drives.
type managerConn interface {
	Stats() (ManagerStats, error)
	Close() error
}

// remote is a manager running elsewhere (-target): nothing to ask.
type remote struct{}

func (remote) Stats() (ManagerStats, error) { return ManagerStats{}, nil }
func (remote) Close() error                 { return nil }

// Run runs the fleet against a manager and returns the report.
func Run(ctx context.Context, cfg Config, opt Options) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Fleet{cfg: cfg, plan: cfg.plan(), probeTimeout: probeTimeout}
	f.ev.init(&f.cfg, &f.plan)
	f.workers = make([]worker, cfg.Workers)
	for i := range f.workers {
		f.workers[i].inc = uint64(i) << 32
	}
	f.roles = assignRoles(f.workers, &cfg)
	f.ev.roles = make([]role, len(f.workers))
	for i := range f.workers {
		f.ev.roles[i] = f.workers[i].role
	}

	var mgr managerConn
	var keyHex string
	if cfg.Target.IsValid() {
		ring, err := keyringFromEnv()
		if err != nil {
			return nil, &FlagError{Flag: "target", Msg: err.Error()}
		}
		f.ring, f.mgr, mgr = ring, cfg.Target, remote{}
	} else {
		key := make([]byte, 32)
		rand.Read(key)
		keyHex = hex.EncodeToString(key)
		ring, err := wire.NewKeyring(KeyID, key)
		if err != nil {
			return nil, err
		}
		f.ring = ring
		c, err := startChild(&f.cfg, keyHex, f.ev.add)
		if err != nil {
			return nil, err
		}
		f.mgr, mgr = c.addr, c
	}
	defer mgr.Close()

	seq := wire.NewSequence(uint64(time.Now().UnixNano()))
	f.socks = make([]*sock, cfg.Sockets)
	for i := range f.socks {
		conn, err := transport.ListenConn("127.0.0.1:0", transport.Config{Batch: outMax, ReadBuffer: 4 << 20, WriteBuffer: 4 << 20})
		if err != nil {
			for _, s := range f.socks[:i] {
				s.conn.Close()
			}
			return nil, err
		}
		f.socks[i] = &sock{conn: conn}
	}
	for i := range f.socks {
		f.socks[i] = newSock(f, i, f.socks[i].conn, seq)
	}
	r := newRecorder(f, mgr, opt)
	f.start = time.Now()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for _, s := range f.socks {
		wg.Add(2)
		go func() { defer wg.Done(); s.sender(sctx) }()
		go func() { defer wg.Done(); s.reader() }()
	}
	defer func() {
		stop()
		for _, s := range f.socks {
			s.conn.Close()
		}
		wg.Wait()
	}()

	// Joins, then the measured run.
	joinLimit := time.Duration(cfg.Workers/cfg.JoinRate)*time.Second*3 + 15*time.Second
	if err := r.waitJoined(ctx, joinLimit); err != nil {
		return nil, err
	}
	if err := r.measure(ctx); err != nil {
		return nil, err
	}
	// Stop sending, let replies land, then take the last figures.
	for _, s := range f.socks {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	return r.finish()
}

// snapshot sums the sockets' counters.
func (f *Fleet) snapshot() counts {
	var c counts
	for _, s := range f.socks {
		s.mu.Lock()
		c.add(&s.c)
		s.mu.Unlock()
	}
	return c
}

// selfCPU is this process's CPU time, all threads.
func selfCPU() (user, sys time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// events collects the manager's events: detection latencies and what the
// report counts. add runs on the child's reader goroutine.
type events struct {
	cfg   *Config
	plan  *Plan
	roles []role // per worker; immutable after setup

	mu          sync.Mutex // guards all following fields
	t0Wall      int64      // unix ns when the measured run began (0: not yet)
	suspected   []bool     // per worker: suspected since its failure
	evicted     []bool
	suspectLat  *hdrhistogram.Histogram // crash -> suspected, µs
	evictLat    *hdrhistogram.Histogram // crash -> evicted, µs
	stuckLat    *hdrhistogram.Histogram // stuck -> evicted, µs
	byKind      [detector.EventLHM + 1]uint64
	evictedBy   [numRoles]uint64
	falseIDs    []string
	falseCount  uint64
	denials     map[string]uint64
	brakes      []BrakeEvent
	lhmMax      int
	lhmEvents   uint64
	suspectLate uint64 // suspected healthy workers (refuted later, or false)
}

func (e *events) init(cfg *Config, plan *Plan) {
	e.cfg, e.plan = cfg, plan
	e.suspected = make([]bool, cfg.Workers)
	e.evicted = make([]bool, cfg.Workers)
	e.suspectLat = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	e.evictLat = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	e.stuckLat = hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	e.denials = make(map[string]uint64)
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.Count > 0 {
		if int(ev.Kind) < len(e.byKind) {
			e.byKind[ev.Kind] += ev.Count
		}
		return
	}
	if int(ev.Kind) < len(e.byKind) {
		e.byKind[ev.Kind]++
	}
	switch ev.Kind {
	case detector.EventBrake:
		e.brakes = append(e.brakes, BrakeEvent{At: e.since(ev.At), State: ev.Reason})
		return
	case detector.EventLHM:
		e.lhmEvents++
		e.lhmMax = max(e.lhmMax, ev.Value)
		return
	case detector.EventDenied:
		e.denials[ev.Reason]++
		return
	}
	i := ev.Worker
	if i < 0 || i >= len(e.suspected) {
		return
	}
	r := e.roles[i]
	failedAt, failed := e.failedAt(r)
	failed = failed && ev.At >= failedAt
	switch ev.Kind {
	case detector.EventSuspected:
		if !failed {
			e.suspectLate++
			return
		}
		if r == roleCrash && !e.suspected[i] {
			e.suspected[i] = true
			e.suspectLat.RecordValue(max(1, (ev.At-failedAt)/1000))
		}
	case detector.EventEvicted:
		if !failed {
			e.falseCount++
			if len(e.falseIDs) < 10 {
				e.falseIDs = append(e.falseIDs, fmt.Sprintf("%s (%s)", workerID(i), r))
			}
			return
		}
		e.evictedBy[r]++
		if e.evicted[i] {
			return
		}
		e.evicted[i] = true
		switch r {
		case roleCrash:
			e.evictLat.RecordValue(max(1, (ev.At-failedAt)/1000))
		case roleStuck:
			e.stuckLat.RecordValue(max(1, (ev.At-failedAt)/1000))
		}
	}
}

// failedAt is when workers of role r fail (wall clock), and whether they
// do at all. Paused and long-job workers never fail.
func (e *events) failedAt(r role) (int64, bool) {
	if e.t0Wall == 0 {
		return 0, false
	}
	switch r {
	case roleCrash:
		return e.t0Wall + int64(e.plan.CrashAt), true
	case roleStuck:
		return e.t0Wall + int64(e.plan.LongFrom), true
	case rolePartition:
		return e.t0Wall + int64(e.plan.PartitionAt), true
	}
	return 0, false
}

// since is seconds from the start of the measured run to unix ns at.
func (e *events) since(at int64) float64 {
	if e.t0Wall == 0 {
		return 0
	}
	return float64(at-e.t0Wall) / 1e9
}

func (e *events) setStart(t time.Time) {
	e.mu.Lock()
	e.t0Wall = t.UnixNano()
	e.mu.Unlock()
}

func (e *events) evictedTotal() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.byKind[detector.EventEvicted]
}
