package detector

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/swimwheel/swimwheel/extension"
)

// Config is everything a Detector needs. Start from DefaultConfig; Validate
// reports the first field that is out of range.
type Config struct {
	Tick          time.Duration // wheel granularity; default 10ms
	Base          time.Duration // alive deadline after a heartbeat; default 30s
	MinGrant      time.Duration // floor of an extension grant; default 1s
	MaxExtensions int           // grants per cycle; default 5
	WarnRemaining int           // warn when remaining <= this; default 1 (-1: never)

	Suspicion    time.Duration // Lifeguard suspicion window without confirmations; default 10s
	SuspicionMin time.Duration // the window after Confirmations independent confirmations; default 2s
	// Confirmations is Lifeguard's K: how many independent confirmations
	// from peer managers shrink the window all the way to SuspicionMin.
	// Default 3, at most 32 (peer managers are numbered 0..31).
	Confirmations int

	// Probing turns on SWIM probing when a deadline passes (ping, then
	// ping-req through Indirect helpers) and while a worker is suspect.
	// Default on.
	Probing      bool
	ProbeTimeout time.Duration // default 500ms
	Indirect     int           // helpers asked per ping-req round; default 3
	MaxLHM       int           // local health multiplier ceiling; default 8
	// LateTicks is how many ticks Advance may run behind the wheel's next
	// deadline before the detector counts itself starved (LHM +1). Default 5.
	LateTicks int

	// Brake is the fraction of the fleet that, suspect at once, engages the
	// eviction brake (default 0.10; 0: off). BrakeStop is the fraction
	// at which evictions stop altogether (default 0.50). EvictionRate is the
	// share of the fleet that may be evicted per second while braked
	// (default 0.01). Fleets smaller than BrakeMinFleet (default 50) are
	// never braked.
	Brake         float64
	BrakeStop     float64
	EvictionRate  float64
	BrakeMinFleet int

	// Retention is how long a dead or left worker's record is kept so that
	// late packets of its old incarnation are recognised as stale. Default 5m.
	Retention time.Duration

	Shards     int    // wheel shards; default GOMAXPROCS rounded up to a power of two
	MaxWorkers int    // slot capacity; default 1<<22
	Seed       uint64 // seeds every random choice (probe helpers)

	// OnEvents receives the events of each call, in order, as one batch.
	// OnSend receives the messages the detector wants sent (pings and
	// ping-reqs), as one batch per call. Both run synchronously on the
	// calling goroutine, must not call back into the Detector, and must not
	// keep the slice.
	OnEvents func([]Event)
	OnSend   func([]Message)
}

// ErrConfig is wrapped by every Validate error, which names the field.
// (Refusals of inputs are Outcomes and extension reasons, not errors.)
var ErrConfig = errors.New("detector: invalid config")

// MaxWorkerID is the longest worker ID, in bytes.
const MaxWorkerID = 64

// DefaultConfig returns the defaults of DESIGN.md. Start from it and change
// fields; the zero Config is not valid (its tick is zero).
func DefaultConfig() Config {
	return Config{
		Tick:          10 * time.Millisecond,
		Base:          30 * time.Second,
		MinGrant:      time.Second,
		MaxExtensions: 5,
		WarnRemaining: 1,
		Suspicion:     10 * time.Second,
		SuspicionMin:  2 * time.Second,
		Confirmations: 3,
		Probing:       true,
		ProbeTimeout:  500 * time.Millisecond,
		Indirect:      3,
		MaxLHM:        8,
		LateTicks:     5,
		Brake:         0.10,
		BrakeStop:     0.50,
		EvictionRate:  0.01,
		BrakeMinFleet: 50,
		Retention:     5 * time.Minute,
		MaxWorkers:    1 << 22,
	}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	bad := func(field string, format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Tick < time.Microsecond:
		return bad("tick", "%v is below 1µs", c.Tick)
	case c.Base < c.Tick:
		return bad("base", "%v is shorter than the tick %v", c.Base, c.Tick)
	case c.MinGrant <= 0:
		return bad("min-grant", "%v must be positive", c.MinGrant)
	case c.MaxExtensions < 0 || c.MaxExtensions > 64:
		return bad("max-extensions", "%d is outside 0..64", c.MaxExtensions)
	case c.WarnRemaining < -1:
		return bad("warn-remaining", "%d is below -1", c.WarnRemaining)
	case c.Suspicion <= 0:
		return bad("suspicion", "%v must be positive", c.Suspicion)
	case c.SuspicionMin <= 0 || c.SuspicionMin > c.Suspicion:
		return bad("suspicion-min", "%v must be in (0, suspicion=%v]", c.SuspicionMin, c.Suspicion)
	case c.Confirmations < 1 || c.Confirmations > 32:
		return bad("confirmations", "%d is outside 1..32", c.Confirmations)
	case c.ProbeTimeout <= 0:
		return bad("probe-timeout", "%v must be positive", c.ProbeTimeout)
	case c.Indirect < 0 || c.Indirect > 15:
		return bad("indirect", "%d is outside 0..15", c.Indirect)
	case c.MaxLHM < 0 || c.MaxLHM > 64:
		return bad("lhm", "max %d is outside 0..64", c.MaxLHM)
	case c.LateTicks < 1:
		return bad("late-ticks", "%d must be at least 1", c.LateTicks)
	case math.IsNaN(c.Brake) || c.Brake < 0 || c.Brake > 1:
		return bad("brake", "%v is outside 0..1", c.Brake)
	case math.IsNaN(c.BrakeStop) || c.BrakeStop <= 0 || c.BrakeStop > 1:
		return bad("brake-stop", "%v is outside (0, 1]", c.BrakeStop)
	case c.Brake > 0 && c.BrakeStop < c.Brake:
		return bad("brake-stop", "%v is below brake %v", c.BrakeStop, c.Brake)
	case math.IsNaN(c.EvictionRate) || c.EvictionRate <= 0 || c.EvictionRate > 1:
		return bad("eviction-rate", "%v is outside (0, 1]", c.EvictionRate)
	case c.BrakeMinFleet < 0:
		return bad("brake-min-fleet", "%d is negative", c.BrakeMinFleet)
	case c.Retention < c.Tick:
		return bad("retention", "%v is shorter than the tick", c.Retention)
	case c.MaxWorkers < 1 || c.MaxWorkers > 1<<28:
		return bad("max-workers", "%d is outside 1..2^28", c.MaxWorkers)
	case c.Shards < 0 || c.Shards&(c.Shards-1) != 0:
		return bad("shards", "%d is not a power of two", c.Shards)
	}
	return c.policy().Validate()
}

func (c Config) policy() extension.Policy {
	return extension.Policy{
		Base:          c.Base,
		MinGrant:      c.MinGrant,
		MaxExtensions: c.MaxExtensions,
		WarnRemaining: c.WarnRemaining,
	}
}
