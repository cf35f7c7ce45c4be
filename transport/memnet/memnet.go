package memnet

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/swimwheel/swimwheel/transport"
)

// Message is the datagram type of package transport.
type Message = transport.Message

// MaxDatagram is the largest payload WriteBatch accepts, as for UDP over IPv4.
const MaxDatagram = 65507

// DefaultQueueLimit is how many delivered datagrams an endpoint holds unread
// before further ones are dropped (DropOverflow), like a socket buffer.
const DefaultQueueLimit = 4096

// Link describes the conditions of one direction of a path. The zero value
// is a perfect link: no loss, no delay, delivery at the next Advance.
type Link struct {
	Loss      float64       // probability that a datagram is lost, in [0,1]
	Duplicate float64       // probability that a datagram arrives twice, in [0,1]
	Reorder   float64       // probability that a datagram is held back by ReorderDelay, in [0,1]
	Delay     time.Duration // fixed one-way delay
	Jitter    time.Duration // extra delay drawn uniformly from [0, Jitter)
	// ReorderDelay is how long a reordered datagram is held back beyond its
	// normal delay, so that datagrams sent after it overtake it; zero means
	// Delay+Jitter, at least one millisecond.
	ReorderDelay time.Duration
}

func (l Link) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", l.Loss}, {"Duplicate", l.Duplicate}, {"Reorder", l.Reorder}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return fmt.Errorf("memnet: Link.%s %v outside [0,1]", p.name, p.v)
		}
	}
	if l.Delay < 0 || l.Jitter < 0 || l.ReorderDelay < 0 {
		return fmt.Errorf("memnet: negative Link delay (Delay %v, Jitter %v, ReorderDelay %v)", l.Delay, l.Jitter, l.ReorderDelay)
	}
	return nil
}

// Direction says which traffic of a partitioned set is cut.
type Direction uint8

const (
	Inbound  Direction = 1 << iota // from the rest into the set
	Outbound                       // from the set to the rest
	Both     = Inbound | Outbound
)

// DropReason says why a datagram was not delivered.
type DropReason uint8

const (
	DropLoss        DropReason = iota // random loss of its link
	DropPartition                     // a partition or a Block cut its path when it was sent
	DropUnreachable                   // nobody listened at its destination when it was due
	DropOverflow                      // its receiver's queue was full
	NumDropReasons
)

func (r DropReason) String() string {
	switch r {
	case DropLoss:
		return "loss"
	case DropPartition:
		return "partition"
	case DropUnreachable:
		return "unreachable"
	case DropOverflow:
		return "overflow"
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// Stats are the network's counters.
type Stats struct {
	Sent       uint64                 // datagrams accepted by WriteBatch
	Duplicated uint64                 // extra copies made by Link.Duplicate
	Reordered  uint64                 // copies held back by Link.Reorder
	Delivered  uint64                 // copies put into a receiver's queue
	Dropped    [NumDropReasons]uint64 // datagrams or copies lost, by reason
	InFlight   int                    // copies scheduled and not yet due
}

type pathKey struct{ from, to netip.AddrPort }

type partition struct {
	side map[netip.AddrPort]bool
	dir  Direction
}

// packet is one scheduled copy of a datagram.
type packet struct {
	at       time.Duration // virtual delivery time
	seq      uint64        // scheduling order: breaks ties of at
	from, to netip.AddrPort
	data     []byte // owned by the network; back to the free list once read
}

// schedule orders packets by delivery time, then by the order they were
// scheduled in, so that equal times deliver deterministically.
type schedule []*packet

func (s schedule) Len() int { return len(s) }
func (s schedule) Less(i, j int) bool {
	if s[i].at != s[j].at {
		return s[i].at < s[j].at
	}
	return s[i].seq < s[j].seq
}
func (s schedule) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s *schedule) Push(x any)   { *s = append(*s, x.(*packet)) }
func (s *schedule) Pop() any {
	old := *s
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*s = old[:len(old)-1]
	return p
}

// Network is an in-memory datagram network on a virtual clock. Every random
// choice comes from one source seeded by New, in the order of the calls, so
// the same seed and the same sequence of calls give the same deliveries. It is
// safe for concurrent use; one mutex serialises everything, which is what
// makes the order of events well defined.
type Network struct {
	mu         sync.Mutex // guards all following fields
	rng        *rand.Rand
	now        time.Duration
	seq        uint64
	def        Link
	links      map[pathKey]Link
	blocked    map[pathKey]bool
	partitions []partition
	endpoints  map[netip.AddrPort]*Endpoint
	pending    schedule
	free       [][]byte
	queueLimit int
	stats      Stats
}

// New returns an empty network at virtual time zero with perfect links.
func New(seed int64) *Network {
	return &Network{
		rng:        rand.New(rand.NewPCG(uint64(seed), 0x5357494d)),
		links:      make(map[pathKey]Link),
		blocked:    make(map[pathKey]bool),
		endpoints:  make(map[netip.AddrPort]*Endpoint),
		queueLimit: DefaultQueueLimit,
	}
}

var errNotValid = errors.New("memnet: address not valid")

func plain(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Listen creates an endpoint at addr. Port 0 picks the lowest free port from
// 49152 on that address. An address in use is an error; a closed endpoint's
// address can be listened on again (a restarted process).
func (n *Network) Listen(addr netip.AddrPort) (*Endpoint, error) {
	if !addr.Addr().IsValid() {
		return nil, fmt.Errorf("%w: %v", errNotValid, addr)
	}
	addr = plain(addr)
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr.Port() == 0 {
		for p := 49152; ; p++ {
			if p > math.MaxUint16 {
				return nil, fmt.Errorf("memnet: no free port on %v", addr.Addr())
			}
			if cand := netip.AddrPortFrom(addr.Addr(), uint16(p)); n.endpoints[cand] == nil {
				addr = cand
				break
			}
		}
	}
	if n.endpoints[addr] != nil {
		return nil, fmt.Errorf("memnet: address %v in use", addr)
	}
	e := &Endpoint{net: n, addr: addr, wake: make(chan struct{}, 1), done: make(chan struct{})}
	n.endpoints[addr] = e
	return e, nil
}

// SetDefault sets the conditions of every path without its own Link.
func (n *Network) SetDefault(l Link) error {
	if err := l.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.def = l
	return nil
}

// SetLink sets the conditions of the path from -> to (one direction).
func (n *Network) SetLink(from, to netip.AddrPort, l Link) error {
	if err := l.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[pathKey{plain(from), plain(to)}] = l
	return nil
}

// Partition cuts the endpoints of side off from every endpoint outside it:
// traffic leaving the set (Outbound), entering it (Inbound) or both.
// Partitions add up; Heal removes them all. They apply to datagrams sent
// while they hold; datagrams already in flight still arrive.
func (n *Network) Partition(side []netip.AddrPort, dir Direction) error {
	if dir == 0 || dir&^Both != 0 {
		return fmt.Errorf("memnet: partition direction %d not Inbound, Outbound or Both", dir)
	}
	set := make(map[netip.AddrPort]bool, len(side))
	for _, a := range side {
		set[plain(a)] = true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partitions = append(n.partitions, partition{set, dir})
	return nil
}

// Block cuts the one path from -> to, leaving every other path alone.
func (n *Network) Block(from, to netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.blocked[pathKey{plain(from), plain(to)}] = true
}

// Heal removes every partition and block. Link conditions stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.partitions = nil
	clear(n.blocked)
}

// SetQueueLimit sets how many unread datagrams each endpoint holds.
func (n *Network) SetQueueLimit(limit int) error {
	if limit < 1 {
		return fmt.Errorf("memnet: queue limit %d below 1", limit)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queueLimit = limit
	return nil
}

// Now is the network's virtual time.
func (n *Network) Now() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// Next returns the delivery time of the earliest datagram in flight, if any:
// the time a driver should Advance to next.
func (n *Network) Next() (time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.pending) == 0 {
		return 0, false
	}
	return n.pending[0].at, true
}

// Advance moves virtual time to now and delivers, in order of delivery time
// and then of sending, every datagram due by then into its receiver's queue.
// It returns how many were delivered. Time never goes back: a now before the
// current time is an error.
func (n *Network) Advance(now time.Duration) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now < n.now {
		return 0, fmt.Errorf("memnet: Advance to %v, before the current time %v", now, n.now)
	}
	n.now = now
	delivered := 0
	for len(n.pending) > 0 && n.pending[0].at <= now {
		p := heap.Pop(&n.pending).(*packet)
		e := n.endpoints[p.to]
		switch {
		case e == nil:
			n.stats.Dropped[DropUnreachable]++
			n.recycle(p.data)
		case e.queued() >= n.queueLimit:
			n.stats.Dropped[DropOverflow]++
			n.recycle(p.data)
		default:
			e.queue = append(e.queue, *p)
			n.stats.Delivered++
			delivered++
			select {
			case e.wake <- struct{}{}:
			default:
			}
		}
	}
	n.stats.InFlight = len(n.pending)
	return delivered, nil
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *Network) recycle(b []byte) {
	if cap(b) <= 2048 && len(n.free) < 4096 {
		n.free = append(n.free, b[:0])
	}
}

// cutLocked reports whether a partition or block cuts from -> to.
func (n *Network) cutLocked(from, to netip.AddrPort) bool {
	if n.blocked[pathKey{from, to}] {
		return true
	}
	for _, p := range n.partitions {
		in, out := p.side[from], p.side[to]
		if in && !out && p.dir&Outbound != 0 {
			return true
		}
		if !in && out && p.dir&Inbound != 0 {
			return true
		}
	}
	return false
}

// sendLocked applies the path's conditions to one datagram and schedules
// its copies. Random draws happen in a fixed order: loss, duplication, then
// per copy jitter and reordering; a draw is skipped when its probability or
// range is zero.
func (n *Network) sendLocked(from, to netip.AddrPort, data []byte) {
	n.stats.Sent++
	if n.cutLocked(from, to) {
		n.stats.Dropped[DropPartition]++
		return
	}
	l, ok := n.links[pathKey{from, to}]
	if !ok {
		l = n.def
	}
	if l.Loss > 0 && n.rng.Float64() < l.Loss {
		n.stats.Dropped[DropLoss]++
		return
	}
	copies := 1
	if l.Duplicate > 0 && n.rng.Float64() < l.Duplicate {
		copies = 2
		n.stats.Duplicated++
	}
	for range copies {
		at := n.now + l.Delay
		if l.Jitter > 0 {
			at += time.Duration(n.rng.Int64N(int64(l.Jitter)))
		}
		if l.Reorder > 0 && n.rng.Float64() < l.Reorder {
			hold := l.ReorderDelay
			if hold == 0 {
				hold = max(l.Delay+l.Jitter, time.Millisecond)
			}
			at += hold
			n.stats.Reordered++
		}
		var buf []byte
		if k := len(n.free); k > 0 && cap(n.free[k-1]) >= len(data) {
			buf = n.free[k-1]
			n.free = n.free[:k-1]
		} else {
			buf = make([]byte, 0, max(len(data), 256))
		}
		n.seq++
		heap.Push(&n.pending, &packet{at: at, seq: n.seq, from: from, to: to, data: append(buf, data...)})
	}
	n.stats.InFlight = len(n.pending)
}

// Endpoint is one address on a Network. It implements transport.PacketConn,
// and Poll for drivers that never block.
type Endpoint struct {
	// Immutable.
	net  *Network
	addr netip.AddrPort
	wake chan struct{} // a datagram was queued (capacity 1)
	done chan struct{} // closed by Close

	// Guarded by net.mu.
	queue  []packet
	head   int    // queue[head:] is unread
	arena  []byte // backing of the Data handed out by the last read
	closed bool
}

var _ transport.PacketConn = (*Endpoint)(nil)

func (e *Endpoint) queued() int { return len(e.queue) - e.head }

// Poll moves up to len(ms) queued datagrams into ms and returns how many,
// without blocking. As with ReadBatch, Data stays valid until the next Poll
// or ReadBatch on this endpoint.
func (e *Endpoint) Poll(ms []Message) int {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	return e.pollLocked(ms)
}

func (e *Endpoint) pollLocked(ms []Message) int {
	if e.closed {
		return 0
	}
	k := min(len(ms), e.queued())
	total := 0
	for _, p := range e.queue[e.head : e.head+k] {
		total += len(p.data)
	}
	if cap(e.arena) < total {
		e.arena = make([]byte, 0, total)
	}
	e.arena = e.arena[:0]
	for i := range k {
		p := &e.queue[e.head+i]
		off := len(e.arena)
		e.arena = append(e.arena, p.data...)
		ms[i] = Message{Addr: p.from, Data: e.arena[off:len(e.arena):len(e.arena)], N: len(p.data)}
		e.net.recycle(p.data)
		*p = packet{}
	}
	e.head += k
	if e.head == len(e.queue) {
		e.queue, e.head = e.queue[:0], 0
	} else if e.head >= 64 && e.head*2 >= len(e.queue) {
		// Slide the unread tail down so that a reader that never drains
		// the queue does not grow it forever.
		m := copy(e.queue, e.queue[e.head:])
		clear(e.queue[m:])
		e.queue, e.head = e.queue[:m], 0
	}
	return k
}

// ReadBatch implements transport.PacketConn: it blocks until Advance has
// delivered at least one datagram to this endpoint, or it is closed.
func (e *Endpoint) ReadBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	for {
		e.net.mu.Lock()
		if e.closed {
			e.net.mu.Unlock()
			return 0, net.ErrClosed
		}
		k := e.pollLocked(ms)
		e.net.mu.Unlock()
		if k > 0 {
			return k, nil
		}
		select {
		case <-e.wake:
		case <-e.done:
		}
	}
}

// WriteBatch implements transport.PacketConn. Each datagram is copied and
// scheduled under its path's conditions; none is delivered before the next
// Advance. A message with an invalid destination or more than MaxDatagram
// bytes is skipped and reported.
func (e *Endpoint) WriteBatch(ms []Message) (int, error) {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if e.closed {
		return 0, net.ErrClosed
	}
	sent := 0
	var first error
	for i := range ms {
		m := &ms[i]
		var err error
		switch {
		case !m.Addr.Addr().IsValid() || m.Addr.Port() == 0:
			err = fmt.Errorf("%w: destination %v", errNotValid, m.Addr)
		case len(m.Data) > MaxDatagram:
			err = fmt.Errorf("memnet: datagram of %d bytes to %v exceeds %d", len(m.Data), m.Addr, MaxDatagram)
		}
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		e.net.sendLocked(e.addr, plain(m.Addr), m.Data)
		sent++
	}
	return sent, first
}

// LocalAddr implements transport.PacketConn.
func (e *Endpoint) LocalAddr() netip.AddrPort { return e.addr }

// Close implements transport.PacketConn: unread datagrams are discarded, a
// blocked ReadBatch returns net.ErrClosed, and the address becomes free.
func (e *Endpoint) Close() error {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if e.closed {
		return net.ErrClosed
	}
	e.closed = true
	for _, p := range e.queue[e.head:] {
		e.net.recycle(p.data)
	}
	e.queue, e.head = nil, 0
	if e.net.endpoints[e.addr] == e {
		delete(e.net.endpoints, e.addr)
	}
	close(e.done)
	return nil
}
