package wheel

// A slot's state is one atomic 64-bit word:
//
//	bits 63..17  deadline in µs since the epoch (47 bits); 0 = disarmed
//	bit  16      pushable: PushLater may move the deadline later
//	bits 15..0   generation; odd while the slot is allocated, even while free
//
// Deadlines are stored rounded up to the microsecond, so a deadline never
// fires early; a deadline at or before the epoch is stored as 1 µs.
const (
	genMask = 1<<16 - 1
	pushBit = 1 << 16
	usShift = 17
	maxUs   = 1<<47 - 1
	lowMask = 1<<usShift - 1
)

func pack(gen uint16, us int64, pushable bool) uint64 {
	v := uint64(us)<<usShift | uint64(gen)
	if pushable {
		v |= pushBit
	}
	return v
}

func deadlineUs(v uint64) int64 { return int64(v >> usShift) }

func generation(v uint64) uint16 { return uint16(v & genMask) }

// live reports whether gen is the word's generation and the slot is allocated.
func live(v uint64, gen uint16) bool { return generation(v) == gen && gen&1 == 1 }

// toUs converts a deadline to stored microseconds: rounded up, at least 1,
// at most maxUs.
func toUs(d Time) int64 {
	switch {
	case d <= 0:
		return 1
	case d >= MaxTime:
		return maxUs
	}
	return (int64(d) + 999) / 1000
}

// fireTick is the tick in which a deadline of us microseconds fires: the first
// tick whose time is at or after it. Because Tick is a whole number of µs,
// ceil(ceil(d/1µs)/tickUs) = ceil(d/Tick) for a deadline d in ns.
func (w *Wheel) fireTick(us int64) int64 { return (us + w.tickUs - 1) / w.tickUs }
