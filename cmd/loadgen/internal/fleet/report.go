package fleet

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is every figure of a run; the JSON output is this struct.
type Report struct {
	Config   ReportConfig   `json:"config"`
	Plan     Plan           `json:"plan"`
	Roles    map[string]int `json:"roles"`
	JoinTime time.Duration  `json:"join_time_ns"`
	Elapsed  time.Duration  `json:"elapsed_ns"` // measured part

	Heartbeats HeartbeatResult `json:"heartbeats"`
	Manager    ManagerResult   `json:"manager"`
	Latency    LatencyResult   `json:"latency"`

	Crash          FaultResult `json:"crash"`
	Stuck          FaultResult `json:"stuck"`
	Partition      FaultResult `json:"partition"`
	FalseEvictions uint64      `json:"false_evictions"`
	FalseEvicted   []string    `json:"false_evicted,omitempty"` // the first few

	Extensions ExtensionResult `json:"extensions"`
	Events     EventResult     `json:"events"`
	Brake      []BrakeEvent    `json:"brake"`
	LHM        LHMResult       `json:"lhm"`
	Fleet      FleetResult     `json:"fleet"`
	Loadgen    CPUResult       `json:"loadgen"`
	Machine    MachineResult   `json:"machine"`
	Timeline   []Sample        `json:"timeline"`
}

// ReportConfig is the run's configuration, as flags.
type ReportConfig struct {
	Workers      int           `json:"workers"`
	Duration     time.Duration `json:"duration_ns"`
	Heartbeat    time.Duration `json:"heartbeat_ns"`
	Base         time.Duration `json:"base_ns"`
	Suspicion    time.Duration `json:"suspicion_ns"`
	Probing      bool          `json:"probing"`
	Loss         float64       `json:"loss"`
	Crash        float64       `json:"crash"`
	Pause        float64       `json:"pause"`
	Long         float64       `json:"long"`
	Stuck        float64       `json:"stuck"`
	Partition    float64       `json:"partition"`
	PartitionFor time.Duration `json:"partition_for_ns"`
	Seed         uint64        `json:"seed"`
	Target       string        `json:"target,omitempty"`
	Impl         string        `json:"impl"`
}

func reportConfig(c *Config) ReportConfig {
	rc := ReportConfig{
		Workers: c.Workers, Duration: c.Duration, Heartbeat: c.Heartbeat, Base: c.Base,
		Suspicion: c.Suspicion, Probing: c.Probing, Loss: c.Loss, Crash: c.Crash, Pause: c.Pause,
		Long: c.Long, Stuck: c.Stuck, Partition: c.Partition, PartitionFor: c.PartitionFor,
		Seed: c.Seed, Impl: c.Impl,
	}
	if c.Target.IsValid() {
		rc.Target = c.Target.String()
	}
	return rc
}

// HeartbeatResult counts heartbeats over the measured part of the run.
type HeartbeatResult struct {
	Sent           uint64  `json:"sent"`      // handed to the kernel
	Processed      uint64  `json:"processed"` // applied by the manager
	ProcessedShare float64 `json:"processed_share"`
	PerSecond      float64 `json:"per_second"`
	LostOut        uint64  `json:"lost_out"` // packets of any kind dropped by -loss on the way out
	LostIn         uint64  `json:"lost_in"`  // packets dropped by -loss on the way in
	Cut            uint64  `json:"cut"`      // heartbeats the partition withheld
	KernelDrops    uint64  `json:"kernel_drops"`
	Bad            uint64  `json:"bad"`
	Replays        uint64  `json:"replays"`
}

// ManagerResult is the manager process's cost.
type ManagerResult struct {
	Measured           bool          `json:"measured"` // false with -target
	Impl               string        `json:"impl"`
	UserCPU            time.Duration `json:"user_cpu_ns"`
	SysCPU             time.Duration `json:"sys_cpu_ns"`
	CPUShare           float64       `json:"cpu_share"` // of one core
	UserNSPerHeartbeat float64       `json:"user_ns_per_heartbeat"`
	SysNSPerHeartbeat  float64       `json:"sys_ns_per_heartbeat"`
	RSS                int64         `json:"rss_bytes"`
	PeakRSS            int64         `json:"peak_rss_bytes"`
	RSSPerWorker       float64       `json:"rss_bytes_per_worker"`
	TickLagMax         time.Duration `json:"tick_lag_max_ns"`
	LHM                int           `json:"lhm"`
	Brake              string        `json:"brake"`
}

// Percentiles of a latency histogram; zero when it is empty.
type Percentiles struct {
	Count int64         `json:"count"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
}

func percentiles(h *hdrhistogram.Histogram) Percentiles {
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Percentiles{
		Count: h.TotalCount(),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		Max:   us(h.Max()),
	}
}

// Point is one step of a latency CDF.
type Point struct {
	Latency  time.Duration `json:"latency_ns"`
	Fraction float64       `json:"fraction"`
}

func cdf(h *hdrhistogram.Histogram) []Point {
	if h.TotalCount() == 0 {
		return nil
	}
	var pts []Point
	for _, q := range []float64{0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9, 100} {
		pts = append(pts, Point{Latency: time.Duration(h.ValueAtQuantile(q)) * time.Microsecond, Fraction: q / 100})
	}
	return pts
}

// LatencyResult is crash -> suspected and crash -> evicted.
type LatencyResult struct {
	Suspected    Percentiles   `json:"suspected"`
	Evicted      Percentiles   `json:"evicted"`
	Bound        time.Duration `json:"evicted_bound_ns"` // base + probe phase + suspicion + 50 ms
	SuspectedCDF []Point       `json:"suspected_cdf"`
	EvictedCDF   []Point       `json:"evicted_cdf"`
}

// FaultResult is what became of the workers of one fault.
type FaultResult struct {
	Workers   int           `json:"workers"`
	Suspected int           `json:"suspected,omitempty"`
	Evicted   int           `json:"evicted"`
	After     Percentiles   `json:"evicted_after"` // stuck: from getting stuck to eviction
	Bound     time.Duration `json:"bound_ns,omitempty"`
}

// ExtensionResult counts extension requests and answers, as the workers
// saw them, against the plan.
type ExtensionResult struct {
	LongRequests    uint64 `json:"long_requests"`
	LongGranted     uint64 `json:"long_granted"`
	LongDenied      uint64 `json:"long_denied"`
	StuckRequests   uint64 `json:"stuck_requests"`
	StuckGranted    uint64 `json:"stuck_granted"`
	StuckDenied     uint64 `json:"stuck_denied"`
	Granted         uint64 `json:"granted"`
	Denied          uint64 `json:"denied"`
	ExpectedGranted uint64 `json:"expected_granted"`
	ExpectedDenied  uint64 `json:"expected_denied"`
}

// EventResult counts the manager's events over the whole run.
type EventResult struct {
	Suspected        uint64            `json:"suspected"`
	Refuted          uint64            `json:"refuted"`
	Evicted          uint64            `json:"evicted"`
	Extended         uint64            `json:"extended"`
	Denied           uint64            `json:"denied"`
	Denials          map[string]uint64 `json:"denials"`
	HealthySuspected uint64            `json:"healthy_suspected"` // suspicions of workers that had not failed
}

// BrakeEvent is a change of the eviction brake.
type BrakeEvent struct {
	At    float64 `json:"t"` // seconds since every worker joined
	State string  `json:"state"`
}

// LHMResult sums the local-health events.
type LHMResult struct {
	Events uint64 `json:"events"`
	Max    int    `json:"max"`
}

// FleetResult is the simulated workers' side.
type FleetResult struct {
	Sockets         int    `json:"sockets"`
	Acks            uint64 `json:"acks"`
	Refutations     uint64 `json:"refutations"`
	Relays          uint64 `json:"relays"`
	IndirectAcks    uint64 `json:"indirect_acks"`
	Nacks           uint64 `json:"nacks"`
	Rejoins         uint64 `json:"rejoins"`
	Received        uint64 `json:"received"`
	Bad             uint64 `json:"bad"`
	SendErrors      uint64 `json:"send_errors"`
	ToldDeadHealthy uint64 `json:"told_dead_healthy"` // healthy, paused or long workers told they were evicted
}

// CPUResult is a process's CPU time over the measured run.
type CPUResult struct {
	UserCPU  time.Duration `json:"user_cpu_ns"`
	SysCPU   time.Duration `json:"sys_cpu_ns"`
	CPUShare float64       `json:"cpu_share"`
}

// group writes n with thousands separators.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 3, 64) + "%" }

func mib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB" }

func ok(good bool) string {
	if good {
		return "ok"
	}
	return "FAIL"
}

// stuckVerdict judges the stuck workers' evictions. A run that ended before
// their bound had passed cannot fail them for being alive still: it says so,
// and how long a run would have to be (stuck from a sixth of the run).
func stuckVerdict(r *Report) string {
	s := &r.Stuck
	late := s.After.Max > s.Bound
	if s.Evicted < s.Workers && !late {
		if left := r.Elapsed - r.Plan.LongFrom; left < s.Bound {
			need := (s.Bound*6/5 + time.Second).Round(time.Second)
			return fmt.Sprintf("not due: the run ended %s after they got stuck; run with -duration %v or more", ms(left), need)
		}
	}
	return ok(s.Evicted == s.Workers && !late)
}

// WriteText writes the report a person reads in ten seconds.
func (r *Report) WriteText(w io.Writer) {
	c := &r.Config
	mgr := "manager (child process, " + r.Manager.Impl + ")"
	if c.Target != "" {
		mgr = "manager at " + c.Target + " (not measured: no CPU, memory or events)"
	}
	fmt.Fprintf(w, "loadgen: %s workers, heartbeat %v, base %v, suspicion %v, probing %v, loss %s, seed %d; %s\n",
		group(uint64(c.Workers)), c.Heartbeat, c.Base, c.Suspicion, onOff(c.Probing), pct(c.Loss), c.Seed, mgr)
	fmt.Fprintf(w, "joined in %.1fs; measured %.1fs from then\n\n", r.JoinTime.Seconds(), r.Elapsed.Seconds())

	h := &r.Heartbeats
	fmt.Fprintf(w, "heartbeats     sent %s (%s/s)", group(h.Sent), group(uint64(h.PerSecond+0.5)))
	if r.Manager.Measured {
		fmt.Fprintf(w, ", processed %s = %s [%s, target >= 99.9%%]", group(h.Processed), pct(h.ProcessedShare), ok(h.ProcessedShare >= 0.999))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "loss           -loss dropped %s out, %s in; partition withheld %s", group(h.LostOut), group(h.LostIn), group(h.Cut))
	if r.Manager.Measured {
		fmt.Fprintf(w, "; kernel drops %s, bad %s, replays %s", group(h.KernelDrops), group(h.Bad), group(h.Replays))
	}
	fmt.Fprintln(w)
	if m := &r.Manager; m.Measured {
		fmt.Fprintf(w, "manager cpu    %.1f%% of a core; per heartbeat %.0f ns user + %.0f ns system = %.0f ns\n",
			100*m.CPUShare, m.UserNSPerHeartbeat, m.SysNSPerHeartbeat, m.UserNSPerHeartbeat+m.SysNSPerHeartbeat)
		fmt.Fprintf(w, "manager memory RSS %s (peak %s) = %.0f bytes per worker; tick lag max %v\n",
			mib(m.RSS), mib(m.PeakRSS), m.RSSPerWorker, m.TickLagMax.Round(time.Millisecond))
	}
	if c.Target == "" {
		l := &r.Latency
		fmt.Fprintf(w, "crash -> suspected  %s  (%d of %d crashed)\n", pline(l.Suspected), l.Suspected.Count, r.Crash.Workers)
		fmt.Fprintf(w, "crash -> evicted    %s  (%d of %d) [%s, p99 bound %s]\n", pline(l.Evicted), l.Evicted.Count, r.Crash.Workers,
			ok(int(l.Evicted.Count) == r.Crash.Workers && l.Evicted.P99 <= l.Bound), ms(l.Bound))
		fmt.Fprintf(w, "false evictions     %d [%s]", r.FalseEvictions, ok(r.FalseEvictions == 0))
		if len(r.FalseEvicted) > 0 {
			fmt.Fprintf(w, " e.g. %s", strings.Join(r.FalseEvicted, ", "))
		}
		fmt.Fprintf(w, "; healthy workers suspected %d, refuted %d\n", r.Events.HealthySuspected, r.Events.Refuted)
	} else {
		fmt.Fprintf(w, "healthy workers told they were evicted: %d\n", r.Fleet.ToldDeadHealthy)
	}
	x := &r.Extensions
	verdict := ok(x.Granted == x.ExpectedGranted && x.Denied == x.ExpectedDenied)
	if c.Loss > 0 || c.Partition > 0 {
		// Lost requests are never judged and lost answers are retried (and
		// then judged again): the plan is exact only on a lossless network.
		verdict = "plan exact only without loss"
	}
	fmt.Fprintf(w, "extensions     granted %s (plan %s), denied %s (plan %s) [%s]\n", group(x.Granted), group(x.ExpectedGranted),
		group(x.Denied), group(x.ExpectedDenied), verdict)
	fmt.Fprintf(w, "               long jobs %s asked, %s granted, %s denied; stuck %s asked, %s granted, %s denied\n",
		group(x.LongRequests), group(x.LongGranted), group(x.LongDenied), group(x.StuckRequests), group(x.StuckGranted), group(x.StuckDenied))
	if c.Target == "" {
		s := &r.Stuck
		fmt.Fprintf(w, "stuck workers  %d of %d evicted, %s after getting stuck [%s, bound %s]\n", s.Evicted, s.Workers,
			pline(s.After), stuckVerdict(r), ms(s.Bound))
		if r.Partition.Workers > 0 {
			fmt.Fprintf(w, "partition      %d workers cut off for %v at %v: %d evicted\n", r.Partition.Workers, r.Plan.PartitionFor, r.Plan.PartitionAt, r.Partition.Evicted)
		}
		fmt.Fprintf(w, "brake          %s; LHM events %d (max %d)\n", brakeLine(r.Brake), r.LHM.Events, r.LHM.Max)
	}
	fmt.Fprintf(w, "loadgen cpu    %.1f%% of a core (%v user, %v system): %s sockets, %s acks, %s relays\n",
		100*r.Loadgen.CPUShare, r.Loadgen.UserCPU.Round(time.Millisecond), r.Loadgen.SysCPU.Round(time.Millisecond),
		strconv.Itoa(r.Fleet.Sockets), group(r.Fleet.Acks), group(r.Fleet.Relays))
	fmt.Fprintf(w, "machine        %d CPUs %.0f%% busy; other processes used %.0f%% of a core", r.Machine.CPUs, 100*r.Machine.Busy, 100*r.Machine.Others)
	if r.Machine.Others > 0.25 {
		fmt.Fprint(w, " (figures are disturbed: the manager competed for CPU)")
	}
	fmt.Fprintln(w)
}

func pline(p Percentiles) string {
	if p.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(p.P50), ms(p.P90), ms(p.P99), ms(p.Max))
}

func brakeLine(bs []BrakeEvent) string {
	if len(bs) == 0 {
		return "never engaged"
	}
	var parts []string
	for _, b := range bs {
		parts = append(parts, fmt.Sprintf("%s at %.1fs", b.State, b.At))
	}
	return strings.Join(parts, ", ")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
