package fleet

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

const (
	tickEvery = 10 * time.Millisecond
	outMax    = 256 // messages per sendmmsg batch
	joinRetry = time.Second
)

var (
	reasonLong  = []byte("long-job")
	reasonStuck = []byte("stuck")
)

// counts are a socket's counters, under its lock.
type counts struct {
	heartbeats   uint64 // sent to the manager (check-ins and refutations included)
	lostOut      uint64 // dropped by -loss before sending
	lostIn       uint64 // received and dropped by -loss
	cut          uint64 // heartbeats withheld by the partition
	joins        uint64
	rejoins      uint64
	extRequests  [numRoles]uint64
	extGranted   [numRoles]uint64
	extDenied    [numRoles]uint64
	denials      [wire.DenialNoProgress + 1]uint64
	acks         uint64
	refutations  uint64
	relays       uint64
	indirectAcks uint64
	nacks        uint64
	toldDead     [numRoles]uint64 // notices or denials saying "evicted"
	received     uint64
	bad          uint64
	sendErrors   uint64
}

func (c *counts) add(o *counts) {
	c.heartbeats += o.heartbeats
	c.lostOut += o.lostOut
	c.lostIn += o.lostIn
	c.cut += o.cut
	c.joins += o.joins
	c.rejoins += o.rejoins
	for i := range c.extRequests {
		c.extRequests[i] += o.extRequests[i]
		c.extGranted[i] += o.extGranted[i]
		c.extDenied[i] += o.extDenied[i]
		c.toldDead[i] += o.toldDead[i]
	}
	for i := range c.denials {
		c.denials[i] += o.denials[i]
	}
	c.acks += o.acks
	c.refutations += o.refutations
	c.relays += o.relays
	c.indirectAcks += o.indirectAcks
	c.nacks += o.nacks
	c.received += o.received
	c.bad += o.bad
	c.sendErrors += o.sendErrors
}

type relayKey struct {
	target   wire.Ticket
	probeSeq uint32
}

// sock is one UDP socket and the workers multiplexed over it: a sender
// goroutine paced by a 10 ms ticker and a reader goroutine. Both hold mu
// while they touch workers and while they encode and send, so that each
// socket's packets leave in sequence-number order (the manager's replay
// window per worker tolerates only 64 numbers of reordering, and one
// socket's counter moves by thousands between two packets of a worker).
// relay is a ping-req under way. Several helpers of one socket may be asked
// for the same probe round; each owes the manager its own answer, or the
// manager counts the missing nacks against its own health.
type relay struct {
	nackAt  time.Duration
	helpers int
}

type sock struct {
	// Immutable after start.
	f       *Fleet
	id      int
	conn    *transport.Conn
	members []int32 // the socket's workers, in heartbeat-phase order
	pausers []int32
	busy    []int32 // long and stuck workers

	// Reader goroutine only.
	rcodec *wire.Codec
	rmsg   wire.Message
	rrng   *rand.Rand

	mu         sync.Mutex // guards all following fields and the members' workers
	codec      *wire.Codec
	msg        wire.Message
	bufs       [][wire.MaxMessageSize]byte
	out        []transport.Message
	srng       *rand.Rand
	seq        *wire.Sequence
	tickets    map[wire.Ticket]int32
	relays     map[relayKey]relay
	rejoin     []int32
	hbDone     uint64 // heartbeat slots visited
	joinNext   int    // first pass of joins: next member
	joinsFirst uint64 // joins of the first pass sent
	unjoined   int
	retryAt    time.Duration
	lastTick   time.Duration
	stopped    bool // the run is over: send nothing more
	c          counts
}

func newSock(f *Fleet, id int, conn *transport.Conn, seq *wire.Sequence) *sock {
	s := &sock{
		f: f, id: id, conn: conn,
		rcodec:  wire.NewCodec(f.ring),
		rrng:    rand.New(rand.NewPCG(f.cfg.Seed, uint64(2*id+1))),
		codec:   wire.NewCodec(f.ring),
		bufs:    make([][wire.MaxMessageSize]byte, outMax),
		out:     make([]transport.Message, 0, outMax),
		srng:    rand.New(rand.NewPCG(f.cfg.Seed, uint64(2*id+2))),
		seq:     seq,
		tickets: make(map[wire.Ticket]int32),
		relays:  make(map[relayKey]relay),
	}
	for i := id; i < len(f.workers); i += len(f.socks) {
		s.members = append(s.members, int32(i))
		switch f.workers[i].role {
		case rolePause:
			s.pausers = append(s.pausers, int32(i))
		case roleLong, roleStuck:
			s.busy = append(s.busy, int32(i))
		}
	}
	s.unjoined = len(s.members)
	return s
}

// lossy draws whether one packet is lost (-loss).
func lossy(r *rand.Rand, p float64) bool { return p > 0 && r.Float64() < p }

// start begins a message of type t about ticket tk. Under mu.
func (s *sock) start(t wire.Type, tk wire.Ticket) *wire.Message {
	s.msg = wire.Message{Type: t, Ticket: tk}
	return &s.msg
}

// send encodes the started message and queues it for to. Under mu. It
// reports false when -loss dropped it.
func (s *sock) send(to netip.AddrPort) bool {
	if lossy(s.srng, s.f.cfg.Loss) {
		s.c.lostOut++
		return false
	}
	if len(s.out) == outMax {
		s.flush()
	}
	s.msg.Seq = s.seq.Next()
	i := len(s.out)
	n, err := s.codec.Encode(s.bufs[i][:], &s.msg)
	if err != nil {
		s.c.sendErrors++
		return false
	}
	s.out = append(s.out, transport.Message{Addr: to, Data: s.bufs[i][:n], N: n})
	return true
}

// flush writes what is queued. Under mu.
func (s *sock) flush() {
	if len(s.out) == 0 {
		return
	}
	n, _ := s.conn.WriteBatch(s.out)
	s.c.sendErrors += uint64(len(s.out) - n)
	s.out = s.out[:0]
}

func (s *sock) heartbeat(w *worker) {
	m := s.start(wire.TypeHeartbeat, w.ticket)
	m.Incarnation = w.inc
	if s.send(s.f.mgr) {
		s.c.heartbeats++
	}
}

func (s *sock) join(i int32, now time.Duration) {
	w := &s.f.workers[i]
	var id [16]byte
	m := s.start(wire.TypeJoin, wire.Ticket{})
	m.WorkerID = append(id[:0], workerID(int(i))...)
	m.Incarnation = w.inc
	w.joinAt = now
	s.c.joins++
	// The fleet's numbers follow the wall clock, one a packet; a join raises
	// them to it, as an agent does, since the manager holds joins of workers
	// it does not know to a freshness bound.
	s.seq.AtLeast(uint64(time.Now().UnixNano()))
	s.send(s.f.mgr)
}

// sender runs the socket's schedule every tick until ctx ends.
func (s *sock) sender(ctx context.Context) {
	// Stagger the sockets over the tick, so that their bursts do not
	// reach the manager at once.
	select {
	case <-ctx.Done():
		return
	case <-time.After(tickEvery * time.Duration(s.id) / time.Duration(len(s.f.socks))):
	}
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		if !s.stopped {
			s.tick(s.f.now())
			s.flush()
		}
		s.mu.Unlock()
	}
}

// tick sends what is due at fleet time now. Under mu.
func (s *sock) tick(now time.Duration) {
	f := s.f
	pt, measuring := f.planTime(now)
	last := s.lastTick
	s.lastTick = pt

	// Joins: the first pass paced at JoinRate, then retries of workers
	// whose welcome never came (or that were told to join again).
	if s.joinNext < len(s.members) {
		budget := uint64(now) * uint64(f.cfg.JoinRate) / uint64(len(f.socks)) / uint64(time.Second)
		for s.joinNext < len(s.members) && s.joinsFirst < budget+1 {
			s.join(s.members[s.joinNext], now)
			s.joinNext++
			s.joinsFirst++
		}
	}
	if s.unjoined > 0 && now >= s.retryAt {
		// Also during the first pass: a worker whose welcome was lost
		// would otherwise wait, silent and suspected, until the pass ends.
		s.retryAt = now + joinRetry
		for _, i := range s.members[:s.joinNext] {
			w := &f.workers[i]
			if !w.joined && !w.stopped && now-w.joinAt >= joinRetry && !f.silent(w, pt, measuring) {
				s.join(i, now)
			}
		}
	}
	for _, i := range s.rejoin {
		s.c.rejoins++
		s.join(i, now)
	}
	s.rejoin = s.rejoin[:0]

	// Heartbeats: member k beats at k/n of every interval.
	n := uint64(len(s.members))
	due := uint64(now) * n / uint64(f.cfg.Heartbeat)
	for ; s.hbDone < due; s.hbDone++ {
		w := &f.workers[s.members[s.hbDone%n]]
		if !w.joined || w.stopped || f.busy(w, pt, measuring) {
			continue
		}
		if f.silent(w, pt, measuring) {
			if w.role == rolePartition {
				s.c.cut++
			}
			continue
		}
		s.heartbeat(w)
	}

	// Relays whose target never answered: nack after half a probe timeout.
	for k, r := range s.relays {
		if now < r.nackAt {
			continue
		}
		delete(s.relays, k)
		for range r.helpers {
			m := s.start(wire.TypeNack, k.target)
			m.ProbeSeq = k.probeSeq
			if s.send(f.mgr) {
				s.c.nacks++
			}
		}
	}

	if !measuring {
		return
	}
	// A paused worker beats as soon as it resumes.
	if end := f.plan.PauseAt + f.plan.PauseFor; last < end && pt >= end {
		for _, i := range s.pausers {
			if w := &f.workers[i]; w.joined {
				s.heartbeat(w)
			}
		}
	}
	// Long and stuck jobs.
	if pt >= f.plan.LongFrom {
		for k, i := range s.busy {
			w := &f.workers[i]
			if !w.joined || w.stopped {
				continue
			}
			if w.nextExt == 0 {
				// Spread the first requests over one request interval.
				off := f.plan.ExtEvery * time.Duration(k) / time.Duration(len(s.busy))
				w.nextExt = now + off
				w.nextCheck = now + off + f.plan.CheckIn
			}
			if now >= w.nextExt {
				w.nextExt += f.plan.ExtEvery
				s.extend(w)
			}
			if w.role == roleLong && now >= w.nextCheck {
				w.nextCheck += f.plan.CheckIn
				s.heartbeat(w)
			}
		}
	}
}

// extend sends an extension request: a long job reports more items done
// each time, a stuck one the same count.
func (s *sock) extend(w *worker) {
	reason := reasonStuck
	if w.role == roleLong {
		w.completed += 10
		reason = reasonLong
	}
	w.reqID++
	m := s.start(wire.TypeExtensionRequest, w.ticket)
	m.Incarnation = w.inc
	m.RequestID = w.reqID
	m.HasCount = true
	m.Completed = w.completed
	m.Reason = reason
	s.c.extRequests[w.role]++
	s.send(s.f.mgr)
}

// reader handles received packets until the conn closes.
func (s *sock) reader() {
	msgs := make([]transport.Message, 64)
	for {
		n, err := s.conn.ReadBatch(msgs)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := s.f.now()
		pt, measuring := s.f.planTime(now)
		s.mu.Lock()
		for i := range msgs[:n] {
			s.handle(&msgs[i], now, pt, measuring)
		}
		s.flush()
		s.mu.Unlock()
	}
}

// handle is one received packet. Under mu.
func (s *sock) handle(pkt *transport.Message, now, pt time.Duration, measuring bool) {
	f := s.f
	s.c.received++
	if lossy(s.rrng, f.cfg.Loss) {
		s.c.lostIn++
		return
	}
	m := &s.rmsg
	if err := s.rcodec.Decode(pkt.Data[:pkt.N], m); err != nil {
		s.c.bad++
		return
	}
	switch m.Type {
	case wire.TypeWelcome:
		s.welcome(m)
	case wire.TypePingReq:
		// The ping-req names its target, not its helper: any worker of
		// this socket relays it.
		k := relayKey{m.Ticket, m.ProbeSeq}
		r, pending := s.relays[k]
		s.relays[k] = relay{nackAt: now + f.probeTimeout/2, helpers: r.helpers + 1}
		if pending {
			return // one ping answers for every helper here
		}
		p := s.start(wire.TypePing, m.Ticket)
		p.ProbeSeq = m.ProbeSeq
		p.Suspect = m.Suspect
		if s.send(m.Addr) {
			s.c.relays++
		}
	case wire.TypeAck:
		// A target answered a relayed ping.
		k := relayKey{m.Ticket, m.ProbeSeq}
		if r, ok := s.relays[k]; ok {
			delete(s.relays, k)
			for range r.helpers {
				a := s.start(wire.TypeIndirectAck, m.Ticket)
				a.Incarnation = m.Incarnation
				a.ProbeSeq = m.ProbeSeq
				if s.send(f.mgr) {
					s.c.indirectAcks++
				}
			}
		}
	case wire.TypePing, wire.TypeNotice, wire.TypeExtensionResponse:
		i, ok := s.tickets[m.Ticket]
		if !ok {
			return
		}
		w := &f.workers[i]
		if !w.joined || w.stopped || f.silent(w, pt, measuring) {
			return
		}
		switch m.Type {
		case wire.TypePing:
			s.ping(w, pkt.Addr, m, f.busy(w, pt, measuring))
		case wire.TypeNotice:
			s.notice(i, w, m, now, f.busy(w, pt, measuring))
		case wire.TypeExtensionResponse:
			if m.RequestID != w.reqID {
				return
			}
			if m.Granted {
				s.c.extGranted[w.role]++
				return
			}
			s.c.extDenied[w.role]++
			s.c.denials[m.Denial]++
			if m.Denial == wire.DenialNotAlive {
				// Suspect or evicted: a busy job cannot refute, so it
				// stops (an evicted job's work is rescheduled elsewhere).
				s.c.toldDead[w.role]++
				w.stopped = true
			}
		}
	}
}

func (s *sock) welcome(m *wire.Message) {
	f := s.f
	i := int(m.Incarnation >> 32)
	if i >= len(f.workers) || i%len(f.socks) != s.id {
		return
	}
	w := &f.workers[i]
	switch m.Status {
	case wire.JoinAccepted:
		if w.joined && w.ticket == m.Ticket {
			return
		}
		if w.joined {
			delete(s.tickets, w.ticket)
		}
		w.ticket = m.Ticket
		w.inc = max(w.inc, m.Incarnation)
		w.joined = true
		s.tickets[m.Ticket] = int32(i)
		s.unjoined--
		if !w.everJoin {
			w.everJoin = true
			f.joined.Add(1)
		}
	case wire.JoinStaleIncarnation:
		w.inc = max(w.inc, m.Incarnation) + 1
		s.rejoin = append(s.rejoin, int32(i))
	}
}

func (s *sock) ping(w *worker, from netip.AddrPort, m *wire.Message, busy bool) {
	if busy {
		return // only progress keeps a busy worker alive
	}
	if m.Suspect {
		w.inc++
		s.c.refutations++
	}
	a := s.start(wire.TypeAck, w.ticket)
	a.Incarnation = w.inc
	a.ProbeSeq = m.ProbeSeq
	if s.send(from) {
		s.c.acks++
	}
}

func (s *sock) notice(i int32, w *worker, m *wire.Message, now time.Duration, busy bool) {
	switch m.State {
	case wire.NoticeSuspect:
		if busy {
			return
		}
		if w.inc <= m.Incarnation {
			w.inc = m.Incarnation + 1
		}
		s.c.refutations++
		s.heartbeat(w)
	case wire.NoticeDead, wire.NoticeLeft, wire.NoticeUnknown:
		if m.State == wire.NoticeDead {
			s.c.toldDead[w.role]++
			w.inc = max(w.inc, m.Incarnation) + 1
		}
		delete(s.tickets, w.ticket)
		w.joined = false
		s.unjoined++
		if busy {
			w.stopped = true
			return
		}
		s.rejoin = append(s.rejoin, i)
	}
}
