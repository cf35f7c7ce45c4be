package extension

// State is one worker's extension cycle: how many grants it used, whether it
// was warned, and the progress of the last granted request. The zero value is
// a fresh cycle. It is 24 bytes, a plain value: the caller stores one per
// worker and guards it as it guards the rest of the worker's record.
type State struct {
	lastCompleted uint64  // last granted request's Completed, if flagHasCount
	lastFraction  float64 // last granted request's Fraction, if flagHasFraction
	used          uint8   // grants used this cycle
	flags         uint8   // flagWarned | flagHasCount | flagHasFraction
}

const (
	flagWarned      uint8 = 1 << iota // the cycle's warning was given
	flagHasCount                      // lastCompleted is set
	flagHasFraction                   // lastFraction is set
)

// Reset starts a new cycle (a healthy heartbeat or a new incarnation): no
// grants used, progress forgotten, warning cleared.
func (s *State) Reset() { *s = State{} }

// Used returns the number of grants used this cycle.
func (s State) Used() int { return int(s.used) }

// Warned reports whether this cycle's warning was already given.
func (s State) Warned() bool { return s.flags&flagWarned != 0 }

// LastProgress returns the progress of the last granted request of the cycle
// (the zero Progress when nothing was granted yet). Total is not kept.
func (s State) LastProgress() Progress {
	return Progress{
		Completed:   s.lastCompleted,
		HasCount:    s.flags&flagHasCount != 0,
		Fraction:    s.lastFraction,
		HasFraction: s.flags&flagHasFraction != 0,
	}
}
