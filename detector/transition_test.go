package detector

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

// The tests in this file walk DESIGN.md's transition table row by row at
// the API level, with manual time.

func TestJoinUnknownWorker(t *testing.T) {
	r := newRig(t)
	r.advance(1 * sec)
	tk, o := r.d.Join(r.now, "w1", 7)
	require.Equal(t, Accepted, o)
	require.Equal(t, [][]Event{{{Kind: EventJoined, At: 1 * sec, Worker: "w1", Ticket: tk, Inc: 7}}}, r.eventBatches)
	require.Equal(t, WorkerStatus{Status: StatusAlive, Inc: 7, Deadline: 31 * sec, Remaining: 5, Ticket: tk}, r.status("w1"))
	require.Equal(t, 31*sec, r.wheelDeadline(tk))
	got, ok := r.d.Lookup("w1")
	require.True(t, ok)
	require.Equal(t, tk, got)
	require.Equal(t, 1, r.d.Workers())
	require.Equal(t, 1, r.d.Alive())
}

func TestJoinRefusesBadIDAndFullFleet(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxWorkers = 2 })
	for _, id := range []string{"", strings.Repeat("x", MaxWorkerID+1)} {
		_, o := r.d.Join(0, id, 0)
		require.Equal(t, RefusedBadID, o)
		require.True(t, o.Refused())
		require.Equal(t, "bad-id", o.String())
	}
	r.join(strings.Repeat("x", MaxWorkerID), 0)
	r.join("w2", 0)
	_, o := r.d.Join(0, "w3", 0)
	require.Equal(t, RefusedFull, o)
	require.Empty(t, r.takeEvents())
	require.Equal(t, StatusUnknown, r.status("w3").Status)
}

func TestJoinOfAliveWorkerIsAHeartbeat(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 0)
	r.advance(10 * sec)
	got, o := r.d.Join(r.now, "w1", 0)
	require.Equal(t, Accepted, o)
	require.Equal(t, tk, got)
	require.Empty(t, r.takeEvents(), "a rejoin of an alive worker is a heartbeat, not a new life")
	require.Equal(t, 40*sec, r.status("w1").Deadline)
	// A higher incarnation is adopted, as by a heartbeat.
	_, o = r.d.Join(r.now, "w1", 3)
	require.Equal(t, Accepted, o)
	require.Equal(t, uint64(3), r.status("w1").Inc)
	_, o = r.d.Join(r.now, "w1", 2)
	require.Equal(t, IgnoredStale, o)
}

// evictAt0 joins id at 0 and runs until it is evicted (base 30s + window 10s).
func (r *rig) evicted(id string, inc uint64) wheel.Ticket {
	r.t.Helper()
	tk := r.join(id, inc)
	r.advance(r.now + 40*sec)
	require.Equal(r.t, StatusDead, r.status(id).Status)
	r.takeEvents()
	return tk
}

func TestJoinOfDeadWorkerNeedsHigherIncarnation(t *testing.T) {
	r := newRig(t)
	tk := r.evicted("w1", 4)
	for _, inc := range []uint64{0, 3, 4} {
		got, o := r.d.Join(r.now, "w1", inc)
		require.Equal(t, RefusedStale, o, "inc %d", inc)
		require.Equal(t, "stale-incarnation", o.String())
		require.Equal(t, tk, got)
	}
	require.Empty(t, r.takeEvents())
	got, o := r.d.Join(r.now, "w1", 5)
	require.Equal(t, Accepted, o)
	require.Equal(t, tk, got, "a new life within retention keeps the slot")
	require.Equal(t, []Event{{Kind: EventJoined, At: 40 * sec, Worker: "w1", Ticket: tk, Inc: 5}}, r.takeEvents())
	require.Equal(t, WorkerStatus{Status: StatusAlive, Inc: 5, Deadline: 70 * sec, Remaining: 5, Ticket: tk}, r.status("w1"))
}

func TestJoinOfLeftWorkerStartsNewLife(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 5)
	require.Equal(t, Accepted, r.d.Leave(r.now, tk, 5))
	r.takeEvents()
	r.advance(3 * sec)
	_, o := r.d.Join(r.now, "w1", 1) // any incarnation: it left on its own
	require.Equal(t, Accepted, o)
	require.Equal(t, []EventKind{EventJoined}, kinds(r.takeEvents()))
	require.Equal(t, WorkerStatus{Status: StatusAlive, Inc: 1, Deadline: 33 * sec, Remaining: 5, Ticket: tk}, r.status("w1"))
}

func TestJoinOfSuspectWorkerIsAHeartbeat(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 2)
	r.advance(30 * sec)
	r.takeEvents()
	_, o := r.d.Join(r.now, "w1", 2)
	require.Equal(t, IgnoredSuspect, o)
	_, o = r.d.Join(r.now, "w1", 3)
	require.Equal(t, Accepted, o)
	require.Equal(t, []Event{{Kind: EventRefuted, At: 30 * sec, Worker: "w1", Ticket: tk, Inc: 3}}, r.takeEvents())
}

func TestHeartbeatAlive(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 1)
	r.advance(10 * sec)
	require.Equal(t, Accepted, r.d.Heartbeat(r.now, tk, 1))
	require.Equal(t, 40*sec, r.status("w1").Deadline)
	require.Equal(t, 40*sec, r.wheelDeadline(tk))
	// deadline = max(deadline, now+base): a heartbeat stamped earlier
	// (reordered on the way) never pulls the deadline in.
	require.Equal(t, Accepted, r.d.Heartbeat(5*sec, tk, 1))
	require.Equal(t, 40*sec, r.status("w1").Deadline)
	// A lower incarnation is stale and changes nothing.
	require.Equal(t, IgnoredStale, r.d.Heartbeat(r.now+5*sec, tk, 0))
	require.Equal(t, 40*sec, r.status("w1").Deadline)
	// A higher one is adopted.
	require.Equal(t, Accepted, r.d.Heartbeat(r.now, tk, 4))
	require.Equal(t, uint64(4), r.status("w1").Inc)
	require.Empty(t, r.eventBatches[1:], "heartbeats of an alive worker emit nothing")
	// The fast path applies to an alive worker in a clean cycle at its
	// incarnation only.
	require.True(t, r.d.HeartbeatFast(12*sec, tk, 4))
	require.Equal(t, 42*sec, r.status("w1").Deadline)
	require.False(t, r.d.HeartbeatFast(13*sec, tk, 3))
	require.False(t, r.d.HeartbeatFast(13*sec, wheel.Ticket{Slot: tk.Slot, Gen: tk.Gen + 2}, 4))
	require.False(t, r.d.HeartbeatFast(13*sec, wheel.Ticket{Slot: 4000, Gen: 1}, 0))
	require.Equal(t, 42*sec, r.status("w1").Deadline)
}

func TestHeartbeatResetsExtensionCycle(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxExtensions = 2 })
	tk := r.join("w1", 0)
	r.advance(10 * sec)
	dec := r.d.Extend(r.now, tk, 0, counts(1, 10))
	require.True(t, dec.Granted)
	require.Equal(t, 30*time.Second, dec.Grant)
	require.Equal(t, 60*time.Second, dec.Deadline)
	require.True(t, dec.Warning, "remaining 1 <= warn threshold 1")
	require.False(t, r.d.HeartbeatFast(r.now, tk, 0), "a used cycle is not pushable")
	// A heartbeat keeps the later, extended deadline and resets the cycle.
	r.advance(20 * sec)
	require.Equal(t, Accepted, r.d.Heartbeat(r.now, tk, 0))
	st := r.status("w1")
	require.Equal(t, 60*sec, st.Deadline)
	require.Equal(t, 2, st.Remaining)
	require.True(t, r.d.HeartbeatFast(r.now, tk, 0), "a clean cycle is pushable again")
	// Progress is forgotten (the same count is the first of a new cycle)
	// and the warning is given again.
	dec = r.d.Extend(r.now, tk, 0, counts(1, 10))
	require.True(t, dec.Granted)
	require.Equal(t, 30*time.Second, dec.Grant)
	require.Equal(t, 90*time.Second, dec.Deadline)
	require.True(t, dec.Warning)
}

func TestHeartbeatOfSuspectWorker(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 2)
	r.advance(30 * sec)
	require.Equal(t, []Event{{Kind: EventSuspected, At: 30 * sec, Worker: "w1", Ticket: tk, Inc: 2, Cause: CauseDeadline}}, r.takeEvents())
	require.Equal(t, 1, r.d.Suspect())
	require.Equal(t, 0, r.d.Alive())
	r.advance(32 * sec)
	require.Equal(t, IgnoredStale, r.d.Heartbeat(r.now, tk, 1))
	require.Equal(t, IgnoredSuspect, r.d.Heartbeat(r.now, tk, 2), "the reply tells the worker to bump its incarnation")
	require.False(t, r.d.HeartbeatFast(r.now, tk, 2))
	require.Empty(t, r.takeEvents())
	require.Equal(t, StatusSuspect, r.status("w1").Status)
	require.Equal(t, Accepted, r.d.Heartbeat(r.now, tk, 3))
	require.Equal(t, []Event{{Kind: EventRefuted, At: 32 * sec, Worker: "w1", Ticket: tk, Inc: 3}}, r.takeEvents())
	require.Equal(t, WorkerStatus{Status: StatusAlive, Inc: 3, Deadline: 62 * sec, Remaining: 5, Ticket: tk}, r.status("w1"))
	require.Equal(t, 0, r.d.Suspect())
	require.Equal(t, 1, r.d.Alive())
	r.advance(61 * sec)
	require.Empty(t, r.takeEvents(), "refuted: not evicted at the old window's end")
}

func TestHeartbeatOfDeadLeftOrUnknownWorker(t *testing.T) {
	r := newRig(t)
	dead := r.evicted("dead", 0)
	left := r.join("left", 0)
	require.Equal(t, Accepted, r.d.Leave(r.now, left, 0))
	r.takeEvents()
	require.Equal(t, IgnoredDead, r.d.Heartbeat(r.now, dead, 0))
	require.Equal(t, IgnoredDead, r.d.Heartbeat(r.now, dead, 9))
	require.Equal(t, IgnoredLeft, r.d.Heartbeat(r.now, left, 0))
	require.Equal(t, IgnoredUnknown, r.d.Heartbeat(r.now, wheel.Ticket{Slot: 77, Gen: 1}, 0))
	require.Equal(t, IgnoredUnknown, r.d.Heartbeat(r.now, wheel.Ticket{Slot: 1 << 30, Gen: 1}, 0))
	require.Equal(t, IgnoredUnknown, r.d.Ack(r.now, wheel.Ticket{Slot: 77, Gen: 1}, 0))
	require.Equal(t, IgnoredDead, r.d.Ack(r.now, dead, 0))
	require.Empty(t, r.takeEvents())
	require.Equal(t, StatusDead, r.status("dead").Status)
	require.Equal(t, StatusLeft, r.status("left").Status)
}

func TestDeadlinePassesWithoutProbing(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 0)
	r.advance(5 * ms)
	late := r.join("w2", 0) // deadline 30.005s: fires in the first tick at or after it
	r.advance(30*sec - 1)
	require.Empty(t, r.takeEvents())
	r.advance(30 * sec)
	require.Equal(t, []Event{{Kind: EventSuspected, At: 30 * sec, Worker: "w1", Ticket: tk, Inc: 0, Cause: CauseDeadline}}, r.takeEvents())
	r.advance(30*sec + 9*ms)
	require.Empty(t, r.takeEvents())
	r.advance(30*sec + 10*ms)
	require.Equal(t, []Event{{Kind: EventSuspected, At: 30*sec + 10*ms, Worker: "w2", Ticket: late, Cause: CauseDeadline}}, r.takeEvents())
	require.Empty(t, r.sent, "probing off: nothing is sent")
}

func TestSuspicionWindowThenEviction(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 0)
	r.advance(30 * sec)
	r.takeEvents()
	require.Equal(t, WorkerStatus{Status: StatusSuspect, Deadline: 40 * sec, Remaining: 5, Ticket: tk}, r.status("w1"))
	require.Equal(t, 40*sec, r.wheelDeadline(tk), "probing off: the slot holds the window's end")
	r.advance(40*sec - 10*ms)
	require.Empty(t, r.takeEvents(), "inside the window: still suspect")
	require.Equal(t, StatusSuspect, r.status("w1").Status)
	r.advance(40 * sec)
	require.Equal(t, []Event{{Kind: EventEvicted, At: 40 * sec, Worker: "w1", Ticket: tk, Cause: CauseDeadline}}, r.takeEvents())
	require.Equal(t, WorkerStatus{Status: StatusDead, Remaining: 5, Ticket: tk}, r.status("w1"))
	require.Equal(t, 0, r.d.Suspect())
	require.Empty(t, r.sent)
}

func TestExhaustedCycleIsTheCause(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxExtensions = 2 })
	tk := r.join("w1", 0)
	require.True(t, r.d.Extend(r.now, tk, 0, counts(1, 0)).Granted) // +30s
	require.True(t, r.d.Extend(r.now, tk, 0, counts(2, 0)).Granted) // +15s
	dec := r.d.Extend(r.now, tk, 0, counts(3, 0))
	require.Equal(t, extension.Exhausted, dec.Reason)
	r.takeEvents()
	r.advance(75 * sec)
	require.Equal(t, []Event{{Kind: EventSuspected, At: 75 * sec, Worker: "w1", Ticket: tk, Cause: CauseExhausted}}, r.takeEvents())
	r.advance(85 * sec)
	require.Equal(t, []Event{{Kind: EventEvicted, At: 85 * sec, Worker: "w1", Ticket: tk, Cause: CauseExhausted}}, r.takeEvents())
}

// probeRig is a probing detector with w1 (the target) and four helpers
// that heartbeat at 29s, so that only w1's deadline passes at 30s.
func probeRig(t *testing.T, mutate ...func(*Config)) (*rig, wheel.Ticket, []wheel.Ticket) {
	r := newRig(t, append([]func(*Config){func(c *Config) { c.Probing = true }}, mutate...)...)
	target := r.join("w1", 0)
	var helpers []wheel.Ticket
	for _, id := range []string{"h1", "h2", "h3", "h4"} {
		helpers = append(helpers, r.join(id, 0))
	}
	r.advance(29 * sec)
	for _, h := range helpers {
		require.True(t, r.d.HeartbeatFast(r.now, h, 0))
	}
	return r, target, helpers
}

// pingRound runs the probe rig to the end of the direct ping (30.5s) and
// returns the ping-reqs sent.
func pingRound(t *testing.T, r *rig, target wheel.Ticket, helpers []wheel.Ticket) []Message {
	r.advance(30 * sec)
	require.Equal(t, []Message{{Kind: MsgPing, To: target, ProbeSeq: 1}}, r.takeSent())
	st := r.status("w1")
	require.Equal(t, StatusAlive, st.Status)
	require.Equal(t, 30*sec+500*ms, st.Deadline, "during a probe round the deadline is the probe timeout")
	require.Empty(t, r.takeEvents())
	r.advance(30*sec + 500*ms)
	reqs := r.takeSent()
	require.Len(t, reqs, 3)
	seen := map[wheel.Ticket]bool{}
	for _, m := range reqs {
		require.Equal(t, MsgPingReq, m.Kind)
		require.Equal(t, target, m.Target)
		require.Equal(t, uint32(2), m.ProbeSeq)
		require.NotEqual(t, target, m.To)
		require.Contains(t, helpers, m.To)
		require.False(t, seen[m.To], "helpers are distinct")
		seen[m.To] = true
	}
	require.Equal(t, 31*sec, r.status("w1").Deadline)
	return reqs
}

func TestProbeRoundEndsInSuspicion(t *testing.T) {
	r, target, helpers := probeRig(t)
	reqs := pingRound(t, r, target, helpers)
	for _, m := range reqs {
		r.d.Nack(r.now+100*ms, target, m.ProbeSeq)
	}
	r.advance(31 * sec)
	require.Equal(t, []Event{{Kind: EventSuspected, At: 31 * sec, Worker: "w1", Ticket: target, Cause: CauseDeadline}}, r.takeEvents(),
		"every helper nacked: our network works, the LHM stays")
	require.Equal(t, []Message{{Kind: MsgPing, To: target, ProbeSeq: 3, Suspect: true}}, r.takeSent())
	require.Equal(t, 41*sec, r.status("w1").Deadline)
	// While suspect, it is pinged with the suspect flag every probe timeout
	// until the window ends.
	r.advance(41*sec - 1)
	pings := r.takeSent()
	require.Len(t, pings, 19)
	for i, m := range pings {
		require.Equal(t, Message{Kind: MsgPing, To: target, ProbeSeq: uint32(4 + i), Suspect: true}, m)
	}
	require.Empty(t, r.takeEvents())
	r.advance(41 * sec)
	require.Equal(t, []Event{{Kind: EventEvicted, At: 41 * sec, Worker: "w1", Ticket: target, Cause: CauseDeadline}}, r.takeEvents())
	require.Empty(t, r.takeSent())
}

func TestProbeRoundWithoutNacksRaisesLHM(t *testing.T) {
	r, target, helpers := probeRig(t)
	reqs := pingRound(t, r, target, helpers)
	r.d.Nack(r.now, target, reqs[0].ProbeSeq+7) // another round's: ignored
	r.advance(31 * sec)
	require.Equal(t, []Event{
		{Kind: EventLHM, At: 31 * sec, LHM: 1},
		{Kind: EventSuspected, At: 31 * sec, Worker: "w1", Ticket: target, Cause: CauseDeadline},
	}, r.takeEvents())
	require.Equal(t, 1, r.d.LHM())
	// The window and the probe timeout are stretched by LHM+1.
	require.Equal(t, 51*sec, r.status("w1").Deadline)
	r.takeSent()
	r.advance(32 * sec)
	require.Equal(t, []Message{{Kind: MsgPing, To: target, ProbeSeq: 4, Suspect: true}}, r.takeSent(), "suspect pings every 2 x 500ms")
}

// One helper's nack shows our network works: the round fails, but the
// trouble is the target's, and the LHM stays.
func TestProbeRoundWithANackDoesNotRaiseLHM(t *testing.T) {
	r, target, helpers := probeRig(t)
	reqs := pingRound(t, r, target, helpers)
	r.d.Nack(r.now, target, reqs[0].ProbeSeq)
	r.advance(31 * sec)
	require.Equal(t, []Event{
		{Kind: EventSuspected, At: 31 * sec, Worker: "w1", Ticket: target, Cause: CauseDeadline},
	}, r.takeEvents())
	require.Equal(t, 0, r.d.LHM())
	require.Equal(t, 41*sec, r.status("w1").Deadline)
}

// A raised LHM comes down by one for each suspicion window without a new
// sign of trouble, checked when expiries fire.
func TestLHMDecaysAfterQuietSuspicionWindow(t *testing.T) {
	r, target, helpers := probeRig(t)
	pingRound(t, r, target, helpers)
	r.advance(31 * sec)
	require.Equal(t, 1, r.d.LHM())
	r.takeEvents()
	// The suspect is pinged every 1s (LHM 1); at 41s a window has passed.
	r.advance(40*sec + 900*ms)
	require.Equal(t, 1, r.d.LHM())
	r.advance(41 * sec)
	// Back at LHM 0 the window is 10s again, so it ends now.
	require.Equal(t, []Event{
		{Kind: EventLHM, At: 41 * sec, LHM: 0},
		{Kind: EventEvicted, At: 41 * sec, Worker: "w1", Ticket: target, Cause: CauseDeadline},
	}, r.takeEvents())
}

func TestAckEndsProbeRound(t *testing.T) {
	r, target, _ := probeRig(t, func(c *Config) { c.MaxLHM = 3 })
	r.d.lhm, r.d.lhmAt = 2, 29*sec // as if earlier rounds had failed just now
	r.advance(30 * sec)
	require.Len(t, r.takeSent(), 1)
	r.advance(30*sec + 200*ms)
	require.Equal(t, Accepted, r.d.Ack(r.now, target, 0))
	require.Equal(t, []Event{{Kind: EventLHM, At: 30*sec + 200*ms, LHM: 1}}, r.takeEvents(), "a successful probe lowers the LHM")
	st := r.status("w1")
	require.Equal(t, StatusAlive, st.Status)
	require.Equal(t, 60*sec+200*ms, st.Deadline, "an ack counts as a heartbeat")
	require.True(t, r.d.HeartbeatFast(r.now, target, 0), "the slot is pushable again")
	r.advance(58 * sec)
	require.Empty(t, r.takeEvents())
	require.Empty(t, r.takeSent())
}

func TestIndirectAckEndsProbeRound(t *testing.T) {
	r, target, helpers := probeRig(t)
	pingRound(t, r, target, helpers)
	r.advance(30*sec + 700*ms)
	require.Equal(t, IgnoredStale, r.d.IndirectAck(r.now, target, 0, 1), "the direct ping's round is over")
	require.Equal(t, Accepted, r.d.IndirectAck(r.now, target, 0, 2))
	require.Equal(t, IgnoredStale, r.d.IndirectAck(r.now, target, 0, 2), "the round ended: a replay counts for nothing")
	require.Equal(t, 60*sec+700*ms, r.status("w1").Deadline)
	r.advance(31 * sec)
	require.Empty(t, r.takeEvents())
	require.Empty(t, r.takeSent())
	require.Equal(t, 0, r.d.LHM())
}

func TestHeartbeatEndsProbeRound(t *testing.T) {
	r, target, _ := probeRig(t)
	r.advance(30 * sec)
	r.takeSent()
	require.False(t, r.d.HeartbeatFast(r.now+100*ms, target, 0), "a probing slot is not pushable")
	require.Equal(t, Accepted, r.d.Heartbeat(r.now+100*ms, target, 0))
	require.Equal(t, 60*sec+100*ms, r.status("w1").Deadline)
	r.advance(40 * sec)
	require.Empty(t, r.takeEvents())
	require.Empty(t, r.takeSent())
}

func TestExtensionDuringProbeRound(t *testing.T) {
	r, target, helpers := probeRig(t)
	r.advance(30 * sec)
	r.takeSent()
	r.advance(30*sec + 200*ms)
	for _, h := range helpers {
		require.True(t, r.d.HeartbeatFast(r.now+200*ms, h, 0)) // alive past 60.2s
	}
	dec := r.d.Extend(r.now, target, 0, counts(5, 10))
	require.True(t, dec.Granted)
	require.Equal(t, 60*time.Second+200*time.Millisecond, dec.Deadline, "the deadline already passed: now + grant")
	require.Equal(t, 60*sec+200*ms, r.status("w1").Deadline)
	require.Equal(t, 60*sec+200*ms, r.wheelDeadline(target))
	r.advance(60 * sec)
	require.Equal(t, []EventKind{EventExtended}, kinds(r.takeEvents()))
	require.Empty(t, r.takeSent())

	// Denied during a probe round: suspected at once.
	r.advance(60*sec + 200*ms)
	require.Len(t, r.takeSent(), 1, "the ping at the extended deadline")
	dec = r.d.Extend(r.now, target, 0, counts(5, 10))
	require.Equal(t, extension.NoProgress, dec.Reason)
	require.Equal(t, []Event{
		{Kind: EventDenied, At: r.now, Worker: "w1", Ticket: target, Denial: extension.NoProgress, Remaining: 4},
		{Kind: EventSuspected, At: r.now, Worker: "w1", Ticket: target, Cause: CauseDeadline},
	}, r.takeEvents())
	require.Equal(t, time.Duration(r.now+10*sec), dec.Deadline, "the reply carries the eviction time")
	require.Equal(t, StatusSuspect, r.status("w1").Status)
}

func TestLeave(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 3)
	r.advance(5 * sec)
	require.Equal(t, IgnoredStale, r.d.Leave(r.now, tk, 2))
	require.Equal(t, Accepted, r.d.Leave(r.now, tk, 4))
	require.Equal(t, []Event{{Kind: EventLeft, At: 5 * sec, Worker: "w1", Ticket: tk, Inc: 4}}, r.takeEvents())
	require.Equal(t, WorkerStatus{Status: StatusLeft, Inc: 4, Remaining: 5, Ticket: tk}, r.status("w1"))
	require.Equal(t, 0, r.d.Alive())
	require.Equal(t, IgnoredLeft, r.d.Leave(r.now, tk, 9))
	require.Equal(t, extension.NotAlive, r.d.Extend(r.now, tk, 4, counts(1, 2)).Reason)
	r.takeEvents()
	// Never evicted; forgotten after retention.
	r.advance(5*sec + wheel.Time(5*time.Minute) - 10*ms)
	require.Empty(t, r.takeEvents())
	require.Equal(t, StatusLeft, r.status("w1").Status)
	r.advance(5*sec + wheel.Time(5*time.Minute))
	require.Empty(t, r.takeEvents())
	require.Equal(t, WorkerStatus{}, r.status("w1"))
	_, ok := r.d.Lookup("w1")
	require.False(t, ok)
	require.Equal(t, 0, r.d.Workers())
	require.Equal(t, IgnoredUnknown, r.d.Heartbeat(r.now, tk, 4), "the old ticket is stale")
	// The ID is free for a new worker, in a new life of a slot.
	nt := r.join("w1", 0)
	require.NotEqual(t, tk, nt)
}

func TestLeaveOfSuspectAndDeadWorkers(t *testing.T) {
	r := newRig(t)
	s := r.join("s", 0)
	r.advance(30 * sec)
	r.takeEvents()
	require.Equal(t, 1, r.d.Suspect())
	require.Equal(t, Accepted, r.d.Leave(r.now, s, 0))
	require.Equal(t, []EventKind{EventLeft}, kinds(r.takeEvents()))
	require.Equal(t, 0, r.d.Suspect())
	r.advance(60 * sec)
	require.Empty(t, r.takeEvents(), "a worker that left is never evicted")
	dead := r.evicted("d", 0)
	require.Equal(t, IgnoredDead, r.d.Leave(r.now, dead, 5))
	require.Equal(t, IgnoredUnknown, r.d.Leave(r.now, wheel.Ticket{Slot: 99, Gen: 1}, 0))
}

func TestDeadRecordForgottenAfterRetention(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Retention = time.Minute })
	tk := r.evicted("w1", 2) // evicted at 40s
	r.advance(100*sec - 10*ms)
	require.Equal(t, StatusDead, r.status("w1").Status)
	r.advance(100 * sec)
	require.Equal(t, StatusUnknown, r.status("w1").Status)
	require.Equal(t, IgnoredUnknown, r.d.Heartbeat(r.now, tk, 2))
	nt := r.join("w1", 0) // forgotten: any incarnation is a new worker
	require.NotEqual(t, tk, nt)
	require.Empty(t, r.takeEvents())
}

func TestExtensionSchedule(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 0)
	r.advance(10 * sec)
	wantGrant := []time.Duration{30 * time.Second, 15 * time.Second, 7500 * time.Millisecond, 3750 * time.Millisecond, 1875 * time.Millisecond}
	deadline := 30 * time.Second
	for k, g := range wantGrant {
		dec := r.d.Extend(r.now, tk, 0, counts(uint64(k+1), 100))
		deadline += g
		want := extension.Decision{Granted: true, Grant: g, Deadline: deadline, Remaining: 4 - k, Warning: k == 3}
		require.Equal(t, want, dec, "grant %d", k)
		require.Equal(t, []Event{{Kind: EventExtended, At: r.now, Worker: "w1", Ticket: tk, Grant: g, Deadline: wheel.Time(deadline), Remaining: 4 - k, Warning: k == 3}}, r.takeEvents())
		require.Equal(t, wheel.Time(deadline), r.status("w1").Deadline)
		require.Equal(t, wheel.Time(deadline), r.wheelDeadline(tk))
	}
	dec := r.d.Extend(r.now, tk, 0, counts(9, 100))
	require.Equal(t, extension.Decision{Reason: extension.Exhausted, Deadline: deadline}, dec)
	require.Equal(t, []Event{{Kind: EventDenied, At: r.now, Worker: "w1", Ticket: tk, Denial: extension.Exhausted}}, r.takeEvents())
}

func TestExtensionDenials(t *testing.T) {
	r := newRig(t)
	tk := r.join("w1", 2)
	r.advance(10 * sec)
	deny := func(inc uint64, req extension.Request, want extension.Reason) {
		t.Helper()
		before := r.status("w1")
		dec := r.d.Extend(r.now, tk, inc, req)
		require.False(t, dec.Granted)
		require.Equal(t, want, dec.Reason)
		require.Equal(t, time.Duration(before.Deadline), dec.Deadline, "a denial leaves the deadline")
		require.Equal(t, before.Deadline, r.status("w1").Deadline)
		require.Equal(t, before.Deadline, r.wheelDeadline(tk))
		evs := r.takeEvents()
		require.Len(t, evs, 1)
		require.Equal(t, Event{Kind: EventDenied, At: r.now, Worker: "w1", Ticket: tk, Inc: r.status("w1").Inc, Denial: want, Remaining: before.Remaining}, evs[0])
	}
	deny(1, counts(1, 10), extension.StaleIncarnation)
	deny(2, counts(11, 10), extension.InvalidProgress)
	deny(2, fraction(1.5), extension.InvalidProgress)
	deny(2, fraction(-0.1), extension.InvalidProgress)
	deny(2, fraction(math.NaN()), extension.InvalidProgress)
	require.True(t, r.d.HeartbeatFast(r.now, tk, 2), "a denial in a clean cycle leaves the slot pushable")
	require.True(t, r.d.Extend(r.now, tk, 2, fraction(0.99)).Granted)
	r.takeEvents()
	deny(2, fraction(0.99), extension.NoProgress)
	deny(2, extension.Request{}, extension.NoProgress)
	deny(2, counts(5, 10), extension.NoProgress) // counts, but the last grant carried none
	require.True(t, r.d.Extend(r.now, tk, 2, fraction(0.999)).Granted, "0.99 -> 0.999 is progress")
	r.takeEvents()
	require.False(t, r.d.HeartbeatFast(r.now, tk, 2), "a used cycle stays sealed after a denial")

	// A higher incarnation is adopted and starts a new cycle.
	dec := r.d.Extend(r.now, tk, 3, fraction(0.5))
	require.True(t, dec.Granted)
	require.Equal(t, 30*time.Second, dec.Grant)
	require.Equal(t, 4, dec.Remaining)
	require.Equal(t, uint64(3), r.status("w1").Inc)
	r.takeEvents()

	// not-alive: unknown (no event), suspect, dead, left.
	require.Equal(t, extension.Decision{Reason: extension.NotAlive}, r.d.Extend(r.now, wheel.Ticket{Slot: 50, Gen: 1}, 0, counts(1, 2)))
	require.Empty(t, r.takeEvents())
	s := r.join("s", 0)
	r.advance(r.now + 30*sec)
	r.takeEvents()
	require.Equal(t, StatusSuspect, r.status("s").Status)
	dec = r.d.Extend(r.now, s, 0, counts(1, 2))
	require.Equal(t, extension.NotAlive, dec.Reason)
	require.Equal(t, time.Duration(r.status("s").Deadline), dec.Deadline)
	require.Equal(t, []Event{{Kind: EventDenied, At: r.now, Worker: "s", Ticket: s, Denial: extension.NotAlive, Remaining: 5}}, r.takeEvents())
	r.advance(r.now + 10*sec)
	r.takeEvents()
	require.Equal(t, StatusDead, r.status("s").Status)
	require.Equal(t, extension.NotAlive, r.d.Extend(r.now, s, 1, counts(1, 2)).Reason)
}

func TestEventsArriveInOneBatchPerCall(t *testing.T) {
	r := newRig(t)
	for i := range 4 {
		r.join(string(rune('a'+i)), 0)
	}
	r.eventBatches = nil
	r.advance(30 * sec)
	require.Len(t, r.eventBatches, 1, "one Advance, one batch")
	require.Equal(t, []EventKind{EventSuspected, EventSuspected, EventSuspected, EventSuspected}, kinds(r.eventBatches[0]))
	for i, e := range r.eventBatches[0] {
		require.Equal(t, string(rune('a'+i)), e.Worker, "in the order things happened")
	}
}

func TestAdvanceLateRaisesLHM(t *testing.T) {
	r := newRig(t)
	r.join("w1", 0)
	r.join("w2", 0)
	r.advance(10 * sec)
	tk2, _ := r.d.Lookup("w2")
	require.True(t, r.d.HeartbeatFast(r.now, tk2, 0)) // w2: 40s
	r.advance(29 * sec)
	// The shell's timer should fire at 30s; it runs 100ms (10 ticks) late.
	r.d.Advance(30*sec + 100*ms)
	r.now = 30*sec + 100*ms
	require.Equal(t, []Event{
		// Stamped with the late expiry's tick, so that events stay in time order.
		{Kind: EventLHM, At: 30 * sec, LHM: 1},
		{Kind: EventSuspected, At: 30 * sec, Worker: "w1", Ticket: r.status("w1").Ticket, Cause: CauseDeadline},
	}, r.takeEvents())
	require.Equal(t, 50*sec, r.status("w1").Deadline, "the window is stretched by LHM+1")
	r.advance(40 * sec) // on time again
	require.Equal(t, []EventKind{EventLHM, EventSuspected}, kinds(r.takeEvents()))
	require.Equal(t, 0, r.d.LHM())
}
