package wheel

// Seal clears the pushable bit of an armed slot and returns its deadline at
// that instant; ok is false if t is stale or the slot is disarmed. From the
// successful CAS on, every PushLater fails (it checks the bit in the same
// word), so a caller that then reads, computes and re-Arms the deadline
// cannot overwrite a push that landed in between: each push either happened
// before the CAS, and is in the returned value, or fails, and its caller
// knows. Seal is lock-free; a concurrent Advance that disarms the slot first
// makes Seal report ok=false, and one that tries after sees its CAS fail and
// reloads the sealed word.
func (w *Wheel) Seal(t Ticket) (Time, bool) {
	wp := w.word(t.Slot)
	if wp == nil {
		return 0, false
	}
	for {
		old := wp.Load()
		if !live(old, t.Gen) || deadlineUs(old) == 0 {
			return 0, false
		}
		if old&pushBit == 0 || wp.CompareAndSwap(old, old&^pushBit) {
			return Time(deadlineUs(old) * 1000), true
		}
	}
}
