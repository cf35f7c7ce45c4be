package e2e

import (
	"testing"
	"time"

	"github.com/swimwheel/swimwheel/transport/memnet"
)

// A mass crash must not leave the local health multiplier up for good: in a
// fleet that heartbeats, healthy workers are rarely probed, so the score has
// to come down by itself once the trouble is over.
func TestLHMRecoversAfterMassCrash(t *testing.T) {
	s := newSim(t, 1, 1000, memnet.Link{Delay: time.Millisecond}) // no loss at all
	s.run(2 * time.Second)
	for i := 0; i < 1000; i += 10 {
		s.stop(i) // 10% crash at once
	}
	s.run(5 * time.Minute) // every crashed worker evicted long ago; 900 healthy ones heartbeat
	if lhm := s.m.Stats().LHM; lhm != 0 {
		t.Fatalf("LHM %d five minutes after a 10%% crash on a perfect network, want 0: probe and suspicion timeouts stay x%d", lhm, lhm+1)
	}
}
