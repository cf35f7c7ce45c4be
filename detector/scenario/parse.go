package scenario

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/swimwheel/swimwheel/detector"
	"github.com/swimwheel/swimwheel/wheel"
)

// LineError is a malformed line: the run stops there.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ErrScript is wrapped by every script error.
var ErrScript = errors.New("scenario: bad script")

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrScript, fmt.Sprintf(format, args...))
}

// verb is a command of a script line.
type verb uint8

const (
	verbJoin verb = iota
	verbHeartbeat
	verbExtend
	verbLeave
	verbStatus
	verbCrash
	verbRevive
	verbRun
	verbConfig
)

var verbs = map[string]verb{
	"join": verbJoin, "heartbeat": verbHeartbeat, "extend": verbExtend, "leave": verbLeave,
	"status": verbStatus, "crash": verbCrash, "revive": verbRevive,
}

// command is one parsed line.
type command struct {
	verb   verb
	at     time.Duration
	worker string

	inc      uint64
	hasInc   bool
	progress progressArgs
}

type progressArgs struct {
	completed, total uint64
	hasCount         bool
	fraction         float64
	hasFraction      bool
}

// simConfig is the config line: the detector's config plus the simulated
// network's.
type simConfig struct {
	det  detector.Config
	loss float64
	rtt  time.Duration
}

func defaultSimConfig() simConfig {
	c := detector.DefaultConfig()
	c.Seed = 1
	c.Shards = 1
	return simConfig{det: c, rtt: time.Millisecond}
}

// parseConfig applies "key=value" pairs to the defaults.
func parseConfig(fields []string) (simConfig, error) {
	c := defaultSimConfig()
	minSet := false
	for _, kv := range fields {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return c, bad("config %q is not key=value", kv)
		}
		var err error
		dur := func(dst *time.Duration) {
			var d time.Duration
			d, err = time.ParseDuration(v)
			if err == nil && d < 0 {
				err = fmt.Errorf("negative")
			}
			*dst = d
		}
		integer := func(dst *int) {
			var n int64
			n, err = strconv.ParseInt(v, 10, 32)
			*dst = int(n)
		}
		frac := func(dst *float64) {
			var f float64
			f, err = strconv.ParseFloat(v, 64)
			if err == nil && (math.IsNaN(f) || f < 0 || f > 1) {
				err = fmt.Errorf("outside 0..1")
			}
			*dst = f
		}
		d := &c.det
		switch k {
		case "tick":
			dur(&d.Tick)
		case "base":
			dur(&d.Base)
		case "min-grant":
			dur(&d.MinGrant)
		case "max-extensions":
			integer(&d.MaxExtensions)
		case "warn-remaining":
			integer(&d.WarnRemaining)
		case "suspicion":
			dur(&d.Suspicion)
		case "suspicion-min":
			dur(&d.SuspicionMin)
			minSet = true
		case "probing":
			switch v {
			case "on", "true", "1":
				d.Probing = true
			case "off", "false", "0":
				d.Probing = false
			default:
				err = fmt.Errorf("want on or off")
			}
		case "probe-timeout":
			dur(&d.ProbeTimeout)
		case "indirect":
			integer(&d.Indirect)
		case "brake":
			frac(&d.Brake)
		case "brake-stop":
			frac(&d.BrakeStop)
		case "eviction-rate":
			frac(&d.EvictionRate)
		case "loss":
			frac(&c.loss)
		case "rtt":
			dur(&c.rtt)
		case "seed":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 64)
			d.Seed = n
		case "retention":
			dur(&d.Retention)
		default:
			return c, bad("config key %q is unknown", k)
		}
		if err != nil {
			return c, bad("config %s=%s: %v", k, v, err)
		}
	}
	if !minSet && c.det.SuspicionMin > c.det.Suspicion {
		// An operator who shortens the window expects the floor to follow.
		c.det.SuspicionMin = c.det.Suspicion
	}
	if err := c.det.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", ErrScript, err)
	}
	return c, nil
}

// parseLine parses one non-empty, comment-free line.
func parseLine(fields []string) (command, error) {
	var c command
	switch fields[0] {
	case "config":
		c.verb = verbConfig
		return c, nil
	case "run":
		if len(fields) != 2 {
			return c, bad("run takes one duration")
		}
		d, err := parseTime(fields[1])
		if err != nil {
			return c, err
		}
		c.verb, c.at = verbRun, d
		return c, nil
	case "at":
	default:
		return c, bad("unknown command %q", fields[0])
	}
	if len(fields) < 4 {
		return c, bad("want: at T COMMAND WORKER [key=value ...]")
	}
	d, err := parseTime(fields[1])
	if err != nil {
		return c, err
	}
	c.at = d
	v, ok := verbs[fields[2]]
	if !ok {
		return c, bad("unknown command %q", fields[2])
	}
	c.verb = v
	c.worker = fields[3]
	if len(c.worker) > detector.MaxWorkerID {
		return c, bad("worker id %q is longer than %d bytes", c.worker, detector.MaxWorkerID)
	}
	for _, kv := range fields[4:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || val == "" {
			return c, bad("%q is not key=value", kv)
		}
		if err := c.setKey(k, val); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (c *command) setKey(k, v string) error {
	allowed := k == "inc" && c.verb != verbStatus && c.verb != verbCrash && c.verb != verbRevive
	if c.verb == verbExtend {
		switch k {
		case "completed", "total", "fraction", "reason", "estimate":
			allowed = true
		}
	}
	if !allowed {
		return bad("key %q does not go with this command", k)
	}
	var err error
	switch k {
	case "inc":
		c.inc, err = strconv.ParseUint(v, 10, 64)
		c.hasInc = true
	case "completed":
		c.progress.completed, err = strconv.ParseUint(v, 10, 64)
		c.progress.hasCount = true
	case "total":
		c.progress.total, err = strconv.ParseUint(v, 10, 64)
		c.progress.hasCount = true
	case "fraction":
		// Any float parses, NaN and Inf included: judging it is the
		// detector's job (invalid-progress), not the parser's.
		c.progress.fraction, err = strconv.ParseFloat(v, 64)
		if errors.Is(err, strconv.ErrRange) {
			err = nil
		}
		c.progress.hasFraction = true
	case "estimate":
		_, err = time.ParseDuration(v)
	}
	if err != nil {
		return bad("%s=%s: %v", k, v, unwrapNum(err))
	}
	return nil
}

func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

func parseTime(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad("time %q: %v", s, err)
	}
	if d < 0 {
		return 0, bad("time %q is negative", s)
	}
	if d > time.Duration(wheel.MaxTime) {
		return 0, bad("time %q is beyond the wheel's range (%v)", s, time.Duration(wheel.MaxTime))
	}
	return d, nil
}
