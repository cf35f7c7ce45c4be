package wire

import (
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestReplayWindowSize(t *testing.T) {
	if s := unsafe.Sizeof(ReplayWindow{}); s != 16 {
		t.Fatalf("ReplayWindow is %d bytes, want 16", s)
	}
}

func TestReplayWindowEdges(t *testing.T) {
	steps := []struct {
		seq  uint64
		want bool
		note string
	}{
		{0, false, "seq 0 is never valid"},
		{1, true, "first"},
		{1, false, "duplicate"},
		{0, false, "seq 0 after start"},
		{5, true, "ahead"},
		{3, true, "out of order within the window"},
		{3, false, "duplicate within the window"},
		{2, true, "out of order"},
		{4, true, "fill the gap"},
		{5, false, "duplicate of max"},
		{68, true, "5 becomes the oldest tracked"},
		{5, false, "oldest tracked, already seen"},
		{6, true, "unseen, inside the window"},
		{6, false, "now seen"},
		{4, false, "older than the window"},
		{68 - 63, false, "edge of the window, seen"},
		{100, true, "slide by 32"},
		{100 - 63, true, "edge of the window, unseen"},
		{100 - 64, false, "just outside the window"},
		{1000, true, "jump far ahead"},
		{1000 - 63, true, "window was cleared by the jump"},
		{999, true, "just below max"},
		{100, false, "far behind"},
		{MaxSeq, true, "largest"},
		{MaxSeq + 1, false, "lock bit"},
		{1<<64 - 1, false, "all ones"},
		{MaxSeq - 1, true, "below largest"},
	}
	var w ReplayWindow
	for i, s := range steps {
		if got := w.Check(s.seq); got != s.want {
			t.Fatalf("step %d (%s): Check(%d) = %v, want %v", i, s.note, s.seq, got, s.want)
		}
	}
	if w.Max() != MaxSeq {
		t.Fatalf("Max %d", w.Max())
	}
	w.Reset()
	if w.Max() != 0 || !w.Check(1) {
		t.Fatal("Reset did not empty the window")
	}
}

// refWindow is the obviously correct reference: a set of every accepted
// number and the maximum.
type refWindow struct {
	max  uint64
	seen map[uint64]bool
}

func (r *refWindow) check(seq uint64) bool {
	if seq == 0 || seq > MaxSeq || r.seen[seq] || (seq < r.max && r.max-seq >= WindowSize) {
		return false
	}
	r.seen[seq] = true
	r.max = max(r.max, seq)
	return true
}

func TestReplayWindowModel(t *testing.T) {
	n := 200_000
	if os.Getenv("SWIMWHEEL_LONG") != "" {
		n = 20_000_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var w ReplayWindow
	ref := refWindow{seen: map[uint64]bool{}}
	var next uint64 = 1
	for i := range n {
		var seq uint64
		switch rng.IntN(6) {
		case 0, 1: // in order
			seq = next
			next++
		case 2: // reordered or duplicated, around the window edge
			seq = next - min(next, uint64(rng.IntN(2*WindowSize)))
		case 3: // a small jump
			next += uint64(rng.IntN(100))
			seq = next
		case 4: // a duplicate of a recent one
			seq = ref.max - min(ref.max, uint64(rng.IntN(4)))
		case 5:
			if rng.IntN(100) == 0 { // rarely, far ahead
				next += 1 << 20
			}
			seq = next
		}
		if got, want := w.Check(seq), ref.check(seq); got != want {
			t.Fatalf("op %d: Check(%d) = %v, reference %v (max %d)", i, seq, got, want, ref.max)
		}
	}
}

// Several goroutines offer the same numbers in different orders: each is
// accepted exactly once (they all lie within one window width).
func TestReplayWindowConcurrent(t *testing.T) {
	rounds := 200
	var w ReplayWindow
	for r := range rounds {
		base := uint64(r) * WindowSize
		var accepted [WindowSize]atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), uint64(g)))
				for _, i := range rng.Perm(WindowSize) {
					if w.Check(base + uint64(i) + 1) {
						accepted[i].Add(1)
					}
				}
			}()
		}
		wg.Wait()
		for i := range accepted {
			if n := accepted[i].Load(); n != 1 {
				t.Fatalf("round %d: seq %d accepted %d times", r, base+uint64(i)+1, n)
			}
		}
	}
}

func TestSequence(t *testing.T) {
	var s Sequence
	if s.Next() != 1 || s.Next() != 2 {
		t.Fatal("zero value does not count from 1")
	}
	s2 := NewSequence(1_700_000_000_000_000_000)
	if s2.Next() != 1_700_000_000_000_000_000 || s2.Next() != 1_700_000_000_000_000_001 {
		t.Fatal("NewSequence does not start at first")
	}
	if NewSequence(0).Next() != 1 {
		t.Fatal("NewSequence(0) does not start at 1")
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				s.Next()
			}
		}()
	}
	wg.Wait()
	if s.Next() != 4003 {
		t.Fatal("concurrent Next lost or repeated numbers")
	}
}

func TestSequenceAtLeast(t *testing.T) {
	s := NewSequence(100)
	require.Equal(t, uint64(100), s.Next())
	s.AtLeast(50) // never lowers
	require.Equal(t, uint64(101), s.Next())
	s.AtLeast(1000)
	require.Equal(t, uint64(1000), s.Next())
	s.AtLeast(1000) // already past: unchanged
	require.Equal(t, uint64(1001), s.Next())
	s.AtLeast(0)
	require.Equal(t, uint64(1002), s.Next())
}
