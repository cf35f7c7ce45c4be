package detector

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/wheel"
)

// lifeguardWindow is the window of the package doc, computed here on its
// own: max(min, max - (max-min) x log(c+1)/log(K+1)).
func lifeguardWindow(hi, lo time.Duration, k, c int) time.Duration {
	c = min(c, k)
	if c == 0 {
		return hi
	}
	frac := math.Log(float64(c)+1) / math.Log(float64(k)+1)
	return max(lo, hi-time.Duration(frac*float64(hi-lo)))
}

// With K=3 and a 10s..2s window, independent confirmations shrink the
// window to about 6s, 3.66s and 2s; the wheel evicts exactly at the new end.
func TestConfirmShrinksSuspicionWindow(t *testing.T) {
	approx := []time.Duration{10 * time.Second, 6 * time.Second, 3660 * time.Millisecond, 2 * time.Second}
	for c := 1; c <= 3; c++ {
		r := newRig(t)
		tk := r.join("w1", 0)
		r.advance(30 * sec)
		r.takeEvents()
		require.Equal(t, 40*sec, r.status("w1").Deadline)
		r.advance(31 * sec)
		for peer := range c {
			r.d.Confirm(r.now, tk, peer*7) // any peer numbers, independent
			r.d.Confirm(r.now, tk, peer*7) // a repeat from the same peer does not count
		}
		w := lifeguardWindow(10*time.Second, 2*time.Second, 3, c)
		require.InDelta(t, float64(approx[c]), float64(w), float64(time.Millisecond))
		end := 30*sec + wheel.Time(w)
		st := r.status("w1")
		require.Equal(t, end, st.Deadline, "%d confirmations", c)
		require.Equal(t, (end+999)/1000*1000, r.wheelDeadline(tk), "the slot holds the window's end (µs)")
		require.Empty(t, r.takeEvents(), "confirmations emit nothing")
		fire := (end + 10*ms - 1) / (10 * ms) * (10 * ms) // first tick at or after the end
		r.advance(fire - 1)
		require.Empty(t, r.takeEvents())
		r.advance(fire)
		require.Equal(t, []Event{{Kind: EventEvicted, At: fire, Worker: "w1", Ticket: tk, Cause: CauseDeadline}}, r.takeEvents())
	}
}

func TestConfirmIgnoredWhenNotSuspectOrBadPeer(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 0)
	r.d.Confirm(r.now, tk, 0) // alive: nothing to confirm
	r.advance(30 * sec)
	r.takeEvents()
	r.d.Confirm(r.now, tk, -1)
	r.d.Confirm(r.now, tk, 32)
	r.d.Confirm(r.now, wheel.Ticket{Slot: 9, Gen: 1}, 0)
	require.Equal(t, 40*sec, r.status("w1").Deadline, "a confirmation from before the suspicion does not count")
	// More than K confirmations: the window stays at its floor.
	for peer := range 10 {
		r.d.Confirm(r.now, tk, peer)
	}
	require.Equal(t, 32*sec, r.status("w1").Deadline)
	// A window that shrank past now ends in the next tick.
	r2 := newRig(t)
	tk2 := r2.join("w1", 0)
	r2.advance(35 * sec)
	r2.takeEvents()
	for peer := range 3 {
		r2.d.Confirm(r2.now, tk2, peer)
	}
	r2.advance(35*sec + 10*ms)
	require.Equal(t, []Event{{Kind: EventEvicted, At: 35*sec + 10*ms, Worker: "w1", Ticket: tk2, Cause: CauseDeadline}}, r2.takeEvents())
	// A refutation clears the confirmations: the next suspicion starts over.
	r3 := newRig(t)
	tk3 := r3.join("w1", 0)
	r3.advance(30 * sec)
	r3.d.Confirm(r3.now, tk3, 0)
	require.Equal(t, Accepted, r3.d.Heartbeat(r3.now, tk3, 1))
	r3.advance(60 * sec)
	require.Equal(t, 70*sec, r3.status("w1").Deadline)
}

// Extension granted -> the wheel slot moved: the detector keeps no other
// deadline; status and wheel agree at every step, and expiry happens
// exactly at the new deadline, not at the old one.
func TestExtensionMovesTheWheelSlot(t *testing.T) {
	for _, probing := range []bool{false, true} {
		r := newRig(t, func(c *Config) { c.Probing = probing })
		tk := r.join("w1", 0)
		r.advance(10 * sec)
		dec := r.d.Extend(r.now, tk, 0, counts(10, 100))
		require.True(t, dec.Granted)
		require.Equal(t, 60*time.Second, dec.Deadline)
		require.Equal(t, 60*sec, r.wheelDeadline(tk))
		require.Equal(t, 60*sec, r.status("w1").Deadline)
		r.takeEvents()
		var firedAt []wheel.Time
		for {
			next, ok := r.d.NextDeadline()
			require.True(t, ok)
			require.LessOrEqual(t, next, 60*sec, "NextDeadline is a lower bound of the real deadline")
			require.Equal(t, r.status("w1").Deadline, r.wheelDeadline(tk))
			r.now = next
			r.d.Advance(next)
			if evs := r.takeEvents(); len(evs) > 0 || len(r.sent) > 0 {
				firedAt = append(firedAt, next)
				break
			}
		}
		require.Equal(t, []wheel.Time{60 * sec}, firedAt, "the first expiry is at the granted deadline")
		if probing {
			require.Equal(t, []Message{{Kind: MsgPing, To: tk, ProbeSeq: 1}}, r.takeSent())
		} else {
			require.Equal(t, StatusSuspect, r.status("w1").Status)
		}
	}
	// The record has no deadline of its own: the only wheel.Time it holds is
	// when a suspicion began.
	rt := reflect.TypeOf(record{})
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.Type == reflect.TypeOf(wheel.Time(0)) {
			require.Equal(t, "since", f.Name)
		}
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
	cases := []struct {
		field string
		set   func(*Config)
	}{
		{"tick", func(c *Config) { c.Tick = 0 }},
		{"tick", func(c *Config) { c.Tick = time.Nanosecond }},
		{"base", func(c *Config) { c.Base = time.Millisecond }},
		{"min-grant", func(c *Config) { c.MinGrant = 0 }},
		{"max-extensions", func(c *Config) { c.MaxExtensions = -1 }},
		{"max-extensions", func(c *Config) { c.MaxExtensions = 65 }},
		{"warn-remaining", func(c *Config) { c.WarnRemaining = -2 }},
		{"suspicion", func(c *Config) { c.Suspicion = 0 }},
		{"suspicion-min", func(c *Config) { c.SuspicionMin = 0 }},
		{"suspicion-min", func(c *Config) { c.SuspicionMin = c.Suspicion + 1 }},
		{"confirmations", func(c *Config) { c.Confirmations = 0 }},
		{"confirmations", func(c *Config) { c.Confirmations = 33 }},
		{"probe-timeout", func(c *Config) { c.ProbeTimeout = 0 }},
		{"indirect", func(c *Config) { c.Indirect = -1 }},
		{"indirect", func(c *Config) { c.Indirect = 16 }},
		{"lhm", func(c *Config) { c.MaxLHM = -1 }},
		{"late-ticks", func(c *Config) { c.LateTicks = 0 }},
		{"brake", func(c *Config) { c.Brake = math.NaN() }},
		{"brake", func(c *Config) { c.Brake = 1.5 }},
		{"brake-stop", func(c *Config) { c.BrakeStop = 0 }},
		{"brake-stop", func(c *Config) { c.Brake, c.BrakeStop = 0.5, 0.4 }},
		{"eviction-rate", func(c *Config) { c.EvictionRate = 0 }},
		{"eviction-rate", func(c *Config) { c.EvictionRate = math.Inf(1) }},
		{"brake-min-fleet", func(c *Config) { c.BrakeMinFleet = -1 }},
		{"retention", func(c *Config) { c.Retention = time.Millisecond }},
		{"max-workers", func(c *Config) { c.MaxWorkers = 0 }},
		{"max-workers", func(c *Config) { c.MaxWorkers = 1<<28 + 1 }},
		{"shards", func(c *Config) { c.Shards = 3 }},
		{"shards", func(c *Config) { c.Shards = -2 }},
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		tc.set(&cfg)
		err := cfg.Validate()
		require.Error(t, err, tc.field)
		require.True(t, errors.Is(err, ErrConfig), "%v", err)
		require.True(t, strings.HasPrefix(err.Error(), ErrConfig.Error()+": "+tc.field+" "), "%q should name %s", err, tc.field)
		_, err = New(cfg)
		require.ErrorIs(t, err, ErrConfig)
	}
}
