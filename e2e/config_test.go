package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// Timings of every test here (see the package doc).
const (
	tick           = 10 * time.Millisecond
	base           = time.Second
	hbInterval     = 200 * time.Millisecond
	suspicion      = time.Second
	probeTimeout   = 100 * time.Millisecond
	relayTimeout   = 50 * time.Millisecond
	extRetry       = 100 * time.Millisecond
	grant          = time.Second // every grant: max(MinGrant 1s, base/2^k)
	maxExtensions  = 5
	joinBackoffMin = 50 * time.Millisecond
	joinBackoffMax = time.Second
)

var (
	fleetKey  = []byte("0123456789abcdef0123456789abcdef")
	forgedKey = []byte("fedcba9876543210fedcba9876543210")
)

func fleetRing(t testing.TB) *wire.Keyring {
	t.Helper()
	ring, err := wire.NewKeyring(1, fleetKey)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

func detectorConfig(seed uint64) detector.Config {
	cfg := detector.DefaultConfig()
	cfg.Tick = tick
	cfg.Base = base
	cfg.MinGrant = grant
	cfg.MaxExtensions = maxExtensions
	cfg.Suspicion = suspicion
	cfg.SuspicionMin = suspicion / 2
	cfg.Probing = true
	cfg.ProbeTimeout = probeTimeout
	cfg.Indirect = 3
	cfg.Brake = 0.25
	cfg.BrakeStop = 0.5
	cfg.Seed = seed
	return cfg
}

// evictionBound is the latest time (manager clock) at which a worker that
// stopped at `stopped` may be evicted: see the package doc. extra is the
// time extensions granted after the stop may add.
func evictionBound(stopped wheel.Time, lhm int, extra, slack time.Duration) wheel.Time {
	l := time.Duration(lhm + 1)
	return stopped + wheel.Time(base+extra+2*probeTimeout*l+suspicion*l+3*tick+slack)
}

// earliestEviction is the earliest time at which a worker that stopped at
// `stopped` may be evicted: its last heartbeat was at most one interval
// before the stop, and suspicion lasts at least one window.
func earliestEviction(stopped wheel.Time) wheel.Time {
	return stopped + wheel.Time(base-hbInterval+suspicion)
}

// eventLog indexes a run's events.
type eventLog []detector.Event

func (l eventLog) of(kind detector.EventKind, worker string) []detector.Event {
	var out []detector.Event
	for _, e := range l {
		if e.Kind == kind && e.Worker == worker {
			out = append(out, e)
		}
	}
	return out
}

func (l eventLog) count(kind detector.EventKind) int {
	n := 0
	for _, e := range l {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// maxLHMBefore is the highest LHM reported at or before at.
func (l eventLog) maxLHMBefore(at wheel.Time) int {
	m := 0
	for _, e := range l {
		if e.Kind == detector.EventLHM && e.At <= at {
			m = max(m, e.LHM)
		}
	}
	return m
}

func (l eventLog) workersWith(kind detector.EventKind) []string {
	var out []string
	for _, e := range l {
		if e.Kind == kind && !slices.Contains(out, e.Worker) {
			out = append(out, e.Worker)
		}
	}
	slices.Sort(out)
	return out
}

// lines renders the events one a line, for comparing runs.
func (l eventLog) lines() []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = fmt.Sprintf("%d %s %s t=%v inc=%d cause=%v denial=%v grant=%v dl=%d rem=%d warn=%v brake=%v lhm=%d",
			e.At, e.Kind, e.Worker, e.Ticket, e.Inc, e.Cause, e.Denial, e.Grant, e.Deadline, e.Remaining, e.Warning, e.Brake, e.LHM)
	}
	return out
}

func workerID(i int) string { return fmt.Sprintf("worker-%04d", i) }
