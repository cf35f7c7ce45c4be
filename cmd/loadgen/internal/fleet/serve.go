package fleet

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/wire"
)

// ServeCommand is the hidden subcommand that runs the manager in a child
// process: `loadgen serve-manager FLAGS`.
const ServeCommand = "serve-manager"

// KeyEnv carries the hex key from the parent to the child (the environment,
// not the command line, which other users can read), and the key of a
// manager driven with -target.
const KeyEnv = "SWIMWHEEL_KEY"

// KeyID is the key ID the fleet signs with.
const KeyID = 1

// ManagerStats is the part of a manager's statistics the report uses, the
// same for every implementation, plus the serving process's own resources.
type ManagerStats struct {
	Heartbeats  uint64 // heartbeats processed (applied, on any path)
	PacketsIn   uint64
	PacketsOut  uint64
	Bad         uint64 // packets dropped as malformed, forged or replayed
	Replays     uint64
	KernelDrops uint64 // datagrams the kernel dropped at full receive queues
	Alive       int
	Suspect     int
	Workers     int // records, dead and left kept for retention included
	LHM         int
	Brake       string
	TickLagMax  time.Duration

	UserCPU time.Duration // the serving process, all threads
	SysCPU  time.Duration
	RSS     int64 // bytes resident now
	PeakRSS int64 // bytes resident at most
}

// serveFlags are the child's arguments.
type serveFlags struct {
	addr      string
	impl      string
	base      time.Duration
	suspicion time.Duration
	heartbeat time.Duration
	probing   bool
	workers   int
}

// Serve is the child process: it runs a manager on 127.0.0.1, prints its
// address as "A host:port", streams events as "E ..." lines (appendEvent)
// and the totals of those it only counts as "C ..." lines (appendCount), and
// answers each "s" line on stdin with an "S {json}" line of
// ManagerStats. It returns when stdin closes, so it never outlives its
// parent. The key comes from the environment (KeyEnv).
func Serve(args []string, stdin io.Reader, stdout io.Writer, stderr io.Writer) int {
	var sf serveFlags
	fs := flag.NewFlagSet(ServeCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sf.addr, "addr", "127.0.0.1:0", "UDP address")
	fs.StringVar(&sf.impl, "impl", "real", "real or naive")
	fs.DurationVar(&sf.base, "base", 5*time.Second, "base deadline")
	fs.DurationVar(&sf.suspicion, "suspicion", 3*time.Second, "suspicion window")
	fs.DurationVar(&sf.heartbeat, "heartbeat", time.Second, "heartbeat interval told to workers")
	fs.BoolVar(&sf.probing, "probing", true, "SWIM probing")
	fs.IntVar(&sf.workers, "workers", 100000, "fleet size")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ring, err := keyringFromEnv()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", ServeCommand, err)
		return 2
	}
	out := newEventWriter(stdout)
	srv, err := startServer(sf, ring, out.events)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", ServeCommand, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.run(ctx) }()
	out.line("A " + srv.addr() + "\n")
	out.flush()
	// Events carry the time they happened, not the time they are written:
	// the flush period delays the report, not the latencies it shows.
	go out.flushEvery(ctx, 100*time.Millisecond)

	lines := bufio.NewScanner(stdin)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) != "s" {
			continue
		}
		st := srv.stats()
		addProcess(&st)
		b, _ := json.Marshal(st)
		out.line("S " + string(b) + "\n")
		out.flush()
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", ServeCommand, err)
		return 1
	}
	out.flush()
	return 0
}

// server is one manager implementation behind the child's protocol.
type server struct {
	addr  func() string
	run   func(context.Context) error
	stats func() ManagerStats
}

func startServer(sf serveFlags, ring *wire.Keyring, onEvents func([]detector.Event)) (*server, error) {
	switch sf.impl {
	case "real":
		dc := detector.DefaultConfig()
		dc.Base = sf.base
		dc.Suspicion = sf.suspicion
		dc.SuspicionMin = min(dc.SuspicionMin, sf.suspicion)
		dc.Probing = sf.probing
		dc.Seed = 1
		dc.MaxWorkers = max(dc.MaxWorkers, 2*sf.workers)
		m, err := manager.New(manager.Config{
			Listen:            sf.addr,
			Detector:          dc,
			Keyring:           ring,
			HeartbeatInterval: sf.heartbeat,
			OnEvents:          onEvents,
		})
		if err != nil {
			return nil, err
		}
		return &server{
			addr: func() string { return m.Addr().String() },
			run:  m.Run,
			stats: func() ManagerStats {
				s := m.Stats()
				return ManagerStats{
					Heartbeats: s.HeartbeatsFast + s.HeartbeatsSlow,
					PacketsIn:  s.PacketsIn, PacketsOut: s.PacketsOut,
					Bad: s.BadPackets(), Replays: s.Replays(),
					KernelDrops: s.Transport.Dropped,
					Alive:       s.Alive, Suspect: s.Suspect, Workers: s.Workers,
					LHM: s.LHM, Brake: s.Brake.String(), TickLagMax: s.TickLagMax,
				}
			},
		}, nil
	case "naive":
		return startNaive(sf, ring, onEvents)
	}
	return nil, fmt.Errorf("-impl %q: want real or naive", sf.impl)
}

// addProcess fills in the serving process's CPU and memory.
func addProcess(st *ManagerStats) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		st.UserCPU = time.Duration(ru.Utime.Nano())
		st.SysCPU = time.Duration(ru.Stime.Nano())
	}
	st.RSS, st.PeakRSS = readRSS("/proc/self/status")
}

// readRSS reads VmRSS and VmHWM (bytes) from a /proc status file.
func readRSS(path string) (rss, peak int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return rss, peak
}

func keyringFromEnv() (*wire.Keyring, error) {
	h := os.Getenv(KeyEnv)
	if h == "" {
		return nil, fmt.Errorf("%s is not set (hex key of 16, 24 or 32 bytes)", KeyEnv)
	}
	key, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", KeyEnv, err)
	}
	return wire.NewKeyring(KeyID, key)
}

// eventWriter formats events into a pending buffer (cheap, on the
// manager's loop) and writes the buffer out every 100 ms. Events the report
// only counts (EventExtended, thousands a second) are not formatted one by
// one: flush writes their running total as one "C kind total" line, so that
// the event stream costs the measured process little.
type eventWriter struct {
	w       io.Writer
	wmu     sync.Mutex // serialises writes to w
	mu      sync.Mutex // guards pending, extended
	pending []byte
	spare   []byte
	// extended counts EventExtended; written is the total last written.
	extended, written uint64
}

func newEventWriter(w io.Writer) *eventWriter { return &eventWriter{w: w} }

func (ew *eventWriter) events(evs []detector.Event) {
	var at int64 // read only if an event is formatted
	ew.mu.Lock()
	for i := range evs {
		switch evs[i].Kind {
		case detector.EventJoined:
			// Not streamed: the stats count them.
		case detector.EventExtended:
			ew.extended++
		default:
			if at == 0 {
				at = time.Now().UnixNano()
			}
			ew.pending = appendEvent(ew.pending, &evs[i], at)
		}
	}
	ew.mu.Unlock()
}

// line queues s after the events so far: a stats line ("S ...") follows
// the total of every extension granted before it.
func (ew *eventWriter) line(s string) {
	ew.mu.Lock()
	ew.appendTotals()
	ew.pending = append(ew.pending, s...)
	ew.mu.Unlock()
}

// appendTotals queues the running totals that changed. ew.mu is held.
func (ew *eventWriter) appendTotals() {
	if ew.extended != ew.written {
		ew.pending = appendCount(ew.pending, detector.EventExtended, ew.extended)
		ew.written = ew.extended
	}
}

func (ew *eventWriter) flush() {
	ew.wmu.Lock()
	defer ew.wmu.Unlock()
	ew.mu.Lock()
	ew.appendTotals()
	buf := ew.pending
	ew.pending = ew.spare[:0]
	ew.mu.Unlock()
	if len(buf) > 0 {
		ew.w.Write(buf)
	}
	ew.mu.Lock()
	ew.spare = buf[:0]
	ew.mu.Unlock()
}

func (ew *eventWriter) flushEvery(ctx context.Context, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ew.flush()
		}
	}
}

// Event is one manager event as the fleet sees it.
type Event struct {
	Kind   detector.EventKind
	Worker int   // fleet index; -1 for brake and lhm
	At     int64 // wall clock, unix nanoseconds, when the manager reported it
	Reason string
	Inc    uint64
	Value  int // brake: state; lhm: score
	// Count, when not 0, makes this a tally, not one event: Count more
	// events of Kind happened (the child streams EventExtended as running
	// totals); the other fields are zero.
	Count uint64
}

// appendEvent writes "E kind worker at reason inc value\n".
func appendEvent(b []byte, ev *detector.Event, at int64) []byte {
	worker := ev.Worker
	if worker == "" {
		worker = "-"
	}
	reason := "-"
	value := 0
	switch ev.Kind {
	case detector.EventSuspected, detector.EventEvicted:
		if s := ev.Cause.String(); s != "" {
			reason = s
		}
	case detector.EventDenied:
		reason = ev.Denial.String()
	case detector.EventBrake:
		value = int(ev.Brake)
		reason = ev.Brake.String()
	case detector.EventLHM:
		value = ev.LHM
	}
	b = append(b, "E "...)
	b = strconv.AppendUint(b, uint64(ev.Kind), 10)
	b = append(b, ' ')
	b = append(b, worker...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, at, 10)
	b = append(b, ' ')
	b = append(b, reason...)
	b = append(b, ' ')
	b = strconv.AppendUint(b, ev.Inc, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(value), 10)
	return append(b, '\n')
}

// appendCount writes "C kind total\n": total events of kind so far.
func appendCount(b []byte, kind detector.EventKind, total uint64) []byte {
	b = append(b, "C "...)
	b = strconv.AppendUint(b, uint64(kind), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, total, 10)
	return append(b, '\n')
}

// parseCount reads a line written by appendCount (without "C ").
func parseCount(line string) (detector.EventKind, uint64, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return 0, 0, errEventLine
	}
	kind, err1 := strconv.ParseUint(f[0], 10, 8)
	total, err2 := strconv.ParseUint(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("%w: %q: %v", errEventLine, line, err)
	}
	return detector.EventKind(kind), total, nil
}

var errEventLine = errors.New("fleet: malformed event line")

// parseEvent reads a line written by appendEvent (without "E ").
func parseEvent(line string) (Event, error) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return Event{}, errEventLine
	}
	kind, err1 := strconv.ParseUint(f[0], 10, 8)
	at, err2 := strconv.ParseInt(f[2], 10, 64)
	inc, err3 := strconv.ParseUint(f[4], 10, 64)
	val, err4 := strconv.Atoi(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Event{}, fmt.Errorf("%w: %v", errEventLine, err)
	}
	ev := Event{Kind: detector.EventKind(kind), Worker: -1, At: at, Inc: inc, Value: val}
	if f[3] != "-" {
		ev.Reason = f[3]
	}
	if f[1] != "-" {
		ev.Worker = workerIndex(f[1])
	}
	return ev, nil
}

// workerID names fleet worker i; workerIndex reverses it (-1: not ours).
func workerID(i int) string { return "w" + strconv.Itoa(i) }

func workerIndex(id string) int {
	if len(id) < 2 || id[0] != 'w' {
		return -1
	}
	n, err := strconv.Atoi(id[1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}
