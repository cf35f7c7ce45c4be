package extension

import (
	"math"
	"time"
)

// reference is an obviously correct, slow model of Policy.Decide, written
// from DESIGN.md without sharing code with it: it keeps the whole history of
// granted requests of the cycle and recomputes everything from it.
type reference struct {
	policy  Policy
	granted []Progress // granted requests of the current cycle, in order
	warned  bool
}

func (r *reference) reset() {
	r.granted = r.granted[:0]
	r.warned = false
}

func (r *reference) grantFor(k int) time.Duration {
	g := r.policy.Base
	for i := 0; i < k && g > 0; i++ {
		g /= 2
	}
	if g < r.policy.MinGrant {
		g = r.policy.MinGrant
	}
	return g
}

func (r *reference) remaining() int {
	n := r.policy.MaxExtensions - len(r.granted)
	if n < 0 {
		return 0
	}
	return n
}

func (r *reference) decide(p Progress, now, deadline time.Duration) Decision {
	denied := func(reason Reason) Decision {
		return Decision{Deadline: deadline, Remaining: r.remaining(), Reason: reason}
	}
	if p.HasCount && p.Total != 0 && p.Completed > p.Total {
		return denied(InvalidProgress)
	}
	if p.HasFraction && (math.IsNaN(p.Fraction) || p.Fraction < 0 || p.Fraction > 1) {
		return denied(InvalidProgress)
	}
	if len(r.granted) >= r.policy.MaxExtensions {
		return denied(Exhausted)
	}
	if len(r.granted) > 0 {
		last := r.granted[len(r.granted)-1]
		var progressed bool
		if p.HasCount && last.HasCount {
			progressed = p.Completed > last.Completed
		} else if p.HasFraction && last.HasFraction {
			progressed = p.Fraction > last.Fraction
		}
		if !progressed {
			return denied(NoProgress)
		}
	}
	grant := r.grantFor(len(r.granted))
	r.granted = append(r.granted, p)
	start := deadline
	if now > start {
		start = now
	}
	newDeadline := start + grant
	if start > 0 && newDeadline < start { // wrapped past the largest instant
		newDeadline = math.MaxInt64
	}
	d := Decision{Granted: true, Grant: grant, Deadline: newDeadline, Remaining: r.remaining()}
	if !r.warned && d.Remaining <= r.policy.WarnRemaining {
		d.Warning = true
		r.warned = true
	}
	return d
}
