package fleet

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Config is one fleet run. Start from DefaultConfig; Validate names the
// flag of the first value out of range.
type Config struct {
	Workers   int
	Duration  time.Duration // measured part of the run, from when every worker joined
	Heartbeat time.Duration
	Base      time.Duration
	Suspicion time.Duration
	Probing   bool
	Loss      float64 // drop probability, each direction, applied by the workers

	// Shares of the fleet per fault (disjoint sets, drawn with Seed).
	Crash     float64
	Pause     float64
	Long      float64
	Stuck     float64
	Partition float64
	// PartitionFor is how long the partition lasts; 0: twice Base.
	PartitionFor time.Duration

	Seed uint64

	// Target drives a manager that runs elsewhere (no child process, no
	// manager events or CPU). Invalid: start a child.
	Target netip.AddrPort
	// Impl is the manager the child runs: "real" or "naive".
	Impl string

	// Sockets is how many UDP sockets the workers share; default 8.
	Sockets int
	// JoinRate is joins per second at start; default 20000.
	JoinRate int
	// ServeCommand starts the child (argv; the serve flags are appended);
	// default: this executable with ServeCommand.
	ServeCommand []string
}

// DefaultConfig is the default run of the issue: 100,000 workers, heartbeat
// 1 s, base 5 s, suspicion 3 s, probing on, 60 s, and the default fault plan.
func DefaultConfig() Config {
	return Config{
		Workers:   100000,
		Duration:  60 * time.Second,
		Heartbeat: time.Second,
		Base:      5 * time.Second,
		Suspicion: 3 * time.Second,
		Probing:   true,
		Crash:     0.01,
		Pause:     0.01,
		Long:      0.02,
		Stuck:     0.002,
		Seed:      1,
		Impl:      "real",
		Sockets:   8,
		JoinRate:  20000,
	}
}

// FlagError is a bad configuration value; Flag names the flag.
type FlagError struct {
	Flag string
	Msg  string
}

func (e *FlagError) Error() string { return "-" + e.Flag + ": " + e.Msg }

// Validate reports the first value out of range.
func (c *Config) Validate() error {
	bad := func(flag, format string, args ...any) error {
		return &FlagError{Flag: flag, Msg: fmt.Sprintf(format, args...)}
	}
	share := func(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }
	switch {
	case c.Workers < 1 || c.Workers > 4_000_000:
		return bad("workers", "%d is outside 1..4000000", c.Workers)
	case c.Duration < time.Second:
		return bad("duration", "%v is shorter than 1s", c.Duration)
	case c.Base < 100*time.Millisecond:
		return bad("base", "%v is shorter than 100ms", c.Base)
	case c.Heartbeat < 10*time.Millisecond || c.Heartbeat >= c.Base:
		return bad("heartbeat", "%v must be at least 10ms and shorter than -base %v", c.Heartbeat, c.Base)
	case c.Suspicion < 10*time.Millisecond:
		return bad("suspicion", "%v is shorter than 10ms", c.Suspicion)
	case !share(c.Loss) || c.Loss > 0.5:
		return bad("loss", "%v is outside 0..0.5", c.Loss)
	case !share(c.Crash):
		return bad("crash", "%v is outside 0..1", c.Crash)
	case !share(c.Pause):
		return bad("pause", "%v is outside 0..1", c.Pause)
	case !share(c.Long):
		return bad("long", "%v is outside 0..1", c.Long)
	case !share(c.Stuck):
		return bad("stuck", "%v is outside 0..1", c.Stuck)
	case !share(c.Partition):
		return bad("partition", "%v is outside 0..1", c.Partition)
	case c.PartitionFor < 0:
		return bad("partition", "duration %v is negative", c.PartitionFor)
	case c.Crash+c.Pause+c.Long+c.Stuck+c.Partition > 1:
		return bad("crash", "the fault shares add up to more than the whole fleet")
	case c.Impl != "real" && c.Impl != "naive":
		return bad("baseline", "manager %q is neither real nor naive", c.Impl)
	case c.Sockets < 1 || c.Sockets > 64:
		return bad("sockets", "%d is outside 1..64", c.Sockets)
	case c.JoinRate < 1:
		return bad("join-rate", "%d is not positive", c.JoinRate)
	}
	if c.PartitionFor == 0 {
		c.PartitionFor = 2 * c.Base
	}
	return nil
}

// Plan is the fault schedule, relative to the start of the measured run
// (every worker joined). Times scale with the duration so that a short run
// sees every fault; at 60 s they are the issue's: long jobs from 10 s,
// crash at 15 s, pause at 20 s for 3 s, partition at 30 s.
type Plan struct {
	LongFrom     time.Duration
	CrashAt      time.Duration
	PauseAt      time.Duration
	PauseFor     time.Duration
	PartitionAt  time.Duration
	PartitionFor time.Duration
	// Long-job workers: an extension request every ExtEvery, a healthy
	// check-in heartbeat every CheckIn. Stuck workers: a request every
	// ExtEvery with the same progress.
	ExtEvery time.Duration
	CheckIn  time.Duration
}

// MaxExtensions and MinGrant are the detector's defaults, which the child
// keeps; the plan's check-in cadence is computed from them.
const (
	MaxExtensions = 5
	MinGrant      = time.Second
)

func (c *Config) plan() Plan {
	p := Plan{
		LongFrom:     c.Duration / 6,
		CrashAt:      c.Duration / 4,
		PauseAt:      c.Duration / 3,
		PauseFor:     c.Base * 3 / 5,
		PartitionAt:  c.Duration / 2,
		PartitionFor: c.PartitionFor,
		ExtEvery:     c.Base / 3,
	}
	// A long-job worker must reset its cycle before the grants run out:
	// between two check-ins it asks CheckIn/ExtEvery times, which must stay
	// below MaxExtensions (the first grant alone, Base, covers a whole
	// ExtEvery). A check-in every Base asks 3 times per cycle.
	p.CheckIn = min(c.Base, p.ExtEvery*(MaxExtensions-1))
	return p
}
