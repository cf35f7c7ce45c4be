package extension

import (
	"math"
	"strconv"
	"time"
)

// Progress is what a request reports. Counts are preferred; the fraction is
// an exact fallback. A field whose Has flag is false is ignored.
type Progress struct {
	Completed   uint64 // items done
	Total       uint64 // items in all; 0 = unknown
	HasCount    bool   // Completed (and maybe Total) present
	Fraction    float64
	HasFraction bool
}

// valid reports whether p is well formed: Completed <= Total when Total is
// known, and a present Fraction a number in [0, 1].
func (p *Progress) valid() bool {
	if p.HasCount && p.Total > 0 && p.Completed > p.Total {
		return false
	}
	// The negated comparison also rejects NaN.
	if p.HasFraction && !(p.Fraction >= 0 && p.Fraction <= 1) {
		return false
	}
	return true
}

// Request is an extension request as the policy judges it. The reason and the
// estimated completion a worker sends are carried by the caller, not judged.
type Request struct {
	Progress Progress
}

// Reason says why a request was denied; Granted when it was not.
type Reason uint8

const (
	Granted          Reason = iota // no denial
	NotAlive                       // the worker is not alive (decided by the caller)
	StaleIncarnation               // the request's incarnation is old (decided by the caller)
	InvalidProgress                // Completed > Total, or a fraction outside [0, 1] or NaN
	Exhausted                      // every grant of the cycle was used
	NoProgress                     // progress did not strictly increase since the last grant
)

// String returns the stable wire and event name of r ("" for Granted).
func (r Reason) String() string {
	switch r {
	case Granted:
		return ""
	case NotAlive:
		return "not-alive"
	case StaleIncarnation:
		return "stale-incarnation"
	case InvalidProgress:
		return "invalid-progress"
	case Exhausted:
		return "exhausted"
	case NoProgress:
		return "no-progress"
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Decision is the outcome of one request.
type Decision struct {
	Granted   bool
	Grant     time.Duration // 0 when denied
	Deadline  time.Duration // the new deadline if granted, else the unchanged current one
	Remaining int           // grants left in this cycle after this decision
	Warning   bool          // this grant is the first of the cycle to leave Remaining <= WarnRemaining
	Reason    Reason        // Granted when granted
}

// Decide judges req for a worker the caller has already found alive at the
// right incarnation, with s its cycle state, now the current instant and
// deadline its current deadline. The first failing check is the reason:
// InvalidProgress, then Exhausted, then NoProgress (see the package doc).
// A grant updates s; a denial leaves s and the deadline as they were.
// Decide does not allocate. p should have passed Validate; with any other
// Policy Decide still returns without panicking, but its grants follow the
// formula blindly.
func (p Policy) Decide(s *State, req Request, now, deadline time.Duration) Decision {
	// Fields are read in place rather than through copies of req and s:
	// copying the small structs around cost more than the decision itself.
	if !req.Progress.valid() {
		return p.deny(s, InvalidProgress, deadline)
	}
	if int(s.used) >= p.MaxExtensions || s.used == maxUsed {
		return p.deny(s, Exhausted, deadline)
	}
	if s.used > 0 && !s.progressed(&req.Progress) {
		return p.deny(s, NoProgress, deadline)
	}

	grant := p.Grant(int(s.used))
	s.used++
	s.lastCompleted, s.lastFraction = 0, 0
	s.flags &= flagWarned
	if req.Progress.HasCount {
		s.lastCompleted = req.Progress.Completed
		s.flags |= flagHasCount
	}
	if req.Progress.HasFraction {
		s.lastFraction = req.Progress.Fraction
		s.flags |= flagHasFraction
	}
	remaining := max(0, p.MaxExtensions-int(s.used))
	warning := s.flags&flagWarned == 0 && remaining <= p.WarnRemaining
	if warning {
		s.flags |= flagWarned
	}
	return Decision{
		Granted:   true,
		Grant:     grant,
		Deadline:  addSaturating(max(deadline, now), grant),
		Remaining: remaining,
		Warning:   warning,
	}
}

// deny returns the denial for reason: the deadline unchanged, s untouched.
func (p Policy) deny(s *State, reason Reason, deadline time.Duration) Decision {
	return Decision{Deadline: deadline, Remaining: max(0, p.MaxExtensions-int(s.used)), Reason: reason}
}

// progressed reports whether prog strictly increased over the last granted
// progress: by count when both carry counts, else by exact fraction when both
// carry fractions; with neither there is no evidence, hence false.
func (s *State) progressed(prog *Progress) bool {
	switch {
	case prog.HasCount && s.flags&flagHasCount != 0:
		return prog.Completed > s.lastCompleted
	case prog.HasFraction && s.flags&flagHasFraction != 0:
		return prog.Fraction > s.lastFraction
	}
	return false
}

// addSaturating returns t + d, clamped to the Duration range instead of
// wrapping.
func addSaturating(t, d time.Duration) time.Duration {
	switch {
	case d > 0 && t > math.MaxInt64-d:
		return math.MaxInt64
	case d < 0 && t < math.MinInt64-d:
		return math.MinInt64
	}
	return t + d
}
