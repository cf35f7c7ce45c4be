package naive

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wire"
)

// benchBatch is the real manager's receive batch (one recvmmsg).
const benchBatch = 64

var benchFrom = netip.MustParseAddrPort("127.0.0.1:40000")

// discardConn stands in for the real manager's socket: nothing to read,
// every write accepted and dropped.
type discardConn struct{}

func (discardConn) ReadBatch([]transport.Message) (int, error) { return 0, net.ErrClosed }
func (discardConn) WriteBatch(ms []transport.Message) (int, error) {
	return len(ms), nil
}
func (discardConn) LocalAddr() netip.AddrPort { return netip.MustParseAddrPort("127.0.0.1:7946") }
func (discardConn) Close() error              { return nil }

// joinManager joins every worker of ids through m.Receive (signed joins in
// batches) and returns their tickets.
func joinManager(b *testing.B, m *manager.Manager, ring *wire.Keyring, ids []string) []wire.Ticket {
	codec := wire.NewCodec(ring)
	buf := make([]byte, benchBatch*wire.MaxMessageSize)
	batch := make([]transport.Message, 0, benchBatch)
	for i := 0; i < len(ids); i += benchBatch {
		batch = batch[:0]
		for j := i; j < min(i+benchBatch, len(ids)); j++ {
			off := (j - i) * wire.MaxMessageSize
			msg := wire.Message{Type: wire.TypeJoin, WorkerID: []byte(ids[j]), Incarnation: 1, Seq: 1}
			n, err := codec.Encode(buf[off:], &msg)
			if err != nil {
				b.Fatal(err)
			}
			batch = append(batch, transport.Message{Addr: benchFrom, Data: buf[off : off+n], N: n})
		}
		m.Receive(m.Now(), batch)
	}
	tickets := make([]wire.Ticket, len(ids))
	for i, id := range ids {
		st := m.Status(id)
		if st.Status != detector.StatusAlive {
			b.Fatalf("worker %s is %v after its join", id, st.Status)
		}
		tickets[i] = wire.Ticket(st.Ticket)
	}
	return tickets
}

var benchWorkers = []int{100_000, 1_000_000}

// benchBase keeps every deadline far beyond the benchmark's run.
const benchBase = time.Hour

// heartbeatRounds holds one round of heartbeat packets, one per worker in a
// fixed shuffled order, and re-signs them with fresh sequence numbers for
// every round (one global sequence: it increases per worker too, so every
// packet passes its worker's replay window).
type heartbeatRounds struct {
	codec   *wire.Codec
	seq     uint64
	order   []int
	tickets []wire.Ticket
	pkts    []byte
	size    int
}

func newHeartbeatRounds(b *testing.B, ring *wire.Keyring, tickets []wire.Ticket) *heartbeatRounds {
	r := rand.New(rand.NewPCG(42, uint64(len(tickets))))
	// Sequence numbers start above the joins' (1).
	h := &heartbeatRounds{codec: wire.NewCodec(ring), seq: 1 << 40, order: r.Perm(len(tickets)), tickets: tickets}
	var m wire.Message
	m.Type = wire.TypeHeartbeat
	n, err := h.codec.Encode(make([]byte, wire.MaxMessageSize), &m)
	if err != nil {
		b.Fatal(err)
	}
	h.size = n
	h.pkts = make([]byte, n*len(tickets))
	h.sign(b)
	return h
}

// sign writes the next round.
func (h *heartbeatRounds) sign(b *testing.B) {
	m := wire.Message{Type: wire.TypeHeartbeat, Incarnation: 1}
	for i, w := range h.order {
		h.seq++
		m.Seq, m.Ticket = h.seq, h.tickets[w]
		if _, err := h.codec.Encode(h.pkts[i*h.size:], &m); err != nil {
			b.Fatal(err)
		}
	}
}

// packet returns the i-th packet of the run, signing a new round (with the
// timer stopped) when the current one is used up.
func (h *heartbeatRounds) packet(b *testing.B, i int) []byte {
	k := i % len(h.order)
	if k == 0 && i > 0 {
		b.StopTimer()
		h.sign(b)
		b.StartTimer()
	}
	return h.pkts[k*h.size : (k+1)*h.size]
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkNaiveHeartbeat: one op is one authenticated heartbeat through a
// manager's handling path, without the socket calls, at 100k and 1M
// workers, each heartbeat for the next worker of a shuffled round.
//
//   - impl=naive: Manager.handle of this package: decode and verify
//     (wire.Codec), read the clock, lock the mutex, ticket -> worker ID ->
//     map lookup, replay window, max(deadline, now+Base), time.Timer.Reset.
//   - impl=manager: the real manager's Manager.Receive, the path its reader
//     goroutines run, fed the same packets in batches of 64 (one read of
//     recvmmsg) with one clock reading per batch: decode and verify with the
//     same codec, the slot's replay window, the detector's lock-free
//     heartbeat (an atomic max-store on the wheel slot); no socket (replies
//     would go to a connection that discards them; a heartbeat has none).
//
// heap-B/worker is the live heap per worker after the joins (records,
// timers or wheel slots, indexes, replay windows; the manager's tables are
// sized for the detector's default capacity, so its figure falls with the
// fleet).
func BenchmarkNaiveHeartbeat(b *testing.B) {
	ring := testRing(b, 1)
	for _, n := range benchWorkers {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = "worker-" + strconv.Itoa(i)
		}
		b.Run(fmt.Sprintf("impl=naive/workers=%d", n), func(b *testing.B) {
			before := heapInUse()
			cfg := Config{Listen: "unused", Keyring: ring, Base: benchBase, Suspicion: benchBase}
			if err := cfg.validate(); err != nil {
				b.Fatal(err)
			}
			m := newManager(cfg, nil)
			tickets := make([]wire.Ticket, n)
			m.mu.Lock()
			for i, id := range ids {
				w := m.newWorkerLocked(id)
				m.admitLocked(m.now(), w, 1)
				tickets[i] = w.ticket
			}
			m.mu.Unlock()
			perWorker := float64(heapInUse()-before) / float64(n)
			defer m.shutdown()
			rounds := newHeartbeatRounds(b, ring, tickets)
			codec := wire.NewCodec(ring)
			var in wire.Message
			var replies [2]wire.Message
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if k := m.handle(codec, &in, &replies, rounds.packet(b, i)); k != 0 {
					b.Fatalf("heartbeat answered with %v", replies[0].Type)
				}
			}
			b.StopTimer()
			if got := m.Stats().Heartbeats; got != uint64(b.N) {
				b.Fatalf("%d heartbeats applied, want %d", got, b.N)
			}
			b.ReportMetric(perWorker, "heap-B/worker")
		})
		b.Run(fmt.Sprintf("impl=manager/workers=%d", n), func(b *testing.B) {
			before := heapInUse()
			m, err := manager.New(manager.Config{Conns: []transport.PacketConn{discardConn{}}, Detector: detector.DefaultConfig(), Keyring: ring,
				JoinFreshness: -1}) // the joins carry small fixed sequence numbers, not the wall clock
			if err != nil {
				b.Fatal(err)
			}
			tickets := joinManager(b, m, ring, ids)
			perWorker := float64(heapInUse()-before) / float64(n)
			rounds := newHeartbeatRounds(b, ring, tickets)
			batch := make([]transport.Message, benchBatch)
			before0 := m.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			for i, k := 0, 0; i < b.N; i += k {
				// A batch never spans two rounds: the next round is
				// signed into the same buffer.
				k = min(benchBatch, b.N-i, n-i%n)
				for j := range k {
					pkt := rounds.packet(b, i+j)
					batch[j] = transport.Message{Addr: benchFrom, Data: pkt, N: len(pkt)}
				}
				m.Receive(m.Now(), batch[:k])
			}
			b.StopTimer()
			s := m.Stats()
			if got := s.HeartbeatsFast + s.HeartbeatsSlow - before0.HeartbeatsFast - before0.HeartbeatsSlow; got != uint64(b.N) {
				b.Fatalf("%d heartbeats applied, want %d (replays %d)", got, b.N, s.Replays()-before0.Replays())
			}
			b.ReportMetric(perWorker, "heap-B/worker")
		})
	}
}
