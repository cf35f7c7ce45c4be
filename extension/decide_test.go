package extension

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"testing"
	"time"
	"unsafe"
)

func TestStateSize(t *testing.T) {
	if size := unsafe.Sizeof(State{}); size > 32 {
		t.Fatalf("State is %d bytes, want at most 32", size)
	}
}

func TestDefaultPolicyValid(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateSentinels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Policy)
		want   error
	}{
		{"base zero", func(p *Policy) { p.Base = 0 }, ErrBase},
		{"base negative", func(p *Policy) { p.Base = -time.Second }, ErrBase},
		{"min grant zero", func(p *Policy) { p.MinGrant = 0 }, ErrMinGrant},
		{"min grant negative", func(p *Policy) { p.MinGrant = -1 }, ErrMinGrant},
		{"max extensions negative", func(p *Policy) { p.MaxExtensions = -1 }, ErrMaxExtensions},
		{"max extensions too many", func(p *Policy) { p.MaxExtensions = 256 }, ErrMaxExtensions},
		{"warn below -1", func(p *Policy) { p.WarnRemaining = -2 }, ErrWarnRemaining},
		{"warn never", func(p *Policy) { p.WarnRemaining = -1 }, nil},
		{"max extensions zero", func(p *Policy) { p.MaxExtensions = 0 }, nil},
		{"min grant above base", func(p *Policy) { p.MinGrant = time.Minute }, nil},
		{"warn above max", func(p *Policy) { p.WarnRemaining = 100 }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			tc.mutate(&p)
			err := p.Validate()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGrantSchedule(t *testing.T) {
	p := DefaultPolicy()
	want := []time.Duration{
		30 * time.Second, 15 * time.Second, 7500 * time.Millisecond,
		3750 * time.Millisecond, 1875 * time.Millisecond, time.Second, time.Second,
	}
	for k, w := range want {
		if got := p.Grant(k); got != w {
			t.Errorf("Grant(%d) = %v, want %v", k, got, w)
		}
	}
	// Any k is safe, including shift counts past the width of Duration.
	for _, k := range []int{-1, math.MinInt, 62, 63, 64, 65, 1000, math.MaxInt} {
		want := time.Second
		if k < 0 {
			want = p.Base
		}
		if got := p.Grant(k); got != want {
			t.Errorf("Grant(%d) = %v, want %v", k, got, want)
		}
	}
	huge := Policy{Base: math.MaxInt64, MinGrant: 1}
	if got := huge.Grant(62); got != 1 {
		t.Errorf("Grant(62) of MaxInt64 = %v, want 1", got)
	}
}

func TestReasonStrings(t *testing.T) {
	for r, want := range map[Reason]string{
		Granted:          "",
		NotAlive:         "not-alive",
		StaleIncarnation: "stale-incarnation",
		InvalidProgress:  "invalid-progress",
		Exhausted:        "exhausted",
		NoProgress:       "no-progress",
		Reason(200):      "reason(200)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, want)
		}
	}
}

func TestRemainingNeverNegative(t *testing.T) {
	p := DefaultPolicy()
	var s State
	for i := 0; i < 5; i++ {
		p.Decide(&s, Request{Progress: Progress{Completed: uint64(i), HasCount: true}}, 0, 0)
	}
	p.MaxExtensions = 2 // a policy changed under a state that used more
	if got := p.Remaining(s); got != 0 {
		t.Fatalf("Remaining = %d, want 0", got)
	}
	d := p.Decide(&s, Request{Progress: Progress{Completed: 9, HasCount: true}}, 0, 0)
	if d.Granted || d.Reason != Exhausted || d.Remaining != 0 {
		t.Fatalf("Decide = %+v, want exhausted with 0 remaining", d)
	}
}

// Every denial returns the deadline it was given and leaves the state as it
// was, byte for byte.
func TestDenialLeavesStateUntouched(t *testing.T) {
	p := DefaultPolicy()
	count := func(c, total uint64) Request {
		return Request{Progress: Progress{Completed: c, Total: total, HasCount: true}}
	}
	fraction := func(f float64) Request {
		return Request{Progress: Progress{Fraction: f, HasFraction: true}}
	}
	var s State
	p.Decide(&s, Request{Progress: Progress{Completed: 5, Total: 10, HasCount: true, Fraction: 0.5, HasFraction: true}}, 0, 30*time.Second)
	for _, tc := range []struct {
		name string
		req  Request
		want Reason
	}{
		{"completed above total", count(11, 10), InvalidProgress},
		{"fraction negative", fraction(-0.1), InvalidProgress},
		{"fraction above one", fraction(1.1), InvalidProgress},
		{"fraction NaN", fraction(math.NaN()), InvalidProgress},
		{"fraction +Inf", fraction(math.Inf(1)), InvalidProgress},
		{"equal count", count(5, 10), NoProgress},
		{"lower count", count(4, 10), NoProgress},
		{"equal fraction", fraction(0.5), NoProgress},
		{"no progress at all", Request{}, NoProgress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s
			for _, deadline := range []time.Duration{-time.Hour, 0, 10 * time.Second, time.Hour} {
				d := p.Decide(&s, tc.req, 20*time.Second, deadline)
				want := Decision{Deadline: deadline, Remaining: 4, Reason: tc.want}
				if d != want {
					t.Fatalf("Decide = %+v, want %+v", d, want)
				}
				if s != before {
					t.Fatalf("state changed from %+v to %+v", before, s)
				}
			}
		})
	}
}

// TestDecideMatchesReference replays seeded random sequences against the
// reference model: 200k operations, 20M with SWIMWHEEL_LONG=1.
func TestDecideMatchesReference(t *testing.T) {
	ops := 200_000
	if os.Getenv("SWIMWHEEL_LONG") != "" {
		ops = 20_000_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4096)
	for done := 0; done < ops; {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		p := Policy{
			Base:          time.Duration(rng.Int64N(1 << 40)),
			MinGrant:      time.Duration(rng.Int64N(1 << 36)),
			MaxExtensions: rng.IntN(12),
			WarnRemaining: rng.IntN(4),
		}
		done += checkSequence(t, p, buf)
		if t.Failed() {
			return
		}
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	p := DefaultPolicy()
	var s State
	var i uint64
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		if i%6 == 0 {
			s.Reset()
		}
		p.Decide(&s, Request{Progress: Progress{Completed: i, HasCount: true, Fraction: 0.5, HasFraction: true}}, 0, 0)
	})
	if allocs != 0 {
		t.Fatalf("Decide allocates %v times per call", allocs)
	}
}
