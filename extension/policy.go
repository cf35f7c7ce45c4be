package extension

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Sentinel errors returned (wrapped, with the offending value) by Validate.
var (
	ErrBase          = errors.New("extension: Base must be positive")
	ErrMinGrant      = errors.New("extension: MinGrant must be positive")
	ErrMaxExtensions = errors.New("extension: MaxExtensions must be in [0, 255]")
	ErrWarnRemaining = errors.New("extension: WarnRemaining must be -1 (never warn) or more")
)

// maxUsed is the largest grant count a State can hold (its counter is a uint8).
const maxUsed = math.MaxUint8

// Policy is the AD-26 extension policy. Its zero value is not usable: start
// from DefaultPolicy or check a hand-built Policy with Validate. A Policy is a
// plain value; its methods are safe for concurrent use.
type Policy struct {
	// Base is the first grant of a cycle; the k-th grant is
	// max(MinGrant, Base>>k).
	Base time.Duration
	// MinGrant is the floor under the halving schedule.
	MinGrant time.Duration
	// MaxExtensions is the number of grants a cycle allows (0 disables
	// extensions: every request is denied "exhausted").
	MaxExtensions int
	// WarnRemaining: the first grant of a cycle that leaves at most this many
	// grants carries a warning; -1 never warns.
	WarnRemaining int
}

// DefaultPolicy returns the defaults of DESIGN.md: grants of 30s, 15s, 7.5s,
// 3.75s and 1.875s, a 1s floor, and a warning when one grant remains.
func DefaultPolicy() Policy {
	return Policy{
		Base:          30 * time.Second,
		MinGrant:      time.Second,
		MaxExtensions: 5,
		WarnRemaining: 1,
	}
}

// Validate reports the first field of p that is out of range; the error wraps
// one of the Err* sentinels and names the field and its value.
// MinGrant above Base is allowed: every grant is then MinGrant.
func (p Policy) Validate() error {
	switch {
	case p.Base <= 0:
		return fmt.Errorf("%w (Base = %v)", ErrBase, p.Base)
	case p.MinGrant <= 0:
		return fmt.Errorf("%w (MinGrant = %v)", ErrMinGrant, p.MinGrant)
	case p.MaxExtensions < 0 || p.MaxExtensions > maxUsed:
		return fmt.Errorf("%w (MaxExtensions = %d)", ErrMaxExtensions, p.MaxExtensions)
	case p.WarnRemaining < -1:
		return fmt.Errorf("%w (WarnRemaining = %d)", ErrWarnRemaining, p.WarnRemaining)
	}
	return nil
}

// Grant returns the k-th grant of a cycle (k = 0, 1, ...):
// max(MinGrant, Base / 2^k). Any k is safe: a negative k counts as 0 and a k
// past the width of Base leaves MinGrant.
func (p Policy) Grant(k int) time.Duration {
	if k < 0 {
		k = 0
	}
	var halved time.Duration
	if k < 63 {
		halved = p.Base >> uint(k)
	}
	return max(p.MinGrant, halved)
}

// Remaining returns the grants left in the cycle s is in: MaxExtensions minus
// the grants used, never below zero.
func (p Policy) Remaining(s State) int {
	return max(0, p.MaxExtensions-s.Used())
}
