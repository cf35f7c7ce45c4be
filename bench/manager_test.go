//go:build linux

package bench

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// The manager's receive path at 200,000 workers (issue 4's target: at most
// 150 ns of user-space CPU per heartbeat for decode, verify and detector
// update), beside a naive receive path in the same run: per packet, decode
// and verify, then under one mutex a map[string] lookup of the worker, its
// replay window, and a time.Timer.Reset of its deadline.
//
// Both are fed the same kind of stream: signed heartbeats of random workers
// (each worker's sequence numbers increasing, so every one passes the replay
// window), in batches of 64 as a reader takes them off a socket. The socket
// itself is not involved (see the transport benchmarks for that part). One
// op is one heartbeat.

// mgrFleets are the fleet sizes: the target's, and one whose per-worker
// state fits in the caches, to show what memory misses cost.
var mgrFleets = []int{200_000, 10_000}

const (
	mgrBatch = 64
	// mgrChunk heartbeats are signed ahead at a time, with the timer
	// stopped; a longer run signs more chunks.
	mgrChunk = 1 << 18
)

var mgrKey = []byte("0123456789abcdef0123456789abcdef")

// discardConn is a PacketConn that drops what is written: the Welcome
// replies of the joins. Nothing is read from it (Run is not called).
type discardConn struct{}

func (discardConn) ReadBatch([]transport.Message) (int, error) { return 0, net.ErrClosed }
func (discardConn) WriteBatch(ms []transport.Message) (int, error) {
	return len(ms), nil
}
func (discardConn) LocalAddr() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:7946") }
func (discardConn) Close() error              { return nil }

var streamFrom = netip.MustParseAddrPort("10.0.0.2:5000")

// hbStream signs heartbeats of random workers into a reused arena.
type hbStream struct {
	codec   *wire.Codec
	tickets []wire.Ticket
	seqs    []uint64
	rng     *rand.Rand
	arena   []byte
	msgs    []transport.Message
	pos     int
}

func newHBStream(ring *wire.Keyring, tickets []wire.Ticket, seed uint64) *hbStream {
	s := &hbStream{
		codec: wire.NewCodec(ring), tickets: tickets, seqs: make([]uint64, len(tickets)),
		rng:   rand.New(rand.NewPCG(seed, 1)),
		arena: make([]byte, mgrChunk*wire.MaxMessageSize), msgs: make([]transport.Message, mgrChunk),
		pos: mgrChunk,
	}
	for i := range s.seqs {
		s.seqs[i] = 1 << 40 // above the join's sequence number
	}
	return s
}

func (s *hbStream) refill() {
	m := wire.Message{Type: wire.TypeHeartbeat}
	off := 0
	for i := range s.msgs {
		w := s.rng.IntN(len(s.tickets))
		s.seqs[w]++
		m.Ticket, m.Seq = s.tickets[w], s.seqs[w]
		n, err := s.codec.Encode(s.arena[off:], &m)
		if err != nil {
			panic(err) // a heartbeat always encodes
		}
		s.msgs[i] = transport.Message{Addr: streamFrom, Data: s.arena[off : off+n], N: n}
		off += n
	}
	s.pos = 0
}

// next returns the next k heartbeats, signing more with the clocks paused.
func (s *hbStream) next(b *testing.B, cpu *cpuMeter, k int) []transport.Message {
	if s.pos+k > len(s.msgs) {
		b.StopTimer()
		cpu.pause()
		s.refill()
		cpu.resume()
		b.StartTimer()
	}
	out := s.msgs[s.pos : s.pos+k]
	s.pos += k
	return out
}

// cpuMeter sums the process's user CPU over the timed parts of a run.
type cpuMeter struct {
	from cpuTimes
	sum  cpuTimes
}

func (c *cpuMeter) resume() { c.from = rusage(unix.RUSAGE_SELF) }
func (c *cpuMeter) pause() {
	d := rusage(unix.RUSAGE_SELF).sub(c.from)
	c.sum.user += d.user
	c.sum.sys += d.sys
}

// mgrFixture is a manager with a fleet joined, built once per process.
type mgrFixture struct {
	ring    *wire.Keyring
	m       *manager.Manager
	tickets []wire.Ticket
	ids     []string
	now     wheel.Time
	stream  *hbStream
}

var mgrFixtures = map[int]*mgrFixture{}

func managerFixture(b *testing.B, workers int) *mgrFixture {
	if f := mgrFixtures[workers]; f != nil {
		return f
	}
	f, err := buildManagerFixture(workers)
	if err != nil {
		b.Fatal(err)
	}
	mgrFixtures[workers] = f
	return f
}

func buildManagerFixture(mgrWorkers int) (*mgrFixture, error) {
	ring, err := wire.NewKeyring(1, mgrKey)
	if err != nil {
		return nil, err
	}
	m, err := manager.New(manager.Config{Conns: []transport.PacketConn{discardConn{}}, Detector: detector.DefaultConfig(), Keyring: ring,
		JoinFreshness: -1}) // the joins carry small fixed sequence numbers, not the wall clock
	if err != nil {
		return nil, err
	}
	f := &mgrFixture{ring: ring, m: m, ids: make([]string, mgrWorkers), tickets: make([]wire.Ticket, mgrWorkers)}
	codec := wire.NewCodec(ring)
	buf := make([]byte, mgrBatch*wire.MaxMessageSize)
	batch := make([]transport.Message, 0, mgrBatch)
	from := streamFrom
	for i := 0; i < mgrWorkers; i += mgrBatch {
		batch = batch[:0]
		for j := i; j < min(i+mgrBatch, mgrWorkers); j++ {
			f.ids[j] = fmt.Sprintf("worker-%06d", j)
			msg := wire.Message{Type: wire.TypeJoin, WorkerID: []byte(f.ids[j]), Seq: 1}
			off := (j - i) * wire.MaxMessageSize
			n, err := codec.Encode(buf[off:], &msg)
			if err != nil {
				return nil, err
			}
			batch = append(batch, transport.Message{Addr: from, Data: buf[off : off+n], N: n})
		}
		m.Receive(0, batch)
	}
	for i, id := range f.ids {
		st := m.Status(id)
		if st.Status != detector.StatusAlive {
			return nil, fmt.Errorf("%s not alive after its join: %v", id, st.Status)
		}
		f.tickets[i] = wire.Ticket(st.Ticket)
	}
	f.stream = newHBStream(ring, f.tickets, 1)
	return f, nil
}

// naiveReceiver is the baseline: what a first version does per packet.
type naiveReceiver struct {
	codec *wire.Codec
	msg   wire.Message
	base  time.Duration
	epoch time.Time

	mu      sync.Mutex // guards all following fields
	slots   []naiveSlot
	workers map[string]*naiveRecvWorker
	applied int
}

type naiveSlot struct {
	id  string
	gen uint16
}

type naiveRecvWorker struct {
	timer    *time.Timer
	window   wire.ReplayWindow
	inc      uint64
	deadline time.Duration
}

func newNaiveReceiver(f *mgrFixture) *naiveReceiver {
	n := &naiveReceiver{codec: wire.NewCodec(f.ring), base: 30 * time.Second, epoch: time.Now(), workers: make(map[string]*naiveRecvWorker, len(f.ids))}
	for i, tk := range f.tickets {
		for int(tk.Slot) >= len(n.slots) {
			n.slots = append(n.slots, naiveSlot{})
		}
		n.slots[tk.Slot] = naiveSlot{id: f.ids[i], gen: tk.Gen}
		w := &naiveRecvWorker{deadline: n.base, timer: time.AfterFunc(n.base, func() {})}
		w.window.Check(1)
		n.workers[f.ids[i]] = w
	}
	return n
}

func (n *naiveReceiver) receive(pkts []transport.Message) {
	for i := range pkts {
		p := &pkts[i]
		if err := n.codec.Decode(p.Data[:p.N], &n.msg); err != nil || n.msg.Type != wire.TypeHeartbeat {
			continue
		}
		n.mu.Lock()
		now := time.Since(n.epoch)
		if s := int(n.msg.Ticket.Slot); s < len(n.slots) && n.slots[s].gen == n.msg.Ticket.Gen {
			w := n.workers[n.slots[s].id]
			if w != nil && w.window.Check(n.msg.Seq) && n.msg.Incarnation >= w.inc {
				w.deadline = max(w.deadline, now+n.base)
				w.timer.Reset(w.deadline - now)
				n.applied++
			}
		}
		n.mu.Unlock()
	}
}

func (n *naiveReceiver) stop() {
	for _, w := range n.workers {
		w.timer.Stop()
	}
}

// BenchmarkManagerReceive: one op is one heartbeat taken through the
// receive path (decode, verify, replay window, deadline update).
func BenchmarkManagerReceive(b *testing.B) {
	for _, n := range mgrFleets {
		benchManagerReceive(b, n)
	}
}

func benchManagerReceive(b *testing.B, mgrWorkers int) {
	f := managerFixture(b, mgrWorkers)
	b.Run(fmt.Sprintf("impl=manager/workers=%d", mgrWorkers), func(b *testing.B) {
		before := f.m.Stats()
		var cpu cpuMeter
		b.ReportAllocs()
		b.ResetTimer()
		cpu.resume()
		for i := 0; i < b.N; i += mgrBatch {
			pkts := f.stream.next(b, &cpu, min(mgrBatch, b.N-i))
			f.now += wheel.Time(time.Microsecond)
			f.m.Receive(f.now, pkts)
		}
		cpu.pause()
		b.StopTimer()
		after := f.m.Stats()
		if got := after.HeartbeatsFast + after.HeartbeatsSlow - before.HeartbeatsFast - before.HeartbeatsSlow; got != uint64(b.N) {
			b.Fatalf("%d heartbeats applied of %d (bad %d)", got, b.N, after.BadPackets()-before.BadPackets())
		}
		reportHeartbeat(b, cpu)
	})
	b.Run(fmt.Sprintf("impl=naive-mutex-map-timer/workers=%d", mgrWorkers), func(b *testing.B) {
		n := newNaiveReceiver(f)
		defer n.stop()
		stream := newHBStream(f.ring, f.tickets, 2)
		var cpu cpuMeter
		b.ReportAllocs()
		b.ResetTimer()
		cpu.resume()
		for i := 0; i < b.N; i += mgrBatch {
			n.receive(stream.next(b, &cpu, min(mgrBatch, b.N-i)))
		}
		cpu.pause()
		b.StopTimer()
		if n.applied != b.N {
			b.Fatalf("%d heartbeats applied of %d", n.applied, b.N)
		}
		reportHeartbeat(b, cpu)
	})
}

func reportHeartbeat(b *testing.B, cpu cpuMeter) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/heartbeat")
	b.ReportMetric(float64(cpu.sum.user.Nanoseconds())/float64(b.N), "user-ns/heartbeat")
	b.ReportMetric(float64(cpu.sum.sys.Nanoseconds())/float64(b.N), "sys-ns/heartbeat")
}
