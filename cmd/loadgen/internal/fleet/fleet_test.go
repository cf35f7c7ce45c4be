package fleet

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/detector"
)

// TestMain lets the test binary serve as the manager's child process, so
// that the test runs the same two-process setup as `loadgen`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == ServeCommand {
		os.Exit(Serve(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestFleetSmall runs the default fault plan at small scale in real time:
// 2,000 workers for 10 s with a 1 s base deadline and suspicion window, so
// that every fault resolves within the run.
func TestFleetSmall(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 2000
	cfg.Duration = 10 * time.Second
	cfg.Heartbeat = 200 * time.Millisecond
	cfg.Base = time.Second
	cfg.Suspicion = time.Second
	cfg.Sockets = 4
	cfg.ServeCommand = []string{os.Args[0], ServeCommand}
	rep, err := Run(context.Background(), cfg, Options{})
	require.NoError(t, err)

	require.Equal(t, map[string]int{"healthy": 1916, "crash": 20, "pause": 20, "long": 40, "stuck": 4, "partition": 0}, rep.Roles)
	require.Zero(t, rep.FalseEvictions, "false evictions: %v", rep.FalseEvicted)
	require.Zero(t, rep.Fleet.ToldDeadHealthy)

	require.Equal(t, 20, rep.Crash.Evicted, "every crashed worker evicted")
	require.EqualValues(t, 20, rep.Latency.Evicted.Count)
	require.EqualValues(t, 20, rep.Latency.Suspected.Count)
	require.Equal(t, 4, rep.Stuck.Evicted, "every stuck worker evicted")

	x := rep.Extensions
	require.NotZero(t, x.LongRequests)
	require.Equal(t, x.LongRequests, x.LongGranted, "every long-job request granted")
	require.Zero(t, x.LongDenied)
	require.EqualValues(t, 4, x.StuckGranted, "one grant per stuck worker")
	require.Equal(t, x.StuckRequests-4, x.StuckDenied, "every later stuck request denied")
	require.Equal(t, x.ExpectedGranted, x.Granted)
	require.Equal(t, x.ExpectedDenied, x.Denied)
	require.Equal(t, x.StuckDenied, rep.Events.Denials["no-progress"]+rep.Events.Denials["not-alive"])

	// The manager keeps up with 10,000 heartbeats a second even with the
	// race detector on (the figure at scale is the benchmark's business).
	require.NotZero(t, rep.Heartbeats.Sent)
	require.GreaterOrEqual(t, rep.Heartbeats.ProcessedShare, 0.99)
	require.True(t, rep.Manager.Measured)
	require.NotZero(t, rep.Manager.RSS)
	require.NotEmpty(t, rep.Timeline)
	var text strings.Builder
	rep.WriteText(&text)
	t.Log("\n" + text.String())
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	for flag, mutate := range map[string]func(*Config){
		"workers":   func(c *Config) { c.Workers = 0 },
		"duration":  func(c *Config) { c.Duration = time.Millisecond },
		"heartbeat": func(c *Config) { c.Heartbeat = c.Base },
		"base":      func(c *Config) { c.Base = time.Millisecond },
		"suspicion": func(c *Config) { c.Suspicion = 0 },
		"loss":      func(c *Config) { c.Loss = 0.9 },
		"crash":     func(c *Config) { c.Crash = -1 },
		"pause":     func(c *Config) { c.Pause = 2 },
		"long":      func(c *Config) { c.Long = 2 },
		"stuck":     func(c *Config) { c.Stuck = 2 },
		"partition": func(c *Config) { c.Partition = 2 },
	} {
		cfg := DefaultConfig()
		mutate(&cfg)
		err := cfg.Validate()
		var fe *FlagError
		require.ErrorAs(t, err, &fe, flag)
		require.Equal(t, flag, fe.Flag)
	}
}

func TestEventLineRoundTrip(t *testing.T) {
	ev, err := parseEvent("5 w1234 1700000000000000000 deadline 7 0\n")
	require.NoError(t, err)
	require.Equal(t, Event{Kind: 5, Worker: 1234, At: 1700000000000000000, Reason: "deadline", Inc: 7}, ev)
	for _, bad := range []string{"", "x", "5 w1 a - 0 0", "5 w1 1 - 0"} {
		_, err := parseEvent(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, -1, workerIndex("x12"))
	require.Equal(t, -1, workerIndex("w"))
	require.Equal(t, 42, workerIndex(workerID(42)))
}

// TestEventStreamTallies: extensions cross the stream as running totals,
// which the reading side turns into tallies of what is new; other events
// stay one line each, and joins are not streamed.
func TestEventStreamTallies(t *testing.T) {
	var out bytes.Buffer
	ew := newEventWriter(&out)
	ew.events([]detector.Event{
		{Kind: detector.EventExtended, Worker: "w1"},
		{Kind: detector.EventJoined, Worker: "w2"},
		{Kind: detector.EventExtended, Worker: "w1"},
		{Kind: detector.EventSuspected, Worker: "w3", Cause: detector.CauseDeadline},
	})
	ew.flush()
	ew.events([]detector.Event{{Kind: detector.EventExtended, Worker: "w4"}})
	ew.line("S {}\n") // a stats line follows the totals of what came before it
	ew.flush()
	ew.flush() // no new extension: no line
	require.Equal(t, 2, strings.Count(out.String(), "C "), out.String())
	require.Less(t, strings.LastIndex(out.String(), "C "), strings.Index(out.String(), "S "), out.String())

	c := &child{done: make(chan struct{}), stats: make(chan ManagerStats, 1)}
	var got []Event
	c.read(bufio.NewReader(&out), func(ev Event) { got = append(got, ev) })
	require.Len(t, got, 3)
	require.Equal(t, detector.EventSuspected, got[0].Kind)
	require.Equal(t, Event{Kind: detector.EventExtended, Worker: -1, Count: 2}, got[1])
	require.Equal(t, Event{Kind: detector.EventExtended, Worker: -1, Count: 1}, got[2])

	_, _, err := parseCount("5 x\n")
	require.ErrorIs(t, err, errEventLine)
}

func TestStuckVerdict(t *testing.T) {
	type testCase struct {
		name     string
		evicted  int
		maxAfter time.Duration
		elapsed  time.Duration
		want     string
	}
	const bound = 64050 * time.Millisecond
	for _, tc := range []testCase{
		{name: "all evicted in time", evicted: 10, maxAfter: 63 * time.Second, elapsed: 90 * time.Second, want: "ok"},
		{name: "one evicted late", evicted: 10, maxAfter: 65 * time.Second, elapsed: 90 * time.Second, want: "FAIL"},
		{name: "alive past the bound", evicted: 9, maxAfter: 63 * time.Second, elapsed: 90 * time.Second, want: "FAIL"},
		{name: "run ended before the bound", evicted: 0, elapsed: 60 * time.Second,
			want: "not due: the run ended 50000 ms after they got stuck; run with -duration 1m18s or more"},
		{name: "late even in a short run", evicted: 3, maxAfter: 65 * time.Second, elapsed: 60 * time.Second, want: "FAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Elapsed: tc.elapsed, Plan: Plan{LongFrom: 10 * time.Second},
				Stuck: FaultResult{Workers: 10, Evicted: tc.evicted, After: Percentiles{Max: tc.maxAfter}, Bound: bound}}
			require.Equal(t, tc.want, stuckVerdict(r))
		})
	}
}
