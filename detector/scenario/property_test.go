package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scripts is how many random scripts each property runs: a few hundred in
// plain `go test`, many more with SWIMWHEEL_LONG=1.
func scripts() int {
	if os.Getenv("SWIMWHEEL_LONG") != "" {
		return 20000
	}
	return 300
}

// outLine is one line of a run's output, as far as the properties look.
type outLine struct {
	T        int64  `json:"t"`
	Event    string `json:"event"`
	Reply    string `json:"reply"`
	Worker   string `json:"worker"`
	Granted  *bool  `json:"granted"`
	Grant    int64  `json:"grant"`
	Deadline int64  `json:"deadline"`
	Reason   string `json:"reason"`
	Score    int    `json:"score"`
}

// genConfig is a random script's configuration, in milliseconds.
type genConfig struct {
	base, suspicion, probeTimeout, minGrant int64
	maxExt                                  int
	probing                                 bool
	seed                                    uint64
}

func (c genConfig) line() string {
	return fmt.Sprintf("config tick=10ms base=%dms suspicion=%dms suspicion-min=%dms probe-timeout=%dms min-grant=%dms max-extensions=%d probing=%s brake=0 seed=%d",
		c.base, c.suspicion, c.suspicion, c.probeTimeout, c.minGrant, c.maxExt, map[bool]string{true: "on", false: "off"}[c.probing], c.seed)
}

// genWorker is one simulated worker's plan and the deadline it must end up
// with, modelled from DESIGN.md independently of the detector.
type genWorker struct {
	id       string
	healthy  bool  // checks in within every base interval to the end
	stop     int64 // !healthy: last check-in, then it crashes
	deadline int64 // model: the deadline after its last action
	used     int
	last     uint64 // last granted progress
	hasLast  bool
	progress uint64
	// the model's decision for each extend, in order
	wantGranted  []bool
	wantDeadline []int64
}

type scriptLine struct {
	at   int64
	seq  int
	text string
}

// script is a generated scenario and what the model expects of it.
type script struct {
	cfg     genConfig
	text    string
	workers []*genWorker
	end     int64
}

func (w *genWorker) heartbeat(c genConfig, at int64) {
	w.deadline = max(w.deadline, at+c.base)
	w.used, w.hasLast = 0, false
}

// extend models DESIGN.md's "Extension decisions" for a request with a
// count of completed items.
func (w *genWorker) extend(c genConfig, at int64, completed uint64) {
	granted := w.used < c.maxExt && (w.used == 0 || w.hasLast && completed > w.last)
	if granted {
		g := max(c.minGrant, c.base>>w.used)
		w.deadline = max(w.deadline, at) + g
		w.used++
		w.last, w.hasLast = completed, true
	}
	w.wantGranted = append(w.wantGranted, granted)
	w.wantDeadline = append(w.wantDeadline, w.deadline)
}

func genScript(rng *rand.Rand, probing bool) *script {
	c := genConfig{
		base:         []int64{2000, 5000, 10000, 30000}[rng.IntN(4)],
		suspicion:    []int64{1000, 3000, 10000}[rng.IntN(3)],
		probeTimeout: []int64{100, 200, 500}[rng.IntN(3)],
		minGrant:     []int64{100, 1000}[rng.IntN(2)],
		maxExt:       rng.IntN(6),
		probing:      probing,
		seed:         rng.Uint64(),
	}
	s := &script{cfg: c}
	var lines []scriptLine
	seq := 0
	add := func(at int64, format string, args ...any) {
		seq++
		lines = append(lines, scriptLine{at, seq, fmt.Sprintf("at %dms ", at) + fmt.Sprintf(format, args...)})
	}
	horizon := 6 * c.base
	n := 2 + rng.IntN(11)
	for i := range n {
		w := &genWorker{id: fmt.Sprintf("w%d", i), healthy: rng.IntN(2) == 0}
		s.workers = append(s.workers, w)
		at := rng.Int64N(c.base)
		add(at, "join %s", w.id)
		w.deadline = at + c.base
		stop := horizon
		if !w.healthy {
			stop = at + rng.Int64N(horizon/2)
		}
		for last := at; ; {
			// The next check-in, strictly within base of the last one,
			// with extensions at random times before it and progress
			// that mostly grows.
			next := last + 1 + rng.Int64N(c.base-1)
			if next > stop {
				break
			}
			for range rng.IntN(3) {
				at += rng.Int64N(next - at + 1)
				if rng.IntN(4) != 0 {
					w.progress += 1 + rng.Uint64N(5)
				}
				add(at, "extend %s completed=%d", w.id, w.progress)
				w.extend(c, at, w.progress)
			}
			at, last = next, next
			add(at, "heartbeat %s", w.id)
			w.heartbeat(c, at)
		}
		if w.healthy {
			continue
		}
		// It stops checking in: its last check-in is at, then it crashes
		// (with probing on it stops answering probes). It may still ask
		// for grants before its deadline passes.
		w.stop = at
		add(at, "crash %s", w.id)
		for range rng.IntN(4) {
			if w.deadline-1 <= at {
				break
			}
			at += rng.Int64N(w.deadline - at)
			w.progress += uint64(rng.IntN(2))
			add(at, "extend %s completed=%d", w.id, w.progress)
			w.extend(c, at, w.progress)
		}
	}
	slices.SortStableFunc(lines, func(a, b scriptLine) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.seq - b.seq
	})
	var b strings.Builder
	b.WriteString(c.line() + "\n")
	last := int64(0)
	for _, l := range lines {
		b.WriteString(l.text + "\n")
		last = l.at
	}
	// Long enough for every stopped worker to be evicted at the worst LHM.
	s.end = last + c.base*2 + 9*(2*c.probeTimeout+c.suspicion) + 1000
	for _, w := range s.workers {
		s.end = max(s.end, w.deadline+9*(2*c.probeTimeout+c.suspicion)+1000)
	}
	fmt.Fprintf(&b, "run %dms\n", s.end)
	s.text = b.String()
	return s
}

func runScript(t *testing.T, text string) []outLine {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, Run(strings.NewReader(text), &out))
	var lines []outLine
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l outLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), sc.Text())
		lines = append(lines, l)
	}
	return lines
}

// TestPropertyCheckInAndEviction runs random scripts with probing off and
// on (no loss) and checks, per worker:
//
//   - one that checks in within every base interval is never suspected
//     nor evicted while it does, whatever extensions it asks for (with
//     probing on, answering probes after its last heartbeat, never);
//   - one that stops checking in (and crashes) is suspected no earlier than
//     its deadline and evicted no earlier than deadline + window, and at the
//     latest at base + the grants since its last check-in + the probe phase
//     (2 x probe timeout x (LHM+1)) + the window x (LHM+1) + one tick after
//     its last check-in;
//   - every extension is decided as DESIGN.md says, and a grant moves the
//     deadline by exactly the grant.
func TestPropertyCheckInAndEviction(t *testing.T) {
	for _, probing := range []bool{false, true} {
		t.Run(fmt.Sprintf("probing=%v", probing), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2026, map[bool]uint64{false: 0, true: 1}[probing]))
			for n := range scripts() {
				s := genScript(rng, probing)
				if !checkScript(t, s) {
					t.Fatalf("script %d failed:\n%s", n, s.text)
				}
			}
		})
	}
}

func checkScript(t *testing.T, s *script) bool {
	c := s.cfg
	lines := runScript(t, s.text)
	byID := map[string]*genWorker{}
	for _, w := range s.workers {
		byID[w.id] = w
	}
	extends := map[string]int{}
	suspected := map[string]int64{}
	evicted := map[string]int64{}
	lhm := 0
	ok := true
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		ok = false
	}
	for _, l := range lines {
		w := byID[l.Worker]
		switch {
		case l.Event == "lhm":
			lhm = max(lhm, l.Score)
		case l.Reply == "extend":
			k := extends[w.id]
			extends[w.id]++
			if k >= len(w.wantGranted) {
				fail("%s: unexpected extend reply", w.id)
				continue
			}
			if *l.Granted != w.wantGranted[k] || (l.Deadline != w.wantDeadline[k] && *l.Granted) {
				fail("%s: extend %d at %d: granted=%v deadline=%d, model says granted=%v deadline=%d",
					w.id, k, l.T, *l.Granted, l.Deadline, w.wantGranted[k], w.wantDeadline[k])
			}
		case l.Event == "suspected":
			if _, dup := suspected[w.id]; !dup {
				suspected[w.id] = l.T
			}
		case l.Event == "evicted":
			evicted[w.id] = l.T
		case l.Event == "refuted" && !w.healthy:
			fail("%s refuted after it crashed", w.id)
		case l.Reply != "" && l.Reply != "status":
			fail("unexpected reply %+v", l)
		}
	}
	for _, w := range s.workers {
		if w.healthy && c.probing {
			// It answers every probe after its last heartbeat: alive for
			// good.
			if at, bad := suspected[w.id]; bad {
				fail("%s checked in within every base but was suspected at %d", w.id, at)
			}
			if at, bad := evicted[w.id]; bad {
				fail("%s checked in within every base but was evicted at %d", w.id, at)
			}
			continue
		}
		// It stopped checking in (a healthy worker without probing, at the
		// end of the script): never suspected before its deadline, evicted
		// within the bound.
		ev, done := evicted[w.id]
		if !done {
			fail("%s stopped at %d (deadline %d) and was never evicted", w.id, w.stop, w.deadline)
			continue
		}
		probe := int64(0)
		if c.probing {
			probe = 2 * c.probeTimeout * int64(lhm+1)
		}
		latest := w.deadline + probe + c.suspicion*int64(lhm+1) + 10
		if ev > latest {
			fail("%s evicted at %d, after the bound %d (stop %d, deadline %d, lhm %d)", w.id, ev, latest, w.stop, w.deadline, lhm)
		}
		if sus := suspected[w.id]; sus < w.deadline {
			fail("%s suspected at %d, before its deadline %d", w.id, sus, w.deadline)
		}
		if ev < w.deadline+c.suspicion {
			fail("%s evicted at %d, before deadline %d + window %d", w.id, ev, w.deadline, c.suspicion)
		}
	}
	return ok
}
