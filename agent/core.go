package agent

import (
	"context"
	"log/slog"
	"math"
	"net/netip"
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// MaxRelays bounds the ping-reqs a helper relays at once; the oldest
// pending relay gives way to a new one.
const MaxRelays = 64

// phase is where a core stands with its manager.
type phase uint8

const (
	phaseJoining phase = iota // sending joins until a welcome accepts one
	phaseJoined               // holding a ticket
	phaseEvicted              // evicted while busy: the re-join waits for SetBusy(false)
	phaseLeft                 // Leave sent: inert
)

// Decision is the manager's answer to an extension request.
type Decision struct {
	Granted bool
	Grant   time.Duration // the time granted (0 when denied)
	// DeadlineIn is the time from the response's arrival to the new deadline
	// (the current one when denied). The manager measures it from sending,
	// so it reads late by at most the one-way delay.
	DeadlineIn time.Duration
	Remaining  int         // grants left in this cycle
	Warning    bool        // the first grant of the cycle to leave few grants
	Denial     wire.Denial // DenialNone when granted
}

// relay is a ping-req under way: the helper pinged target and waits.
type relay struct {
	target   wire.Ticket
	probeSeq uint32
	deadline time.Duration
}

// pendingExt is the extension request in flight.
type pendingExt struct {
	id       uint32
	progress extension.Progress
	reason   []byte
	etaMS    uint32
	retryAt  time.Duration
	done     bool
	decision Decision
}

// Core is one worker's side of the protocol: a deterministic state machine
// with no goroutine, socket or clock read. Packets and the current time go
// in (Handle, Tick, SetBusy, Extend, Leave), packets to send come out in the
// Env's outbox, and Next says when Tick is due. It is not safe for
// concurrent use; Agent wraps one with a mutex and the I/O.
//
// A core takes about 250 bytes; the codec, scratch messages and outbox
// belong to the Env, which many cores share.
type Core struct {
	// Set by NewCore, never changed.
	id           []byte
	manager      netip.AddrPort
	hbFixed      time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	relayTimeout time.Duration
	extRetry     time.Duration
	seq          *wire.Sequence
	wallNow      func() int64      // the wall clock in Unix ns when the numbers follow it (FirstSeq 0), else nil
	window       wire.ReplayWindow // the manager's sequence numbers

	rng         uint64 // splitmix64 state
	phase       phase
	busy        bool
	ticket      wire.Ticket
	inc         uint64
	joinAt      time.Duration // phaseJoining: next join
	backoff     time.Duration // phaseJoining: the wait after the next join
	hbEvery     time.Duration
	hbAt        time.Duration // phaseJoined and not busy: next heartbeat
	evictions   uint64
	refutations uint64
	nextReqID   uint32
	relays      []relay
	ext         *pendingExt
}

// NewCore returns a core that joins at its first Tick. It reads ID,
// Manager, Incarnation, HeartbeatInterval, JoinBackoffMin/Max,
// RelayTimeout, ExtensionRetry, Seed and FirstSeq; the Keyring, Conn and
// Logger belong to the Env and the Agent.
func NewCore(cfg Config) (*Core, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	first := cfg.FirstSeq
	var wallNow func() int64
	if first == 0 {
		wallNow = func() int64 { return time.Now().UnixNano() }
		first = uint64(wallNow())
	}
	c := &Core{
		id:           []byte(cfg.ID),
		manager:      cfg.Manager,
		hbFixed:      cfg.HeartbeatInterval,
		backoffMin:   cfg.JoinBackoffMin,
		backoffMax:   cfg.JoinBackoffMax,
		relayTimeout: cfg.RelayTimeout,
		extRetry:     cfg.ExtensionRetry,
		seq:          wire.NewSequence(first),
		wallNow:      wallNow,
		rng:          uint64(cfg.Seed),
		inc:          cfg.Incarnation,
		backoff:      cfg.JoinBackoffMin,
	}
	c.nextReqID = uint32(c.rand())
	return c, nil
}

// rand is splitmix64: eight bytes of state, good enough for jitter.
func (c *Core) rand() uint64 {
	c.rng += 0x9e3779b97f4a7c15
	z := c.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// jitter returns a duration drawn uniformly from [d/2, d].
func (c *Core) jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return d - half + time.Duration(c.rand()%uint64(half+1))
}

// State is a snapshot of an agent.
type State struct {
	Joined      bool
	Ticket      wire.Ticket // the zero ticket unless Joined
	Incarnation uint64
	Busy        bool
	Evictions   uint64 // dead notices received
	Refutations uint64 // suspicions refuted (suspect pings and notices answered)
	// Dropped counts the packets not acted on; an Agent fills it from its
	// Env (a Core's State leaves it zero: see Env.Stats).
	Dropped Stats
}

// State returns the core's state.
func (c *Core) State() State {
	s := State{Incarnation: c.inc, Busy: c.busy, Evictions: c.evictions, Refutations: c.refutations}
	if c.phase == phaseJoined {
		s.Joined, s.Ticket = true, c.ticket
	}
	return s
}

// Next returns the time of the core's earliest timer: the next join, the
// next heartbeat, a relay's timeout or the retry of an extension request.
// It reports false when no timer is armed.
func (c *Core) Next() (time.Duration, bool) {
	var next time.Duration
	ok := false
	arm := func(t time.Duration) {
		if !ok || t < next {
			next, ok = t, true
		}
	}
	switch c.phase {
	case phaseLeft:
		return 0, false
	case phaseJoining:
		arm(c.joinAt)
	case phaseJoined:
		if !c.busy {
			arm(c.hbAt)
		}
	}
	for i := range c.relays {
		arm(c.relays[i].deadline)
	}
	if e := c.ext; e != nil && !e.done {
		arm(e.retryAt)
	}
	return next, ok
}

// Tick runs the timers due at now.
func (c *Core) Tick(env *Env, now time.Duration) {
	switch c.phase {
	case phaseLeft:
		return
	case phaseJoining:
		if now >= c.joinAt {
			c.sendJoin(env, now)
		}
	case phaseJoined:
		if !c.busy && now >= c.hbAt {
			c.sendHeartbeat(env, now)
		}
	}
	for i := 0; i < len(c.relays); {
		r := c.relays[i]
		if r.deadline > now {
			i++
			continue
		}
		env.msg = wire.Message{Type: wire.TypeNack, Ticket: r.target, ProbeSeq: r.probeSeq}
		env.send(c.manager, c.seq.Next())
		c.dropRelay(i)
	}
	if e := c.ext; e != nil && !e.done && now >= e.retryAt {
		c.sendExtension(env, now)
	}
}

// Handle processes one received packet.
func (c *Core) Handle(env *Env, now time.Duration, pkt transport.Message) {
	m := &env.in
	if err := env.codec.Decode(pkt.Data, m); err != nil {
		env.reject(wire.FaultOf(err))
		return
	}
	if c.phase == phaseLeft {
		env.stats.Ignored++
		return
	}
	from := netip.AddrPortFrom(pkt.Addr.Addr().Unmap(), pkt.Addr.Port())
	fromManager := from == c.manager
	switch m.Type {
	case wire.TypeWelcome, wire.TypeNotice, wire.TypePingReq, wire.TypeExtensionResponse:
		if !fromManager {
			env.stats.Ignored++
			return
		}
		fallthrough
	case wire.TypePing:
		// A ping from a helper carries the helper's sequence numbers, which
		// this window does not track: it is protected by its ticket and
		// probe sequence number instead.
		if fromManager && !c.window.Check(m.Seq) {
			env.reject(wire.FaultReplay)
			return
		}
	}
	switch m.Type {
	case wire.TypeWelcome:
		c.onWelcome(env, now, m)
	case wire.TypeNotice:
		c.onNotice(env, now, m)
	case wire.TypePing:
		c.onPing(env, from, m)
	case wire.TypePingReq:
		c.onPingReq(env, now, m)
	case wire.TypeAck:
		c.onAck(env, m)
	case wire.TypeExtensionResponse:
		c.onExtensionResponse(env, m)
	default:
		env.stats.Ignored++
	}
}

func (c *Core) onWelcome(env *Env, now time.Duration, m *wire.Message) {
	switch m.Status {
	case wire.JoinAccepted:
		if c.phase != phaseJoining && c.phase != phaseJoined {
			env.stats.Ignored++
			return
		}
		first := c.phase == phaseJoining
		c.phase, c.ticket = phaseJoined, m.Ticket
		c.inc = max(c.inc, m.Incarnation)
		c.backoff = c.backoffMin
		c.hbEvery = c.interval(m)
		if first {
			// The join made the worker alive; the first heartbeat falls at a
			// random point of the interval, so that workers started together
			// do not beat together.
			c.hbAt = now + c.jitter(c.hbEvery)
			c.logf(env, "joined")
			if e := c.ext; e != nil && !e.done {
				c.sendExtension(env, now)
			}
		}
	case wire.JoinStaleIncarnation:
		if c.phase != phaseJoining || m.Incarnation == math.MaxUint64 {
			env.stats.Ignored++
			return
		}
		c.inc = max(c.inc, m.Incarnation+1)
		c.sendJoin(env, now)
	case wire.JoinFull:
		// The backoff timer retries.
	}
}

// interval is the heartbeat interval: the configured one, else the
// manager's, else a quarter of its base deadline, else the default.
func (c *Core) interval(m *wire.Message) time.Duration {
	switch {
	case c.hbFixed > 0:
		return c.hbFixed
	case m.HeartbeatIntervalMS > 0:
		return time.Duration(m.HeartbeatIntervalMS) * time.Millisecond
	case m.BaseMS > 0:
		return max(time.Duration(m.BaseMS)*time.Millisecond/4, time.Millisecond)
	}
	return DefaultHeartbeatInterval
}

func (c *Core) onNotice(env *Env, now time.Duration, m *wire.Message) {
	if c.phase != phaseJoined || m.Ticket != c.ticket || m.Incarnation == math.MaxUint64 {
		env.stats.Ignored++
		return
	}
	switch m.State {
	case wire.NoticeSuspect:
		if c.busy {
			return // a busy worker does not refute: see the package doc
		}
		if c.inc <= m.Incarnation {
			c.inc = m.Incarnation + 1
		}
		c.refutations++
		c.logf(env, "refuted")
		c.sendHeartbeat(env, now)
	case wire.NoticeDead:
		c.evictions++
		c.inc = max(c.inc, m.Incarnation) + 1
		c.logf(env, "evicted")
		if e := c.ext; e != nil && !e.done {
			e.done, e.decision = true, Decision{Denial: wire.DenialNotAlive}
		}
		if c.busy {
			c.phase, c.ticket = phaseEvicted, wire.Ticket{}
			return
		}
		c.rejoin(env, now)
	case wire.NoticeLeft, wire.NoticeUnknown:
		c.rejoin(env, now)
	}
}

func (c *Core) onPing(env *Env, from netip.AddrPort, m *wire.Message) {
	if c.phase != phaseJoined || m.Ticket != c.ticket {
		env.stats.Ignored++
		return
	}
	if c.busy {
		return // silence: only progress keeps a busy worker alive
	}
	if m.Suspect && c.inc < math.MaxUint64 {
		// A ping carries no incarnation: the manager suspects us at one it
		// learnt from us, at most ours, so ours+1 refutes.
		c.inc++
		c.refutations++
		c.logf(env, "refuted")
	}
	env.msg = wire.Message{Type: wire.TypeAck, Ticket: c.ticket, Incarnation: c.inc, ProbeSeq: m.ProbeSeq}
	env.send(from, c.seq.Next())
}

func (c *Core) onPingReq(env *Env, now time.Duration, m *wire.Message) {
	i := c.findRelay(m.Ticket, m.ProbeSeq)
	switch {
	case i >= 0:
		c.relays[i].deadline = now + c.relayTimeout
	case len(c.relays) < MaxRelays:
		c.relays = append(c.relays, relay{target: m.Ticket, probeSeq: m.ProbeSeq, deadline: now + c.relayTimeout})
	default:
		oldest := 0
		for j := range c.relays {
			if c.relays[j].deadline < c.relays[oldest].deadline {
				oldest = j
			}
		}
		c.relays[oldest] = relay{target: m.Ticket, probeSeq: m.ProbeSeq, deadline: now + c.relayTimeout}
	}
	env.msg = wire.Message{Type: wire.TypePing, Ticket: m.Ticket, ProbeSeq: m.ProbeSeq, Suspect: m.Suspect}
	env.send(m.Addr, c.seq.Next())
}

func (c *Core) onAck(env *Env, m *wire.Message) {
	i := c.findRelay(m.Ticket, m.ProbeSeq)
	if i < 0 {
		env.stats.Ignored++
		return
	}
	c.dropRelay(i)
	env.msg = wire.Message{Type: wire.TypeIndirectAck, Ticket: m.Ticket, Incarnation: m.Incarnation, ProbeSeq: m.ProbeSeq}
	env.send(c.manager, c.seq.Next())
}

func (c *Core) onExtensionResponse(env *Env, m *wire.Message) {
	e := c.ext
	if e == nil || e.done || m.RequestID != e.id || c.phase != phaseJoined || m.Ticket != c.ticket {
		env.stats.Ignored++
		return
	}
	e.done = true
	e.decision = Decision{
		Granted:    m.Granted,
		Grant:      time.Duration(m.GrantMS) * time.Millisecond,
		DeadlineIn: time.Duration(m.DeadlineInMS) * time.Millisecond,
		Remaining:  int(m.Remaining),
		Warning:    m.Warning,
		Denial:     m.Denial,
	}
}

func (c *Core) findRelay(target wire.Ticket, probeSeq uint32) int {
	for i := range c.relays {
		if c.relays[i].target == target && c.relays[i].probeSeq == probeSeq {
			return i
		}
	}
	return -1
}

func (c *Core) dropRelay(i int) {
	last := len(c.relays) - 1
	c.relays[i] = c.relays[last]
	c.relays = c.relays[:last]
}

func (c *Core) rejoin(env *Env, now time.Duration) {
	c.phase, c.ticket = phaseJoining, wire.Ticket{}
	c.backoff = c.backoffMin
	c.sendJoin(env, now)
}

// sendJoin sends a join and arms the next one after the backoff, which
// doubles up to its maximum.
//
// With numbers that follow the wall clock, a join first raises them to it
// (read now, so that it follows the host's clock through corrections and
// suspends): they advance by one a packet, far slower than the clock, and a
// manager that does not know this worker (any more) accepts its join only
// with a number close to its own clock (manager.Config.JoinFreshness).
func (c *Core) sendJoin(env *Env, now time.Duration) {
	if c.wallNow != nil {
		c.seq.AtLeast(uint64(c.wallNow()))
	}
	env.msg = wire.Message{Type: wire.TypeJoin, WorkerID: c.id, Incarnation: c.inc}
	env.send(c.manager, c.seq.Next())
	c.joinAt = now + c.jitter(c.backoff)
	c.backoff = min(2*c.backoff, c.backoffMax)
}

func (c *Core) sendHeartbeat(env *Env, now time.Duration) {
	env.msg = wire.Message{Type: wire.TypeHeartbeat, Ticket: c.ticket, Incarnation: c.inc}
	env.send(c.manager, c.seq.Next())
	c.hbAt = now + c.hbEvery
}

// sendExtension sends the pending request if the core holds a ticket, and
// arms its retry either way: one not joined yet is sent at the welcome.
func (c *Core) sendExtension(env *Env, now time.Duration) {
	e := c.ext
	e.retryAt = now + c.extRetry
	if c.phase != phaseJoined {
		return
	}
	p := &e.progress
	env.msg = wire.Message{
		Type: wire.TypeExtensionRequest, Ticket: c.ticket, Incarnation: c.inc, RequestID: e.id,
		HasCount: p.HasCount, Completed: p.Completed, Total: p.Total,
		HasFraction: p.HasFraction, Fraction: p.Fraction,
		Reason: e.reason, EstimatedCompletionMS: e.etaMS,
	}
	env.send(c.manager, c.seq.Next())
}

// SetBusy enters or leaves busy mode (see the package doc). Leaving it
// sends a heartbeat at once, or the join held back by an eviction.
func (c *Core) SetBusy(env *Env, now time.Duration, busy bool) {
	if c.busy == busy {
		return
	}
	c.busy = busy
	if busy {
		return
	}
	switch c.phase {
	case phaseJoined:
		c.sendHeartbeat(env, now)
	case phaseEvicted:
		c.rejoin(env, now)
	}
}

// Extend starts an extension request and returns its request ID; it
// replaces a request still pending. The request is sent at once if the core
// holds a ticket (else at its welcome) and again every ExtensionRetry until
// Decision reports its answer or CancelExtension ends it. A core evicted
// while busy answers at once: denied, not alive. eta is the estimated time
// to completion (0: unknown).
func (c *Core) Extend(env *Env, now time.Duration, p extension.Progress, reason string, eta time.Duration) (uint32, error) {
	if len(reason) > wire.MaxReasonLen {
		return 0, ErrReasonLen
	}
	if c.phase == phaseLeft {
		return 0, ErrClosed
	}
	c.nextReqID++
	if c.nextReqID == 0 {
		c.nextReqID++
	}
	etaMS := uint32(math.MaxUint32)
	if ms := eta.Milliseconds(); ms < math.MaxUint32 {
		etaMS = uint32(max(ms, 0))
	}
	c.ext = &pendingExt{id: c.nextReqID, progress: p, reason: []byte(reason), etaMS: etaMS}
	if c.phase == phaseEvicted {
		c.ext.done, c.ext.decision = true, Decision{Denial: wire.DenialNotAlive}
		return c.ext.id, nil
	}
	c.sendExtension(env, now)
	return c.ext.id, nil
}

// Decision returns the answer to request id once it has arrived.
func (c *Core) Decision(id uint32) (Decision, bool) {
	if e := c.ext; e != nil && e.id == id && e.done {
		return e.decision, true
	}
	return Decision{}, false
}

// CancelExtension stops retrying request id.
func (c *Core) CancelExtension(id uint32) {
	if c.ext != nil && c.ext.id == id {
		c.ext = nil
	}
}

// Leave sends a leave twice (for loss; no reply is expected) if the core
// holds a ticket, and makes it inert.
func (c *Core) Leave(env *Env, now time.Duration) {
	if c.phase == phaseJoined {
		for range 2 {
			env.msg = wire.Message{Type: wire.TypeLeave, Ticket: c.ticket, Incarnation: c.inc}
			env.send(c.manager, c.seq.Next())
		}
	}
	c.phase, c.ticket = phaseLeft, wire.Ticket{}
	c.relays = nil
	c.ext = nil
}

// logf logs a transition. Its arguments are fixed, so that a call with no
// logger allocates nothing.
func (c *Core) logf(env *Env, what string) {
	if env.log == nil {
		return
	}
	env.log.LogAttrs(context.Background(), slog.LevelInfo, "agent: "+what,
		slog.String("worker", string(c.id)),
		slog.Uint64("incarnation", c.inc),
		slog.Uint64("slot", uint64(c.ticket.Slot)),
		slog.Bool("busy", c.busy))
}
