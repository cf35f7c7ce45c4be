package agent

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport"
)

// Agent is a worker's side of swimwheel: a Core, its Env, and the I/O that
// Run drives (a reader goroutine and one loop with one timer). Its methods
// are safe for concurrent use.
//
// Handle, Tick, Next and Outbox drive the core by hand with a caller's
// clock, for deterministic tests: use them instead of Run, never beside it.
type Agent struct {
	// Immutable after New.
	cfg     Config
	epoch   time.Time     // Run's clock: now is the time since epoch
	kick    chan struct{} // capacity 1: the core's timers changed
	closing chan struct{} // closed by Close
	stopped chan struct{} // closed when Run returns
	extSem  chan struct{} // capacity 1: one extension request at a time

	mu      sync.Mutex // guards all following fields
	core    *Core
	env     *Env
	conn    transport.PacketConn // nil until Run opens one, unless configured
	running bool                 // Run is serving
	ran     bool                 // Run was called
	closed  bool
	last    time.Duration // the latest time given to Handle or Tick
	extID   uint32        // the request RequestExtension waits for
	extWait chan struct{} // closed when extID's decision arrived
}

// New validates cfg and returns an agent that has not joined yet: Run (or
// the first Tick) sends its join.
func New(cfg Config) (*Agent, error) {
	if cfg.Keyring == nil {
		return nil, configErr("Keyring is nil")
	}
	core, err := NewCore(cfg)
	if err != nil {
		return nil, err
	}
	cfg, _ = cfg.withDefaults()
	env, err := NewEnv(cfg.Keyring, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Agent{
		cfg:     cfg,
		epoch:   time.Now(),
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		extSem:  make(chan struct{}, 1),
		core:    core,
		env:     env,
		conn:    cfg.Conn,
	}, nil
}

// nowLocked is the core's current time: the wall clock since New while Run
// serves, else the latest time given to Handle or Tick.
func (a *Agent) nowLocked() time.Duration {
	if a.running {
		return time.Since(a.epoch)
	}
	return a.last
}

func (a *Agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// afterLocked follows every call into the core: it sends the outbox when
// Run serves, and wakes a RequestExtension whose answer arrived.
func (a *Agent) afterLocked() {
	if a.running {
		if out := a.env.Drain(); len(out) > 0 {
			// Datagrams are best effort: a refused one is as good as lost,
			// which the protocol tolerates.
			_, _ = a.conn.WriteBatch(out)
		}
	}
	if a.extWait != nil {
		if _, ok := a.core.Decision(a.extID); ok {
			close(a.extWait)
			a.extWait = nil
		}
	}
}

// Run joins the manager and serves until ctx ends (it then returns
// ctx.Err(), without a leave: a stop, not a departure) or Close is called
// (it returns nil). It may be called once; the conn is closed when it
// returns.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.closed:
		a.mu.Unlock()
		return ErrClosed
	case a.ran:
		a.mu.Unlock()
		return ErrRunning
	}
	a.ran = true
	if a.conn == nil {
		bind := "0.0.0.0:0"
		if a.cfg.Manager.Addr().Is6() {
			bind = "[::]:0"
		}
		c, err := transport.ListenConn(bind, transport.Config{})
		if err != nil {
			a.mu.Unlock()
			close(a.stopped)
			return err
		}
		a.conn = c
	}
	conn := a.conn
	a.running = true
	a.mu.Unlock()

	readErr := make(chan error, 1)
	go a.read(conn, readErr)
	timer := time.NewTimer(time.Hour)
	defer func() {
		timer.Stop()
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
		_ = conn.Close()
		<-readErr
		close(a.stopped)
	}()
	for {
		a.mu.Lock()
		now := a.nowLocked()
		a.core.Tick(a.env, now)
		a.afterLocked()
		next, ok := a.core.Next()
		a.mu.Unlock()
		if ok {
			timer.Reset(max(next-now, 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.closing:
			return nil
		case err := <-readErr:
			readErr <- err // for the deferred wait
			return err
		case <-timer.C:
		case <-a.kick:
		}
	}
}

// read hands every received batch to the core, then wakes the loop to
// re-arm its timer.
func (a *Agent) read(conn transport.PacketConn, done chan<- error) {
	ms := make([]transport.Message, 32)
	for {
		n, err := conn.ReadBatch(ms)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
			done <- err
			return
		}
		a.mu.Lock()
		now := a.nowLocked()
		for i := range ms[:n] {
			a.core.Handle(a.env, now, ms[i])
		}
		a.afterLocked()
		a.mu.Unlock()
		a.poke()
	}
}

// RequestExtension asks the manager for more time for a long job, with the
// job's progress, and returns its decision. It sends the request again
// every Config.ExtensionRetry until the answer arrives or ctx ends (with
// ctx.Err()). Calls are served one at a time. The estimated completion
// travels as 0 (unknown); Core.Extend takes one. See the package doc for how
// retries are judged.
func (a *Agent) RequestExtension(ctx context.Context, req extension.Progress, reason string) (Decision, error) {
	select {
	case a.extSem <- struct{}{}:
	case <-ctx.Done():
		return Decision{}, ctx.Err()
	case <-a.closing:
		return Decision{}, ErrClosed
	}
	defer func() { <-a.extSem }()

	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return Decision{}, ErrClosed
	}
	id, err := a.core.Extend(a.env, a.nowLocked(), req, reason, 0)
	if err != nil {
		a.mu.Unlock()
		return Decision{}, err
	}
	wait := make(chan struct{})
	a.extID, a.extWait = id, wait
	a.afterLocked()
	a.mu.Unlock()
	a.poke()

	select {
	case <-wait:
		a.mu.Lock()
		d, _ := a.core.Decision(id)
		a.mu.Unlock()
		return d, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-a.closing:
		err = ErrClosed
	}
	a.mu.Lock()
	a.core.CancelExtension(id)
	if a.extWait == wait {
		a.extWait = nil
	}
	a.mu.Unlock()
	return Decision{}, err
}

// SetBusy enters or leaves busy mode: while busy the agent sends no
// heartbeats, answers no pings and refutes no suspicion, so that only
// extension requests with progress keep it alive. Leaving busy mode sends a
// heartbeat at once.
func (a *Agent) SetBusy(busy bool) {
	a.mu.Lock()
	a.core.SetBusy(a.env, a.nowLocked(), busy)
	a.afterLocked()
	a.mu.Unlock()
	a.poke()
}

// State returns a snapshot of the agent.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.core.State()
	s.Dropped = a.env.Stats()
	return s
}

// Close sends a leave (twice, for loss) and stops Run, waiting for it to
// return. Without Run, the leave is written to Config.Conn if one was
// given (which is then closed), else left in the Outbox.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.closed = true
	a.core.Leave(a.env, a.nowLocked())
	a.afterLocked()
	close(a.closing)
	if a.running {
		a.mu.Unlock()
		<-a.stopped
		return nil
	}
	defer a.mu.Unlock()
	if a.ran || a.conn == nil {
		return nil // Run closed its conn, or there is none
	}
	if out := a.env.Drain(); len(out) > 0 {
		_, _ = a.conn.WriteBatch(out)
	}
	return a.conn.Close()
}

// Handle gives received packets to the core at time now (deterministic
// driving; see Agent).
func (a *Agent) Handle(now time.Duration, pkts []transport.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = max(a.last, now)
	for i := range pkts {
		a.core.Handle(a.env, now, pkts[i])
	}
	a.afterLocked()
}

// Tick runs the core's timers due at now (deterministic driving).
func (a *Agent) Tick(now time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = max(a.last, now)
	a.core.Tick(a.env, now)
	a.afterLocked()
}

// Next returns the time of the core's next timer (deterministic driving).
func (a *Agent) Next() (time.Duration, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.core.Next()
}

// Outbox returns the packets to send and empties it (deterministic
// driving; Run sends them itself). They stay valid until the next call into
// the agent.
func (a *Agent) Outbox() []transport.Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.env.Drain()
}
