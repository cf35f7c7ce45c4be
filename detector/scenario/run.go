package scenario

import (
	"bufio"
	"container/heap"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/swimwheel/swimwheel/detector"

	"github.com/swimwheel/swimwheel/wheel"
)

// Run replays the script read from r and writes one JSON object a line to w.
// A malformed line stops the run with a *LineError; what earlier lines
// produced has been written.
func Run(r io.Reader, w io.Writer) error {
	e := &engine{out: bufio.NewWriterSize(w, 64<<10)}
	err := e.run(r)
	if ferr := e.out.Flush(); err == nil {
		err = ferr
	}
	return err
}

// simWorker is the simulated worker behind an ID: it behaves as the agent
// library does (answers pings and ping-reqs after one rtt, refutes a
// suspicion it learns of by bumping its incarnation) unless crashed.
type simWorker struct {
	id      string
	inc     uint64
	crashed bool
	ticket  wheel.Ticket
	joined  bool
}

// delivery is a simulated packet on its way to the detector.
type delivery struct {
	at       wheel.Time
	seq      uint64
	kind     deliveryKind
	ticket   wheel.Ticket
	inc      uint64
	probeSeq uint32
}

type deliveryKind uint8

const (
	deliverAck deliveryKind = iota
	deliverIndirectAck
	deliverNack
	deliverHeartbeat
)

type deliveries []delivery

func (q deliveries) Len() int { return len(q) }
func (q deliveries) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q deliveries) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deliveries) Push(x any)   { *q = append(*q, x.(delivery)) }
func (q *deliveries) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

type engine struct {
	out     *bufio.Writer
	line    []byte // the line being written
	isEvent bool   // line is an event
	holding bool   // a command is running: hold its events until its reply
	held    []byte

	cfg     simConfig
	det     *detector.Detector
	rng     *rand.Rand // packet loss, separate from the detector's source
	now     wheel.Time
	workers map[string]*simWorker
	bySlot  map[uint32]*simWorker
	pending deliveries
	seq     uint64
}

func (e *engine) run(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	var last time.Duration
	for sc.Scan() {
		n++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		c, err := parseLine(fields)
		if err == nil && c.verb == verbConfig {
			if e.det != nil {
				err = bad("config must come first, at most once")
			} else {
				e.cfg, err = parseConfig(fields[1:])
				if err == nil {
					err = e.start()
				}
			}
		}
		if err == nil && c.verb != verbConfig {
			if c.at < last {
				err = bad("time %v is before the previous line's %v", c.at, last)
			}
		}
		if err != nil {
			return &LineError{Line: n, Err: err}
		}
		if c.verb == verbConfig {
			continue
		}
		last = c.at
		if e.det == nil {
			e.cfg = defaultSimConfig()
			if err := e.start(); err != nil {
				return &LineError{Line: n, Err: err}
			}
		}
		e.advanceTo(wheel.Time(c.at))
		e.apply(c)
	}
	if err := sc.Err(); err != nil {
		return &LineError{Line: n + 1, Err: bad("%v", err)}
	}
	return nil
}

func (e *engine) start() error {
	cfg := e.cfg.det
	cfg.OnEvents = e.onEvents
	cfg.OnSend = e.onSend
	d, err := detector.New(cfg)
	if err != nil {
		return bad("%v", err)
	}
	e.det = d
	e.rng = rand.New(rand.NewPCG(cfg.Seed^0x5851f42d4c957f2d, cfg.Seed))
	e.workers = make(map[string]*simWorker)
	e.bySlot = make(map[uint32]*simWorker)
	return nil
}

// advanceTo runs virtual time up to t the way a manager's single timer
// would: to each next deadline in turn, delivering simulated packets in
// between. At equal times, deadlines go first.
func (e *engine) advanceTo(t wheel.Time) {
	tick := wheel.Time(e.cfg.det.Tick)
	for {
		next, ok := e.det.NextDeadline()
		if ok && next <= e.now {
			// The wheel has already been advanced to e.now, so nothing
			// can be due there; a lower bound at or before it is stale.
			next = e.now + tick
		}
		ok = ok && next <= t
		pOK := len(e.pending) > 0 && e.pending[0].at <= t
		switch {
		case ok && (!pOK || next <= e.pending[0].at):
			e.now = next
			e.det.Advance(next)
		case pOK:
			p := heap.Pop(&e.pending).(delivery)
			if p.at > e.now {
				e.now = p.at
				e.det.Advance(e.now)
			}
			e.deliver(p)
		default:
			if t > e.now {
				e.now = t
				e.det.Advance(t)
			}
			return
		}
	}
}
