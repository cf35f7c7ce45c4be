package scenario

import (
	"io"
	"strings"
	"testing"
	"time"
)

// A script may name any time a Go duration can hold, but the detector's
// wheel ends at wheel.MaxTime (about 4.46 years). A run past it must end
// (or refuse the line) rather than spin tick by tick: here one live worker,
// probed every 1000h, and a run to 40000h. Past the end the wheel cannot
// advance, a re-armed slot stays due, and advanceTo (run.go) steps e.now by
// one tick per iteration up to the script's time. Fix (parse.go, parseTime):
// refuse a time beyond wheel.MaxTime with an error naming it.
func TestTimeBeyondWheelRange(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		done <- Run(strings.NewReader("config base=1000h\nat 0s join w\nrun 40000h\n"), io.Discard)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a run past the wheel's range did not end within 5s")
	}
}
