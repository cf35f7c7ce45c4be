package detector

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Behaviours DESIGN.md and the package doc promise that the code does not
// have yet. Each test fails until the fix described beside it is applied.

// An Advance exactly at the earliest real deadline is on time, however the
// shell got there: the local health multiplier must not rise because the
// wheel's NextDeadline (a lower bound, the start of a coarse bucket) was
// earlier. Fix (expire.go, Advance): measure lateness against the tick of
// the first real expiry, the `at` of the first fire batch of this Advance,
// instead of against NextDeadline before advancing.
func TestAdvanceAtRealDeadlineIsNotLate(t *testing.T) {
	r := newRig(t)
	r.join("w1", 0)
	next, ok := r.d.NextDeadline()
	require.True(t, ok)
	require.Less(t, next, 30*sec, "the coarse bucket starts before the deadline")
	r.d.Advance(30 * sec)
	require.Equal(t, []EventKind{EventSuspected}, kinds(r.takeEvents()), "no starvation: the deadline fired on time")
	require.Equal(t, 0, r.d.LHM())
}

// With probing off the detector sends nothing, ever: also not while a
// suspicion window is stretched by a local health multiplier that rose
// after the worker turned suspect. Fix (expire.go, expire, StatusSuspect):
// ping and re-arm at min(at+probeTimeout, end) only when cfg.Probing; else
// re-arm at end.
func TestProbingOffSendsNothingWhileSuspect(t *testing.T) {
	r := newRig(t)
	r.join("w1", 0)
	r.advance(30 * sec)
	require.Equal(t, []EventKind{EventSuspected}, kinds(r.takeEvents()))
	// The shell runs late once at 40s: the LHM rises, the window doubles.
	r.d.Advance(40*sec + 100*ms)
	r.now = 40*sec + 100*ms
	require.Equal(t, 1, r.d.LHM())
	require.Equal(t, StatusSuspect, r.status("w1").Status)
	r.advance(49 * sec)
	require.Empty(t, r.takeSent(), "probing is off")
}

// Config documents WarnRemaining -1 as "never warn": it must be accepted.
// Validate passes it to extension.Policy.Validate, which rejects any
// negative value. Fix: accept -1 there (extension/policy.go, Validate:
// p.WarnRemaining < -1), or drop "-1: never" from config.go and reject
// negatives in Config.Validate with the field's name.
func TestConfigWarnRemainingNever(t *testing.T) {
	cfg := testConfig()
	cfg.WarnRemaining = -1
	require.NoError(t, cfg.Validate())
	cfg.MaxExtensions = 1
	d, err := New(cfg)
	require.NoError(t, err)
	tk, _ := d.Join(0, "w1", 0)
	dec := d.Extend(0, tk, 0, counts(1, 2))
	require.True(t, dec.Granted)
	require.Equal(t, 0, dec.Remaining)
	require.False(t, dec.Warning)
}
