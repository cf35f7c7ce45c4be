package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/transport/memnet"
	"github.com/swimwheel/swimwheel/wheel"
)

// fleetPlan is who does what in a fleet scenario.
type fleetPlan struct {
	n     int
	crash []int // stopped at crashAt
	long  []int // two long jobs each, reporting progress
	stuck int   // busy with the same progress from jobAt on
}

func newFleetPlan(n int) fleetPlan {
	p := fleetPlan{n: n, stuck: n - 1}
	// Crash every tenth worker: 10% of the fleet, spread over the slots.
	for i := 0; i < n; i += 10 {
		p.crash = append(p.crash, i)
	}
	for i := 5; i < n && len(p.long) < 10; i += 10 {
		p.long = append(p.long, i)
	}
	return p
}

func fleetSize() int {
	if raceEnabled {
		return 200
	}
	return 1000
}

// Scenario times on the virtual clock.
const (
	jobAt      = 2 * time.Second
	crashAt    = jobAt + 500*time.Millisecond
	jobStep    = 500 * time.Millisecond // a long job reports progress this often
	jobSteps   = maxExtensions          // requests per job: one cycle's grants
	jobGap     = 500 * time.Millisecond // between a job's end and the next job
	stuckEvery = 300 * time.Millisecond
	// The manager's LHM may reach its ceiling (8) in a mass crash (see
	// the package doc), stretching suspicion to 9s: the run lasts long
	// enough for the bound at any LHM.
	simEnd = jobAt + 20*time.Second
)

// runFleetOnMemnet runs the crash, long-job and stuck scenario on a memnet
// network with the given loss, and returns the manager's events.
func runFleetOnMemnet(t *testing.T, seed int64, loss float64) (*sim, fleetPlan) {
	t.Helper()
	plan := newFleetPlan(fleetSize())
	s := newSim(t, seed, plan.n, memnet.Link{Loss: loss, Delay: time.Millisecond, Jitter: 2 * time.Millisecond})
	s.run(jobAt)
	for i, c := range s.cores {
		if !c.State().Joined {
			t.Fatalf("seed %d: %s not joined by %v", seed, workerID(i), jobAt)
		}
	}
	for _, i := range plan.long {
		for job := range 2 {
			start := jobAt + time.Duration(job)*(jobSteps*jobStep+jobGap)
			s.at(start, func() { s.setBusy(i, true) })
			for k := range jobSteps {
				done := uint64(job*100 + k + 1)
				s.at(start+time.Duration(k)*jobStep, func() {
					s.extend(i, extension.Progress{HasCount: true, Completed: done, Total: 1000})
				})
			}
			s.at(start+jobSteps*jobStep, func() { s.setBusy(i, false) })
		}
	}
	s.at(jobAt, func() { s.setBusy(plan.stuck, true); s.stopAt[plan.stuck] = s.now })
	for at := jobAt; at < simEnd; at += stuckEvery {
		s.at(at, func() { s.extend(plan.stuck, extension.Progress{HasCount: true, Completed: 7, Total: 1000}) })
	}
	s.at(crashAt, func() {
		for _, i := range plan.crash {
			s.stop(i)
		}
	})
	s.run(simEnd)
	return s, plan
}

// checkFleet asserts the scenario's outcome from the manager's events:
// crashed and stuck workers evicted within their bounds, nobody else ever
// suspected, long jobs granted every step.
func checkFleet(t *testing.T, events eventLog, plan fleetPlan, stopAt func(i int) wheel.Time, slack time.Duration) {
	t.Helper()
	expect := slices.Clone(plan.crash)
	expect = append(expect, plan.stuck)
	var want []string
	for _, i := range expect {
		want = append(want, workerID(i))
	}
	slices.Sort(want)
	if got := events.workersWith(detector.EventSuspected); !slices.Equal(got, want) {
		t.Errorf("suspected workers: %d, want the %d stopped or stuck ones; unexpected: %v",
			len(got), len(want), diff(got, want))
	}
	if got := events.workersWith(detector.EventEvicted); !slices.Equal(got, want) {
		t.Errorf("evicted workers: %d, want the %d stopped or stuck ones; unexpected or missing: %v / %v",
			len(got), len(want), diff(got, want), diff(want, got))
	}
	for _, i := range expect {
		id := workerID(i)
		ev := events.of(detector.EventEvicted, id)
		if len(ev) != 1 {
			t.Errorf("%s: %d evictions, want 1", id, len(ev))
			continue
		}
		extra := time.Duration(0)
		if i == plan.stuck {
			extra = grant // the first request of the cycle is granted without evidence
		}
		at := ev[0].At
		lhm := events.maxLHMBefore(at)
		lo, hi := earliestEviction(stopAt(i))-wheel.Time(slack), evictionBound(stopAt(i), lhm, extra, slack)
		if at < lo || at > hi {
			t.Errorf("%s stopped at %v evicted at %v, want within [%v, %v] (LHM %d)",
				id, time.Duration(stopAt(i)), time.Duration(at), time.Duration(lo), time.Duration(hi), lhm)
		}
	}
	stuck := workerID(plan.stuck)
	if len(events.of(detector.EventExtended, stuck)) != 1 {
		t.Errorf("stuck worker granted %d times, want once (its first request of the cycle)", len(events.of(detector.EventExtended, stuck)))
	}
	if len(events.of(detector.EventDenied, stuck)) == 0 {
		t.Errorf("stuck worker was never denied")
	}
	for _, i := range plan.long {
		id := workerID(i)
		if got := len(events.of(detector.EventExtended, id)); got != 2*jobSteps {
			t.Errorf("%s: %d grants, want %d (every step of two jobs)", id, got, 2*jobSteps)
		}
		for _, d := range events.of(detector.EventDenied, id) {
			// A retry whose first request was granted but whose
			// response was lost is judged again: no progress since, or
			// (after the cycle's last grant) exhausted.
			if d.Denial != extension.NoProgress && d.Denial != extension.Exhausted {
				t.Errorf("%s denied %v at %v", id, d.Denial, time.Duration(d.At))
			}
		}
	}
}

func diff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	if len(out) > 10 {
		out = append(out[:10], "... "+strconv.Itoa(len(out)-10)+" more")
	}
	return out
}

func TestFleetOnMemnetIsDeterministic(t *testing.T) {
	const seed, loss = 7, 0.03
	s1, plan := runFleetOnMemnet(t, seed, loss)
	checkFleet(t, s1.events, plan, func(i int) wheel.Time { return wheel.Time(s1.stopAt[i]) }, s1.maxDelay())
	s2, _ := runFleetOnMemnet(t, seed, loss)
	a, b := s1.events.lines(), s2.events.lines()
	if !slices.Equal(a, b) {
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("same seed, different runs: event %d of %d/%d:\n%s\n%s", i, len(a), len(b), a[i], b[i])
			}
		}
		t.Fatalf("same seed, different runs: %d vs %d events", len(a), len(b))
	}
	st := s1.net.Stats()
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for _, i := range plan.crash {
		d := time.Duration(s1.events.of(detector.EventEvicted, workerID(i))[0].At) - s1.stopAt[i]
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("seed %d loss %.0f%%: %d events, %d datagrams sent, %d lost, max LHM %d, crash to eviction %v..%v",
		seed, loss*100, len(a), st.Sent, st.Dropped[memnet.DropLoss], s1.events.maxLHMBefore(wheel.Time(simEnd)), lo, hi)
}

func TestFleetOnMemnetWithLoss(t *testing.T) {
	for _, tc := range []struct {
		seed int64
		loss float64
	}{{11, 0.01}, {12, 0.05}} {
		t.Run(strconv.Itoa(int(tc.loss*100))+"%", func(t *testing.T) {
			s, plan := runFleetOnMemnet(t, tc.seed, tc.loss)
			checkFleet(t, s.events, plan, func(i int) wheel.Time { return wheel.Time(s.stopAt[i]) }, s.maxDelay())
			t.Logf("max LHM %d, %d events", s.events.maxLHMBefore(wheel.Time(simEnd)), len(s.events))
		})
	}
}
