package fleet

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/swimwheel/swimwheel/detector"
)

// recorder samples the run once a second (live line, timeline) and builds
// the report.
type recorder struct {
	f        *Fleet
	mgr      managerConn
	opt      Options
	measured bool // the manager runs in our child: its stats and CPU are real

	t0       time.Time
	joinTime time.Duration
	c0       counts
	m0       ManagerStats
	u0, s0   time.Duration
	mb0, mt0 time.Duration // machine busy and total CPU

	timeline []Sample
	prevAt   time.Time
	prevHB   uint64
	prevCPU  time.Duration
	last     ManagerStats
	lines    int
}

func newRecorder(f *Fleet, mgr managerConn, opt Options) *recorder {
	_, isRemote := mgr.(remote)
	return &recorder{f: f, mgr: mgr, opt: opt, measured: !isRemote}
}

// waitJoined waits until every worker was welcomed.
func (r *recorder) waitJoined(ctx context.Context, limit time.Duration) error {
	f := r.f
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	r.prevAt = f.start
	nextSample := f.start.Add(time.Second)
	for f.joined.Load() < int64(len(f.workers)) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			if now.Sub(f.start) > limit {
				return fmt.Errorf("fleet: only %d of %d workers joined in %v: is the manager at %v reachable, and does it use the same key?",
					f.joined.Load(), len(f.workers), limit.Round(time.Second), f.mgr)
			}
			if now.After(nextSample) {
				nextSample = nextSample.Add(time.Second)
				if err := r.sample(now); err != nil {
					return err
				}
			}
		}
	}
	now := time.Now()
	r.joinTime = now.Sub(f.start)
	// Publish t0 first: from here on the sockets apply the fault plan.
	f.t0.Store(int64(now.Sub(f.start)) + 1)
	r.t0 = now
	f.ev.setStart(now)
	r.c0 = f.snapshot()
	m0, err := r.mgr.Stats()
	if err != nil {
		return err
	}
	r.m0 = m0
	r.u0, r.s0 = selfCPU()
	r.mb0, r.mt0 = machineCPU()
	return nil
}

// measure runs the plan's duration, sampling once a second.
func (r *recorder) measure(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := r.t0.Add(r.f.cfg.Duration)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			if err := r.sample(now); err != nil {
				return err
			}
			if !now.Before(end) {
				if r.opt.Live != nil && r.opt.Terminal {
					fmt.Fprintln(r.opt.Live)
				}
				return nil
			}
		}
	}
}

// Sample is one second of the timeline.
type Sample struct {
	T          float64 `json:"t"` // seconds since every worker joined (negative while joining)
	Alive      int     `json:"alive"`
	Suspect    int     `json:"suspect"`
	Evicted    uint64  `json:"evicted"`
	Heartbeats float64 `json:"heartbeats_per_s"`
	ManagerCPU float64 `json:"manager_cpu"`  // share of one core
	Drops      uint64  `json:"kernel_drops"` // at the manager's sockets, so far
}

func (r *recorder) sample(now time.Time) error {
	f := r.f
	c := f.snapshot()
	st, err := r.mgr.Stats()
	if err != nil {
		return err
	}
	dt := now.Sub(r.prevAt).Seconds()
	s := Sample{
		Alive: st.Alive, Suspect: st.Suspect, Evicted: f.ev.evictedTotal(),
		Heartbeats: float64(c.heartbeats-r.prevHB) / dt,
		Drops:      st.KernelDrops,
	}
	if !r.t0.IsZero() {
		s.T = now.Sub(r.t0).Seconds()
	}
	cpu := st.UserCPU + st.SysCPU
	if r.measured {
		s.ManagerCPU = (cpu - r.prevCPU).Seconds() / dt
	}
	r.prevAt, r.prevHB, r.prevCPU, r.last = now, c.heartbeats, cpu, st
	if !r.t0.IsZero() {
		r.timeline = append(r.timeline, s)
	}
	r.live(now, s, c)
	return nil
}

func (r *recorder) live(now time.Time, s Sample, c counts) {
	if r.opt.Live == nil {
		return
	}
	f := r.f
	var b strings.Builder
	if r.t0.IsZero() {
		fmt.Fprintf(&b, "%5.0fs joining %s/%s", now.Sub(f.start).Seconds(), group(uint64(f.joined.Load())), group(uint64(len(f.workers))))
	} else {
		fmt.Fprintf(&b, "%5.0fs", s.T)
	}
	granted, denied := uint64(0), uint64(0)
	for i := range c.extGranted {
		granted += c.extGranted[i]
		denied += c.extDenied[i]
	}
	fmt.Fprintf(&b, "  hb/s %s  alive %s  suspect %s  evicted %s  ext +%s/-%s",
		group(uint64(s.Heartbeats+0.5)), group(uint64(s.Alive)), group(uint64(s.Suspect)), group(s.Evicted), group(granted), group(denied))
	if r.measured {
		fmt.Fprintf(&b, "  mgr cpu %3.0f%%", 100*s.ManagerCPU)
		if s.Drops > 0 {
			fmt.Fprintf(&b, "  kernel drops %s", group(s.Drops))
		}
	}
	if r.opt.Terminal {
		fmt.Fprintf(r.opt.Live, "\r%s\x1b[K", b.String())
	} else {
		fmt.Fprintln(r.opt.Live, b.String())
	}
	r.lines++
}

// finish builds the report from the last figures.
func (r *recorder) finish() (*Report, error) {
	f := r.f
	end := time.Now()
	c := f.snapshot()
	st, err := r.mgr.Stats()
	if err != nil {
		return nil, err
	}
	u1, s1 := selfCPU()
	mb1, mt1 := machineCPU()
	d := c
	d.sub(&r.c0)
	rep := &Report{
		Config:   reportConfig(&f.cfg),
		Plan:     f.plan,
		Roles:    map[string]int{},
		JoinTime: r.joinTime,
		Elapsed:  end.Sub(r.t0),
		Timeline: r.timeline,
	}
	for i, n := range f.roles {
		rep.Roles[role(i).String()] = n
	}
	secs := rep.Elapsed.Seconds()

	h := &rep.Heartbeats
	h.Sent = d.heartbeats
	h.LostOut = d.lostOut
	h.LostIn = d.lostIn
	h.Cut = d.cut
	if r.measured {
		h.Processed = st.Heartbeats - r.m0.Heartbeats
		if h.Sent > 0 {
			h.ProcessedShare = float64(h.Processed) / float64(h.Sent)
		}
		h.KernelDrops = st.KernelDrops - r.m0.KernelDrops
		h.Bad = st.Bad - r.m0.Bad
		h.Replays = st.Replays - r.m0.Replays
	}
	h.PerSecond = float64(h.Sent) / secs

	m := &rep.Manager
	m.Measured = r.measured
	m.Impl = f.cfg.Impl
	if r.measured {
		m.UserCPU = st.UserCPU - r.m0.UserCPU
		m.SysCPU = st.SysCPU - r.m0.SysCPU
		m.CPUShare = (m.UserCPU + m.SysCPU).Seconds() / secs
		if h.Processed > 0 {
			m.UserNSPerHeartbeat = float64(m.UserCPU.Nanoseconds()) / float64(h.Processed)
			m.SysNSPerHeartbeat = float64(m.SysCPU.Nanoseconds()) / float64(h.Processed)
		}
		m.RSS, m.PeakRSS = st.RSS, st.PeakRSS
		m.RSSPerWorker = float64(st.RSS) / float64(len(f.workers))
		m.TickLagMax = st.TickLagMax
		m.LHM = st.LHM
		m.Brake = st.Brake
	}

	e := &f.ev
	e.mu.Lock()
	rep.Latency.Suspected = percentiles(e.suspectLat)
	rep.Latency.Evicted = percentiles(e.evictLat)
	rep.Latency.SuspectedCDF = cdf(e.suspectLat)
	rep.Latency.EvictedCDF = cdf(e.evictLat)
	rep.Latency.Bound = f.cfg.Base + 2*f.probeTimeout + f.cfg.Suspicion + 50*time.Millisecond
	rep.Crash = FaultResult{Workers: f.roles[roleCrash], Evicted: int(e.evictedBy[roleCrash]), Suspected: int(e.suspectLat.TotalCount())}
	rep.Stuck = FaultResult{Workers: f.roles[roleStuck], Evicted: int(e.evictedBy[roleStuck]), After: percentiles(e.stuckLat),
		Bound: 2*f.cfg.Base + 2*f.probeTimeout + f.cfg.Suspicion + 50*time.Millisecond}
	rep.Partition = FaultResult{Workers: f.roles[rolePartition], Evicted: int(e.evictedBy[rolePartition])}
	rep.FalseEvictions = e.falseCount
	rep.FalseEvicted = append([]string(nil), e.falseIDs...)
	rep.Events.Suspected = e.byKind[detector.EventSuspected]
	rep.Events.Refuted = e.byKind[detector.EventRefuted]
	rep.Events.Evicted = e.byKind[detector.EventEvicted]
	rep.Events.Extended = e.byKind[detector.EventExtended]
	rep.Events.Denied = e.byKind[detector.EventDenied]
	rep.Events.Denials = make(map[string]uint64, len(e.denials))
	for k, v := range e.denials {
		rep.Events.Denials[k] = v
	}
	rep.Events.HealthySuspected = e.suspectLate
	rep.Brake = append([]BrakeEvent(nil), e.brakes...)
	rep.LHM = LHMResult{Events: e.lhmEvents, Max: e.lhmMax}
	e.mu.Unlock()

	x := &rep.Extensions
	x.LongRequests = d.extRequests[roleLong]
	x.LongGranted = d.extGranted[roleLong]
	x.LongDenied = d.extDenied[roleLong]
	x.StuckRequests = d.extRequests[roleStuck]
	x.StuckGranted = d.extGranted[roleStuck]
	x.StuckDenied = d.extDenied[roleStuck]
	// The plan: every long-job request granted; each stuck worker's first
	// request granted, every later one denied.
	x.ExpectedGranted = x.LongRequests + uint64(min(int(x.StuckRequests), f.roles[roleStuck]))
	x.ExpectedDenied = x.StuckRequests - uint64(min(int(x.StuckRequests), f.roles[roleStuck]))
	x.Granted = x.LongGranted + x.StuckGranted
	x.Denied = x.LongDenied + x.StuckDenied

	rep.Fleet = FleetResult{
		Sockets: len(f.socks), Acks: d.acks, Refutations: d.refutations, Relays: d.relays,
		IndirectAcks: d.indirectAcks, Nacks: d.nacks, Rejoins: d.rejoins, Received: d.received, Bad: d.bad,
		SendErrors: d.sendErrors, ToldDeadHealthy: d.toldDead[roleHealthy] + d.toldDead[rolePause] + d.toldDead[roleLong],
	}
	rep.Loadgen.UserCPU = u1 - r.u0
	rep.Loadgen.SysCPU = s1 - r.s0
	rep.Loadgen.CPUShare = (rep.Loadgen.UserCPU + rep.Loadgen.SysCPU).Seconds() / secs
	rep.Machine = machineResult(r.mb0, r.mt0, mb1, mt1, m.UserCPU+m.SysCPU, rep.Loadgen.UserCPU+rep.Loadgen.SysCPU, secs)
	return rep, nil
}

func (c *counts) sub(o *counts) {
	c.heartbeats -= o.heartbeats
	c.lostOut -= o.lostOut
	c.lostIn -= o.lostIn
	c.cut -= o.cut
	c.joins -= o.joins
	c.rejoins -= o.rejoins
	for i := range c.extRequests {
		c.extRequests[i] -= o.extRequests[i]
		c.extGranted[i] -= o.extGranted[i]
		c.extDenied[i] -= o.extDenied[i]
		c.toldDead[i] -= o.toldDead[i]
	}
	for i := range c.denials {
		c.denials[i] -= o.denials[i]
	}
	c.acks -= o.acks
	c.refutations -= o.refutations
	c.relays -= o.relays
	c.indirectAcks -= o.indirectAcks
	c.nacks -= o.nacks
	c.received -= o.received
	c.bad -= o.bad
	c.sendErrors -= o.sendErrors
}
