package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/agent"
	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/manager"
	"github.com/swimwheel/swimwheel/transport"
	"github.com/swimwheel/swimwheel/wheel"
	"github.com/swimwheel/swimwheel/wire"
)

// udpConn is an agent's socket: a net.UDPConn in the netpoller, one
// datagram per call, so that a thousand agents park no OS thread each.
type udpConn struct {
	uc    *net.UDPConn
	local netip.AddrPort
	rmu   sync.Mutex // guards buf
	buf   []byte
}

func listenUDP(t testing.TB) *udpConn {
	t.Helper()
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return &udpConn{uc: uc, local: uc.LocalAddr().(*net.UDPAddr).AddrPort(), buf: make([]byte, 2048)}
}

func (c *udpConn) ReadBatch(ms []transport.Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, from, err := c.uc.ReadFromUDPAddrPort(c.buf)
	if err != nil {
		return 0, err
	}
	ms[0] = transport.Message{Addr: netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), Data: c.buf[:n], N: n}
	return 1, nil
}

func (c *udpConn) WriteBatch(ms []transport.Message) (int, error) {
	sent := 0
	var first error
	for _, m := range ms {
		if _, err := c.uc.WriteToUDPAddrPort(m.Data, m.Addr); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		sent++
	}
	return sent, first
}

func (c *udpConn) LocalAddr() netip.AddrPort { return c.local }
func (c *udpConn) Close() error              { return c.uc.Close() }

// recorder keeps the manager's events and wakes waiters.
type recorder struct {
	mu     sync.Mutex
	events eventLog
	wake   chan struct{}
}

func (r *recorder) on(evs []detector.Event) {
	r.mu.Lock()
	r.events = append(r.events, evs...)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() eventLog {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(eventLog(nil), r.events...)
}

// waitFor blocks until cond holds over the events so far, or fails the test
// at the deadline. It wakes on every batch of events.
func (r *recorder) waitFor(t *testing.T, deadline time.Time, what string, cond func(eventLog) bool) {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok := cond(r.events)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.wake:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// udpSlack is the real-time allowance of the loopback bound: the time from
// an agent's last heartbeat (sent before its Run returned, when its stop
// time is read) to the manager reader's stamp of it. Loopback delivery
// takes microseconds; the rest is the reader thread waiting for a CPU and a
// Go P on two cores shared with the agents' goroutines, and for the race
// detector's ten-fold slowdown. 100ms (300ms with -race) is several times
// the scheduling delays seen here; the test logs the manager's own timer
// lag (TickLagMax) beside it.
func udpSlack() time.Duration {
	if raceEnabled {
		return 300 * time.Millisecond
	}
	return 100 * time.Millisecond
}

func TestFleetOverLoopbackUDP(t *testing.T) {
	plan := newFleetPlan(fleetSize())
	ring := fleetRing(t)
	rec := &recorder{wake: make(chan struct{}, 1)}
	m, err := manager.New(manager.Config{
		Listen:            "127.0.0.1:0",
		Detector:          detectorConfig(1),
		Keyring:           ring,
		HeartbeatInterval: hbInterval,
		OnEvents:          rec.on,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mgrDone := make(chan error, 1)
	go func() { mgrDone <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-mgrDone; err != nil {
			t.Errorf("manager Run: %v", err)
		}
	}()
	start := time.Now()

	agents := make([]*agent.Agent, plan.n)
	stops := make([]context.CancelFunc, plan.n)
	done := make([]chan error, plan.n)
	for i := range agents {
		a, err := agent.New(agent.Config{
			ID: workerID(i), Manager: m.Addr(), Keyring: ring,
			JoinBackoffMin: joinBackoffMin, JoinBackoffMax: joinBackoffMax,
			RelayTimeout: relayTimeout, ExtensionRetry: extRetry,
			Seed: int64(i), Conn: listenUDP(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = a
		actx, stop := context.WithCancel(ctx)
		stops[i], done[i] = stop, make(chan error, 1)
		go func() { done[i] <- a.Run(actx) }()
	}
	defer func() {
		for i := range agents {
			stops[i]()
			if err := <-done[i]; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("%s Run: %v", workerID(i), err)
			}
		}
	}()
	rec.waitFor(t, time.Now().Add(20*time.Second), "every agent to join", func(l eventLog) bool {
		return l.count(detector.EventJoined) >= plan.n
	})
	joined := time.Since(start)

	// Long jobs: two each, a progress report every jobStep, paced by a
	// ticker; each report must be granted.
	type report struct {
		worker string
		d      agent.Decision
		err    error
	}
	reports := make(chan report, len(plan.long)*2*jobSteps)
	var jobs sync.WaitGroup
	for _, i := range plan.long {
		jobs.Add(1)
		go func() {
			defer jobs.Done()
			a := agents[i]
			tick := time.NewTicker(jobStep)
			defer tick.Stop()
			for job := range 2 {
				a.SetBusy(true)
				for k := range jobSteps {
					if k > 0 {
						<-tick.C
					}
					rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
					d, err := a.RequestExtension(rctx, extension.Progress{HasCount: true, Completed: uint64(job*100 + k + 1), Total: 1000}, "job")
					rcancel()
					reports <- report{workerID(i), d, err}
				}
				<-tick.C
				a.SetBusy(false)
				<-tick.C // a few heartbeats between jobs
			}
		}()
	}
	jobsDone := make(chan struct{})
	go func() { jobs.Wait(); close(jobsDone) }()

	// The stuck worker: busy, the same progress every stuckEvery.
	stopAt := make([]wheel.Time, plan.n)
	stuck := agents[plan.stuck]
	stuck.SetBusy(true)
	stopAt[plan.stuck] = m.Now() // its last heartbeat was before
	stuckDone := make(chan struct{})
	go func() {
		defer close(stuckDone)
		tick := time.NewTicker(stuckEvery)
		defer tick.Stop()
		for {
			rctx, rcancel := context.WithTimeout(ctx, time.Second)
			_, _ = stuck.RequestExtension(rctx, extension.Progress{HasCount: true, Completed: 7, Total: 1000}, "stuck")
			rcancel()
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { <-stuckDone }()
	defer cancel() // before the deferred waits above

	// Crash: each Run returns (no packet in or out from then on) before its
	// stop time is read, so the stop time follows its last heartbeat.
	for _, i := range plan.crash {
		stops[i]()
		<-done[i]
		done[i] <- nil // for the deferred wait
		stopAt[i] = m.Now()
	}
	crashed := m.Now()

	// Every crashed and the stuck worker evicted, within the bound at the
	// highest LHM the detector may reach; the checks below use the LHM it
	// did reach.
	maxLHM := detector.DefaultConfig().MaxLHM
	latest := evictionBound(crashed, maxLHM, grant, udpSlack())
	deadline := time.Now().Add(time.Duration(latest-m.Now()) + 5*time.Second)
	want := len(plan.crash) + 1
	rec.waitFor(t, deadline, fmt.Sprintf("%d evictions", want), func(l eventLog) bool {
		return l.count(detector.EventEvicted) >= want
	})
	select {
	case <-jobsDone:
	case <-time.After(time.Until(deadline)):
		t.Fatal("long jobs did not finish")
	}
	close(reports)
	events := rec.snapshot()
	checkFleet(t, events, plan, func(i int) wheel.Time { return stopAt[i] }, udpSlack())
	for r := range reports {
		if r.err != nil {
			t.Errorf("%s: extension request: %v", r.worker, r.err)
		} else if !r.d.Granted && r.d.Denial != wire.DenialNoProgress && r.d.Denial != wire.DenialExhausted {
			// Only a retry after a lost response may be denied (see
			// checkFleet); the manager's grants are counted there.
			t.Errorf("%s: extension denied: %+v", r.worker, r.d)
		}
	}
	for i, a := range agents {
		if st := a.State(); !slicesContains(plan.crash, i) && i != plan.stuck && (st.Evictions != 0 || !st.Joined) {
			t.Errorf("%s: %+v, want joined and never evicted", workerID(i), st)
		}
	}
	st := m.Stats()
	var lat []time.Duration
	for _, i := range plan.crash {
		lat = append(lat, time.Duration(events.of(detector.EventEvicted, workerID(i))[0].At-stopAt[i]))
	}
	t.Logf("%d agents joined in %v; crash to eviction %v..%v; max LHM %d; manager timer lag max %v; packets in %d out %d, bad %d, kernel drops %d; total %v",
		plan.n, joined.Round(time.Millisecond), minDur(lat), maxDur(lat), events.maxLHMBefore(m.Now()),
		st.TickLagMax, st.PacketsIn, st.PacketsOut, st.BadPackets(), st.Transport.Dropped, time.Since(start).Round(time.Millisecond))
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func minDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m
}

func maxDur(ds []time.Duration) time.Duration {
	m := ds[0]
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
