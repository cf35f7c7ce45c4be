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

// TestHeartbeatFastConcurrent: several goroutines call HeartbeatFast for
// overlapping ranges of workers while the owner goroutine runs Advance,
// Heartbeat (for the fast path's refusals and for its own workers) and
// Extend. At the end no worker that kept heartbeating within base was
// suspected, and every deadline is the max of what was pushed: no push was
// lost to a concurrent seal, re-arm or re-filing.
func TestHeartbeatFastConcurrent(t *testing.T) {
	const (
		beaters  = 4
		perRange = 300 // each beater's range overlaps the next one's by half
		silent   = 50  // never heartbeat: suspected and evicted meanwhile
		rounds   = 40
	)
	step := 5 * sec // base is 30s: every worker is beaten at least every round
	r := newRig(t, func(c *Config) { c.Shards = 4; c.Probing = true; c.Retention = 20 * time.Second })
	d := r.d
	n := perRange/2*(beaters+1) + silent
	tickets := make([]wheel.Ticket, n)
	for i := range tickets {
		tickets[i] = r.join(fmt.Sprintf("w%04d", i), 0)
	}
	beaten := n - silent
	// Per beater, per worker, the latest now it pushed (fast or forwarded).
	pushed := make([][]wheel.Time, beaters)
	for g := range pushed {
		pushed[g] = make([]wheel.Time, beaten)
	}
	grantMax := make([]wheel.Time, beaten) // owner's: latest granted deadline
	ownMax := make([]wheel.Time, beaten)   // owner's: latest now of its own heartbeats
	type fwd struct {
		i   int
		now wheel.Time
	}
	forwarded := make(chan fwd, 1024)
	rng := rand.New(rand.NewPCG(7, 8))
	progress := uint64(0)
	var fastOK, fastRefused int
	var mu sync.Mutex

	for round := 1; round <= rounds; round++ {
		now := wheel.Time(round) * step
		var wg sync.WaitGroup
		for g := range beaters {
			wg.Add(1)
			go func(g int, seed uint64) {
				defer wg.Done()
				rg := rand.New(rand.NewPCG(seed, uint64(g)))
				lo := g * perRange / 2
				ok, refused := 0, 0
				for k := range perRange {
					i := lo + (k*7+int(seed))%perRange
					at := now + wheel.Time(rg.Int64N(int64(step/ms)))*ms
					pushed[g][i] = max(pushed[g][i], at)
					if d.HeartbeatFast(at, tickets[i], 0) {
						ok++
						continue
					}
					refused++
					forwarded <- fwd{i, at}
				}
				mu.Lock()
				fastOK += ok
				fastRefused += refused
				mu.Unlock()
			}(g, uint64(round))
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		// The owner's loop, concurrent with the beaters.
		r.advance(now)
		for k := 0; k < 20; k++ {
			i := rng.IntN(beaten)
			at := now + wheel.Time(rng.Int64N(int64(step/ms)))*ms
			if k%2 == 0 {
				progress++
				dec := d.Extend(at, tickets[i], 0, counts(progress, 0))
				require.NotEqual(t, "not-alive", dec.Reason.String(), "worker %d at %v", i, at)
				if dec.Granted {
					grantMax[i] = max(grantMax[i], wheel.Time(dec.Deadline))
				}
			} else {
				ownMax[i] = max(ownMax[i], at)
				require.Equal(t, Accepted, d.Heartbeat(at, tickets[i], 0))
			}
		}
		for running := true; running; {
			select {
			case f := <-forwarded:
				require.Equal(t, Accepted, d.Heartbeat(f.now, tickets[f.i], 0))
			case <-done:
				running = false
			}
		}
		for len(forwarded) > 0 {
			f := <-forwarded
			require.Equal(t, Accepted, d.Heartbeat(f.now, tickets[f.i], 0))
		}
	}
	require.NotZero(t, fastOK)
	t.Logf("fast path: %d applied, %d handed to the owner", fastOK, fastRefused)

	for _, e := range r.eventBatches {
		for _, ev := range e {
			if ev.Kind == EventSuspected || ev.Kind == EventEvicted {
				var i int
				_, err := fmt.Sscanf(ev.Worker, "w%04d", &i)
				require.NoError(t, err)
				require.GreaterOrEqual(t, i, beaten, "%s was %s though it heartbeat every round", ev.Worker, ev.Kind)
			}
		}
	}
	for i := range beaten {
		want := ownMax[i] + wheel.Time(d.cfg.Base)
		for g := range beaters {
			if pushed[g][i] > 0 {
				want = max(want, pushed[g][i]+wheel.Time(d.cfg.Base))
			}
		}
		want = max(want, grantMax[i])
		st := d.StatusOf(tickets[i])
		require.Equal(t, StatusAlive, st.Status, "worker %d", i)
		require.Equal(t, want, st.Deadline, "worker %d: a push was lost", i)
		require.Equal(t, want, r.wheelDeadline(tickets[i]))
	}
	for i := beaten; i < n; i++ {
		require.NotEqual(t, StatusAlive, d.StatusOf(tickets[i]).Status)
	}
}
