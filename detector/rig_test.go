package detector

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

const (
	ms  = wheel.Time(time.Millisecond)
	sec = wheel.Time(time.Second)
)

// rig drives one Detector with manual time, the way the manager's loop
// does, and captures every batch of events and messages it hands over.
type rig struct {
	t   *testing.T
	d   *Detector
	now wheel.Time

	eventBatches [][]Event
	sendBatches  [][]Message
	pending      []Event // events not yet taken by takeEvents
	sent         []Message
}

// testConfig is the defaults with one shard, a small fleet, probing and
// the brake off: each test turns on what it looks at.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Shards = 1
	cfg.MaxWorkers = 1 << 12
	cfg.Seed = 1
	cfg.Probing = false
	cfg.Brake = 0
	return cfg
}

func newRig(t *testing.T, mutate ...func(*Config)) *rig {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	r := &rig{t: t}
	cfg.OnEvents = func(evs []Event) {
		c := slices.Clone(evs)
		r.eventBatches = append(r.eventBatches, c)
		r.pending = append(r.pending, c...)
	}
	cfg.OnSend = func(msgs []Message) {
		c := slices.Clone(msgs)
		r.sendBatches = append(r.sendBatches, c)
		r.sent = append(r.sent, c...)
	}
	d, err := New(cfg)
	require.NoError(t, err)
	r.d = d
	return r
}

// advance moves to `to` the way the shell's one timer does: to each
// NextDeadline in turn, then to `to`.
func (r *rig) advance(to wheel.Time) {
	for {
		next, ok := r.d.NextDeadline()
		if !ok || next > to {
			break
		}
		if next <= r.now {
			next = r.now + wheel.Time(r.d.cfg.Tick)
			if next > to {
				break
			}
		}
		r.now = next
		r.d.Advance(next)
	}
	if to > r.now {
		r.now = to
		r.d.Advance(to)
	}
}

// takeEvents returns the events since the last call.
func (r *rig) takeEvents() []Event {
	e := r.pending
	r.pending = nil
	return e
}

// takeSent returns the messages since the last call.
func (r *rig) takeSent() []Message {
	m := r.sent
	r.sent = nil
	return m
}

// join admits id at r.now and drops its joined event.
func (r *rig) join(id string, inc uint64) wheel.Ticket {
	r.t.Helper()
	t, o := r.d.Join(r.now, id, inc)
	require.Equal(r.t, Accepted, o, "join %s", id)
	evs := r.takeEvents()
	require.Len(r.t, evs, 1)
	require.Equal(r.t, EventJoined, evs[0].Kind)
	return t
}

func (r *rig) status(id string) WorkerStatus { return r.d.Status(id) }

// wheelDeadline is the worker's deadline as the wheel holds it.
func (r *rig) wheelDeadline(t wheel.Ticket) wheel.Time {
	dl, ok := r.d.wheel.Deadline(t)
	require.True(r.t, ok, "slot %v not armed", t)
	return dl
}

func counts(completed, total uint64) extension.Request {
	return extension.Request{Progress: extension.Progress{Completed: completed, Total: total, HasCount: true}}
}

func fraction(f float64) extension.Request {
	return extension.Request{Progress: extension.Progress{Fraction: f, HasFraction: true}}
}

// kinds lists the kinds of events, for compact assertions.
func kinds(evs []Event) []EventKind {
	out := make([]EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}
