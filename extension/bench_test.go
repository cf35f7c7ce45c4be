package extension

import (
	"testing"
	"time"
)

// BenchmarkDecide measures one decision. impl=policy is Policy.Decide;
// impl=reference is the slow history-keeping model of the tests, the
// baseline. case=cycle runs whole cycles (five grants, one exhausted denial,
// a reset); case=no-progress is a repeated denial.
func BenchmarkDecide(b *testing.B) {
	p := DefaultPolicy()
	reqs := make([]Request, 6)
	for i := range reqs {
		reqs[i] = Request{Progress: Progress{Completed: uint64(i), Total: 10, HasCount: true}}
	}
	b.Run("impl=policy/case=cycle", func(b *testing.B) {
		b.ReportAllocs()
		var s State
		var deadline time.Duration
		for i := 0; b.Loop(); i++ {
			j := i % (len(reqs) + 1)
			if j == len(reqs) {
				s.Reset()
				continue
			}
			deadline = p.Decide(&s, reqs[j], time.Duration(i), deadline).Deadline
		}
	})
	b.Run("impl=reference/case=cycle", func(b *testing.B) {
		b.ReportAllocs()
		ref := reference{policy: p}
		var deadline time.Duration
		for i := 0; b.Loop(); i++ {
			j := i % (len(reqs) + 1)
			if j == len(reqs) {
				ref.reset()
				continue
			}
			deadline = ref.decide(reqs[j].Progress, time.Duration(i), deadline).Deadline
		}
	})
	b.Run("impl=policy/case=no-progress", func(b *testing.B) {
		b.ReportAllocs()
		var s State
		p.Decide(&s, reqs[1], 0, 0)
		for i := 0; b.Loop(); i++ {
			if p.Decide(&s, reqs[1], time.Duration(i), 0).Granted {
				b.Fatal("granted without progress")
			}
		}
	})
}
