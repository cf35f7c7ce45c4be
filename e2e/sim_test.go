package e2e

import (
	"container/heap"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/agent"
	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/transport/memnet"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

var simManagerAddr = netip.MustParseAddrPort("10.0.0.1:7946")

func simAgentAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 5000)
}

// sim drives one manager (Receive/Advance) and a fleet of agent cores on a
// memnet network, in virtual time, from one goroutine. Every random choice
// comes from the seed, so the same seed gives the same run.
type sim struct {
	t    *testing.T
	link memnet.Link
	net  *memnet.Network
	mep  *memnet.Endpoint
	m    *manager.Manager
	ring *wire.Keyring
	now  time.Duration

	env     *agent.Env // shared by every core: one goroutine drives them all
	cores   []*agent.Core
	eps     []*memnet.Endpoint
	index   map[netip.AddrPort]int
	stopped []bool
	stopAt  []time.Duration

	timers  timerHeap
	sched   []time.Duration // the time each core is queued for in timers (-1: none)
	dirty   []int           // cores that may have datagrams to read
	inDirty []bool          // i is in dirty
	dirtyTo []time.Duration // until when core i may have datagrams in flight

	actions []action
	events  eventLog
	// sent records the packets each core sent, when record[i] is set.
	record map[int]bool
	sent   map[int][]sentPacket
	buf    []transport.Message
}

type sentPacket struct {
	at   time.Duration
	typ  wire.Type
	data []byte
}

type action struct {
	at time.Duration
	fn func()
}

type timerEntry struct {
	at  time.Duration
	idx int
}

type timerHeap []timerEntry

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].idx < h[j].idx
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// tapConn is the manager's endpoint; it marks the agents it writes to as
// having datagrams to read, so that the driver polls only those.
type tapConn struct {
	*memnet.Endpoint
	s *sim
}

func (c tapConn) WriteBatch(ms []transport.Message) (int, error) {
	for i := range ms {
		c.s.markDirty(ms[i].Addr)
	}
	return c.Endpoint.WriteBatch(ms)
}

// newSim builds the network, the manager and n agents (not started: the
// first run calls every core's Tick at time zero, which sends the joins).
func newSim(t *testing.T, seed int64, n int, link memnet.Link) *sim {
	t.Helper()
	s := &sim{
		t: t, link: link, net: memnet.New(seed), ring: fleetRing(t),
		index: make(map[netip.AddrPort]int, n), record: map[int]bool{}, sent: map[int][]sentPacket{},
		buf: make([]transport.Message, 64),
	}
	if err := s.net.SetDefault(link); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.mep, err = s.net.Listen(simManagerAddr); err != nil {
		t.Fatal(err)
	}
	cfg := detectorConfig(uint64(seed))
	cfg.Shards = 1 // one shard: expiries in one deterministic order
	s.m, err = manager.New(manager.Config{
		Conns:             []transport.PacketConn{tapConn{s.mep, s}},
		Detector:          cfg,
		Keyring:           s.ring,
		HeartbeatInterval: hbInterval,
		// The agents' sequence numbers start at a fixed 1,000,000, not at
		// the wall clock, so that runs are deterministic; the freshness of
		// joins is tested in manager.
		JoinFreshness: -1,
		OnEvents:      func(evs []detector.Event) { s.events = append(s.events, evs...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.env, err = agent.NewEnv(s.ring, nil); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c, err := agent.NewCore(agent.Config{
			ID: workerID(i), Manager: simManagerAddr,
			JoinBackoffMin: joinBackoffMin, JoinBackoffMax: joinBackoffMax,
			RelayTimeout: relayTimeout, ExtensionRetry: extRetry,
			Seed: seed<<20 + int64(i), FirstSeq: 1_000_000,
		})
		if err != nil {
			t.Fatal(err)
		}
		ep, err := s.net.Listen(simAgentAddr(i))
		if err != nil {
			t.Fatal(err)
		}
		s.cores = append(s.cores, c)
		s.eps = append(s.eps, ep)
		s.index[ep.LocalAddr()] = i
		s.timers = append(s.timers, timerEntry{0, i})
		s.sched = append(s.sched, 0)
	}
	s.stopped = make([]bool, n)
	s.stopAt = make([]time.Duration, n)
	s.dirtyTo = make([]time.Duration, n)
	s.inDirty = make([]bool, n)
	heap.Init(&s.timers)
	return s
}

func (s *sim) maxDelay() time.Duration {
	d := s.link.Delay + s.link.Jitter
	if s.link.Reorder > 0 {
		d += max(s.link.ReorderDelay, s.link.Delay+s.link.Jitter, time.Millisecond)
	}
	return d
}

func (s *sim) markDirty(to netip.AddrPort) {
	i, ok := s.index[to]
	if !ok || s.stopped[i] {
		return
	}
	s.dirtyTo[i] = s.now + s.maxDelay()
	if !s.inDirty[i] {
		s.inDirty[i] = true
		s.dirty = append(s.dirty, i)
	}
}

// at schedules fn at virtual time at; actions at the same time run in the
// order they were added.
func (s *sim) at(at time.Duration, fn func()) {
	s.actions = append(s.actions, action{at, fn})
	sort.SliceStable(s.actions, func(i, j int) bool { return s.actions[i].at < s.actions[j].at })
}

// flush sends what core i queued, from its endpoint.
func (s *sim) flush(i int) {
	out := s.env.Drain()
	if len(out) == 0 {
		return
	}
	if s.record[i] {
		var m wire.Message
		codec := wire.NewCodec(s.ring)
		for _, p := range out {
			if err := codec.Decode(p.Data, &m); err != nil {
				s.t.Fatalf("core %d sent a bad packet: %v", i, err)
			}
			s.sent[i] = append(s.sent[i], sentPacket{s.now, m.Type, slices.Clone(p.Data)})
		}
	}
	for _, p := range out {
		s.markDirty(p.Addr)
	}
	if _, err := s.eps[i].WriteBatch(out); err != nil {
		s.t.Fatalf("core %d: %v", i, err)
	}
}

// touched re-queues core i's timer after a call into it.
func (s *sim) touched(i int) {
	s.flush(i)
	next, ok := s.cores[i].Next()
	if !ok {
		s.sched[i] = -1
		return
	}
	if next != s.sched[i] {
		s.sched[i] = next
		heap.Push(&s.timers, timerEntry{next, i})
	}
}

// stop crashes core i: it neither sends nor receives from now on.
func (s *sim) stop(i int) {
	s.stopped[i] = true
	s.stopAt[i] = s.now
	if err := s.eps[i].Close(); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sim) setBusy(i int, busy bool) {
	s.cores[i].SetBusy(s.env, s.now, busy)
	s.touched(i)
}

func (s *sim) extend(i int, p extension.Progress) uint32 {
	id, err := s.cores[i].Extend(s.env, s.now, p, "job", 0)
	if err != nil {
		s.t.Fatal(err)
	}
	s.touched(i)
	return id
}

// run moves virtual time to end, delivering datagrams, firing the agents'
// timers, the scheduled actions and the manager's deadlines in time order.
func (s *sim) run(end time.Duration) {
	s.t.Helper()
	for {
		next := end
		if nt, ok := s.net.Next(); ok && nt < next {
			next = nt
		}
		if mt, ok := s.m.Next(); ok && time.Duration(mt) < next {
			next = time.Duration(mt)
		}
		if len(s.timers) > 0 && s.timers[0].at < next {
			next = s.timers[0].at
		}
		if len(s.actions) > 0 && s.actions[0].at < next {
			next = s.actions[0].at
		}
		next = max(next, s.now)
		s.step(next)
		if next >= end {
			return
		}
	}
}

func (s *sim) step(now time.Duration) {
	if _, err := s.net.Advance(now); err != nil {
		s.t.Fatal(err)
	}
	s.now = now
	for {
		n := s.mep.Poll(s.buf)
		if n == 0 {
			break
		}
		s.m.Receive(wheel.Time(now), s.buf[:n])
	}
	// Agents that may have mail, in index order (the order is part of the
	// run's determinism).
	cur := s.dirty
	s.dirty = nil
	slices.Sort(cur)
	for _, i := range cur {
		s.inDirty[i] = false
	}
	for _, i := range cur {
		if s.stopped[i] {
			continue
		}
		for {
			n := s.eps[i].Poll(s.buf)
			if n == 0 {
				break
			}
			for _, p := range s.buf[:n] {
				s.cores[i].Handle(s.env, now, p)
			}
			s.touched(i)
		}
		if s.dirtyTo[i] > now && !s.inDirty[i] {
			s.inDirty[i] = true
			s.dirty = append(s.dirty, i)
		}
	}
	for len(s.timers) > 0 && s.timers[0].at <= now {
		e := heap.Pop(&s.timers).(timerEntry)
		if s.stopped[e.idx] || s.sched[e.idx] != e.at {
			continue // stale entry
		}
		s.sched[e.idx] = -1
		s.cores[e.idx].Tick(s.env, now)
		s.touched(e.idx)
	}
	for len(s.actions) > 0 && s.actions[0].at <= now {
		a := s.actions[0]
		s.actions = s.actions[1:]
		a.fn()
	}
	s.m.Advance(wheel.Time(now))
}

// statuses is the manager's view of every worker.
func (s *sim) statuses() []detector.WorkerStatus {
	out := make([]detector.WorkerStatus, len(s.cores))
	for i := range s.cores {
		out[i] = s.m.Status(workerID(i))
	}
	return out
}

// joinAll runs until every agent holds a ticket, at most until limit.
func (s *sim) joinAll(limit time.Duration) {
	s.t.Helper()
	for s.now < limit {
		s.run(s.now + 100*time.Millisecond)
		all := true
		for i, c := range s.cores {
			if !s.stopped[i] && !c.State().Joined {
				all = false
				break
			}
		}
		if all {
			return
		}
	}
	s.t.Fatalf("not every agent joined by %v", limit)
}
