package naive

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

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
	h := &heartbeatRounds{codec: wire.NewCodec(ring), order: r.Perm(len(tickets)), tickets: tickets}
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
//   - impl=swimwheel: what the real manager's reader does with a heartbeat
//     (manager/ingest.go): decode and verify with the same codec, the
//     slot's replay window, detector.HeartbeatFast (one atomic max-store on
//     the wheel slot), reading the clock once per 64 packets as the reader
//     does once per received batch.
//
// heap-B/worker is the live heap per worker after the joins (records,
// timers or wheel slots, indexes, replay windows).
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
		b.Run(fmt.Sprintf("impl=swimwheel/workers=%d", n), func(b *testing.B) {
			before := heapInUse()
			cfg := detector.DefaultConfig()
			cfg.Base, cfg.Suspicion = benchBase, benchBase
			d, err := detector.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			epoch := time.Now()
			tickets := make([]wire.Ticket, n)
			windows := make([]wire.ReplayWindow, n)
			for i, id := range ids {
				t, o := d.Join(wheel.Time(time.Since(epoch)), id, 1)
				if o != detector.Accepted || int(t.Slot) >= n {
					b.Fatalf("join %s: %v, slot %d", id, o, t.Slot)
				}
				tickets[i] = wire.Ticket(t)
			}
			perWorker := float64(heapInUse()-before) / float64(n)
			rounds := newHeartbeatRounds(b, ring, tickets)
			codec := wire.NewCodec(ring)
			var in wire.Message
			var now wheel.Time
			applied := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i&63 == 0 {
					now = wheel.Time(time.Since(epoch))
				}
				if err := codec.Decode(rounds.packet(b, i), &in); err != nil {
					b.Fatal(err)
				}
				t := wheel.Ticket(in.Ticket)
				if !windows[t.Slot].Check(in.Seq) {
					b.Fatal("replay window refused a fresh heartbeat")
				}
				if d.HeartbeatFast(now, t, in.Incarnation) {
					applied++
				}
			}
			b.StopTimer()
			if applied != b.N {
				b.Fatalf("%d heartbeats applied, want %d", applied, b.N)
			}
			b.ReportMetric(perWorker, "heap-B/worker")
		})
	}
}
