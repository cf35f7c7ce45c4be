package detector

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/wheel"
)

// TestHeartbeatFastBatchEquivalence drives two identical detectors through
// the same random life (joins, leaves, extensions, heartbeats of new
// incarnations, probing, suspicion, eviction and reuse of slots) and feeds
// the same random heartbeat batches to one through HeartbeatFastBatch and to
// the other through HeartbeatFast, element by element. The batches mix
// current tickets with stale ones (slots freed and reused), forged ones
// (wrong generation, slot beyond the capacity), wrong incarnations,
// duplicates, and workers whose slot is not pushable (probing, suspect,
// dead, left, extended). Every answer, every deadline and every event must
// be the same.
func TestHeartbeatFastBatchEquivalence(t *testing.T) {
	mutate := func(c *Config) {
		c.MaxWorkers = 96
		c.Shards = 2
		c.Probing = true
		c.Retention = 40 * time.Second
		c.Base = 20 * time.Second
		c.Suspicion = 4 * time.Second
		c.SuspicionMin = time.Second
	}
	a, b := newRig(t, mutate), newRig(t, mutate)
	rng := rand.New(rand.NewPCG(11, 12))
	var tickets []wheel.Ticket // every ticket ever handed out
	// A third of the workers fall silent after joining: they are probed,
	// suspected, evicted and forgotten, and their slots reused, while
	// stray heartbeats of theirs still arrive now and then.
	silent := map[wheel.Ticket]bool{}
	ids := 0
	both := func(f func(r *rig)) { f(a); f(b) }

	joinNew := func() {
		id := fmt.Sprintf("w%d", ids)
		ids++
		inc := uint64(rng.IntN(3))
		ta, oa := a.d.Join(a.now, id, inc)
		tb, ob := b.d.Join(b.now, id, inc)
		require.Equal(t, oa, ob)
		require.Equal(t, ta, tb)
		if oa == Accepted {
			tickets = append(tickets, ta)
			silent[ta] = rng.IntN(3) == 0
		}
	}
	for range 80 {
		joinNew()
	}

	var fast, refused int
	for round := range 300 {
		now := a.now + wheel.Time(rng.Int64N(int64(time.Second)))
		both(func(r *rig) { r.advance(now) })

		// Owner operations, the same on both.
		for range rng.IntN(4) {
			tk := tickets[rng.IntN(len(tickets))]
			switch rng.IntN(6) {
			case 0:
				joinNew()
			case 1:
				inc := a.d.StatusOf(tk).Inc + uint64(rng.IntN(2))
				require.Equal(t, a.d.Leave(now, tk, inc), b.d.Leave(now, tk, inc))
			case 2, 3:
				req := counts(uint64(round), 0)
				inc := a.d.StatusOf(tk).Inc
				require.Equal(t, a.d.Extend(now, tk, inc, req), b.d.Extend(now, tk, inc, req))
			case 4:
				inc := a.d.StatusOf(tk).Inc + 1
				require.Equal(t, a.d.Heartbeat(now, tk, inc), b.d.Heartbeat(now, tk, inc))
			default:
				// A re-join of a worker that was evicted or left reuses
				// its ticket (or, once forgotten, a new one).
				joinNew()
			}
		}

		// The batch.
		hbs := make([]FastHeartbeat, rng.IntN(2*fastGroup+10))
		for i := range hbs {
			tk := tickets[rng.IntN(len(tickets))]
			for silent[tk] && rng.IntN(16) != 0 {
				tk = tickets[rng.IntN(len(tickets))]
			}
			if i > 0 && rng.IntN(6) == 0 {
				tk = hbs[rng.IntN(i)].Ticket // the same worker twice
			}
			inc := a.d.StatusOf(tk).Inc
			switch rng.IntN(12) {
			case 0:
				tk.Gen += 2 // a later life of the slot
			case 1:
				tk = wheel.Ticket{Slot: uint32(96 + rng.IntN(100000)), Gen: 1} // beyond the capacity
			case 2:
				inc++
			case 3:
				inc = uint64(rng.IntN(3))
			}
			hbs[i] = FastHeartbeat{Ticket: tk, Inc: inc, OK: rng.IntN(2) == 0}
		}
		at := now + wheel.Time(rng.Int64N(int64(time.Second)))
		n := a.d.HeartbeatFastBatch(at, hbs)
		want := 0
		for i, hb := range hbs {
			ok := b.d.HeartbeatFast(at, hb.Ticket, hb.Inc)
			require.Equal(t, ok, hb.OK, "round %d heartbeat %d (%+v)", round, i, hb)
			if ok {
				want++
				fast++
			} else {
				refused++
			}
		}
		require.Equal(t, want, n)
		// The refused ones go to the owner, on both.
		for _, hb := range hbs {
			if !hb.OK {
				require.Equal(t, a.d.Heartbeat(at, hb.Ticket, hb.Inc), b.d.Heartbeat(at, hb.Ticket, hb.Inc))
			}
		}
		for _, tk := range tickets {
			require.Equal(t, b.d.StatusOf(tk), a.d.StatusOf(tk), "round %d ticket %v", round, tk)
			da, oka := a.d.wheel.Deadline(tk)
			db, okb := b.d.wheel.Deadline(tk)
			require.Equal(t, okb, oka)
			require.Equal(t, db, da)
		}
	}
	require.Equal(t, b.eventBatches, a.eventBatches)
	require.Equal(t, b.sendBatches, a.sendBatches)
	require.NotZero(t, fast)
	require.NotZero(t, refused)
	kinds := map[EventKind]int{}
	for _, evs := range a.eventBatches {
		for _, ev := range evs {
			kinds[ev.Kind]++
		}
	}
	t.Logf("%d heartbeats applied, %d refused; events %v", fast, refused, kinds)
}

// TestHeartbeatFastBatchConcurrent: goroutines send heartbeat batches (with
// duplicates) while the owner advances, extends and handles the refusals.
// No worker that heartbeat within every base interval is suspected, and
// each deadline is the latest that any heartbeat or grant set: no push of a
// batch was lost to a concurrent seal or re-arm.
func TestHeartbeatFastBatchConcurrent(t *testing.T) {
	const (
		beaters = 3
		workers = 400
		rounds  = 30
	)
	step := 5 * sec
	r := newRig(t, func(c *Config) { c.Shards = 4; c.Probing = true })
	d := r.d
	tickets := make([]wheel.Ticket, workers)
	for i := range tickets {
		tickets[i] = r.join(fmt.Sprintf("w%04d", i), 0)
	}
	pushed := make([][]wheel.Time, beaters) // per beater, the latest now it sent per worker
	for g := range pushed {
		pushed[g] = make([]wheel.Time, workers)
	}
	grantMax := make([]wheel.Time, workers)
	type fwd struct {
		i   int
		now wheel.Time
	}
	forwarded := make(chan fwd, beaters*workers)
	rng := rand.New(rand.NewPCG(3, 4))
	progress := uint64(0)
	for round := 1; round <= rounds; round++ {
		now := wheel.Time(round) * step
		var wg sync.WaitGroup
		for g := range beaters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rg := rand.New(rand.NewPCG(uint64(round), uint64(g)))
				order := rg.Perm(workers)
				for len(order) > 0 {
					var hbs [fastGroup + 16]FastHeartbeat
					var idx [len(hbs)]int
					k := min(len(order), 1+rg.IntN(len(hbs)))
					at := now + wheel.Time(rg.Int64N(int64(step/ms)))*ms
					for j := range k {
						idx[j] = order[j]
						if j > 0 && rg.IntN(8) == 0 {
							idx[j] = idx[rg.IntN(j)]
						}
						hbs[j] = FastHeartbeat{Ticket: tickets[idx[j]]}
						pushed[g][idx[j]] = max(pushed[g][idx[j]], at)
					}
					order = order[k:]
					d.HeartbeatFastBatch(at, hbs[:k])
					for j, hb := range hbs[:k] {
						if !hb.OK {
							forwarded <- fwd{idx[j], at}
						}
					}
				}
			}()
		}
		r.advance(now)
		for range 20 {
			i := rng.IntN(workers)
			at := now + wheel.Time(rng.Int64N(int64(step/ms)))*ms
			progress++
			if dec := d.Extend(at, tickets[i], 0, counts(progress, 0)); dec.Granted {
				grantMax[i] = max(grantMax[i], wheel.Time(dec.Deadline))
			}
		}
		wg.Wait()
		for len(forwarded) > 0 {
			f := <-forwarded
			require.Equal(t, Accepted, d.Heartbeat(f.now, tickets[f.i], 0))
		}
	}
	for _, evs := range r.eventBatches {
		for _, ev := range evs {
			require.NotEqual(t, EventSuspected, ev.Kind, "%s suspected though it heartbeat every round", ev.Worker)
		}
	}
	for i := range workers {
		want := grantMax[i]
		for g := range beaters {
			want = max(want, pushed[g][i]+wheel.Time(d.cfg.Base))
		}
		require.Equal(t, want, r.wheelDeadline(tickets[i]), "worker %d: a push was lost", i)
	}
}

func TestHeartbeatFastBatchAllocs(t *testing.T) {
	r := newRig(t)
	hbs := make([]FastHeartbeat, 200)
	for i := range hbs {
		hbs[i].Ticket = r.join(fmt.Sprintf("w%d", i), 0)
	}
	allocs := testing.AllocsPerRun(100, func() { r.d.HeartbeatFastBatch(sec, hbs) })
	require.Zero(t, allocs)
	require.Equal(t, len(hbs), r.d.HeartbeatFastBatch(2*sec, hbs))
	require.Zero(t, r.d.HeartbeatFastBatch(3*sec, nil))
}
