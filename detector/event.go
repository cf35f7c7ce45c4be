package detector

import (
	"time"

	"github.com/swimwheel/swimwheel/extension"
	"github.com/swimwheel/swimwheel/wheel"
)

// Status is where a worker stands.
type Status uint8

const (
	StatusUnknown Status = iota // never joined, or forgotten after retention
	StatusAlive
	StatusSuspect
	StatusDead // evicted
	StatusLeft
)

var statusNames = [...]string{"unknown", "alive", "suspect", "dead", "left"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "invalid"
}

// Cause says why a worker was suspected or evicted.
type Cause uint8

const (
	CauseNone      Cause = iota
	CauseDeadline        // its deadline passed with grants left (or none asked)
	CauseExhausted       // its deadline passed after every grant of the cycle was used
)

func (c Cause) String() string {
	switch c {
	case CauseDeadline:
		return "deadline"
	case CauseExhausted:
		return "exhausted"
	}
	return ""
}

// EventKind names a transition.
type EventKind uint8

const (
	EventJoined EventKind = iota
	EventSuspected
	EventRefuted
	EventExtended
	EventDenied
	EventEvicted
	EventLeft
	EventBrake
	EventLHM
)

var eventNames = [...]string{"joined", "suspected", "refuted", "extended", "denied", "evicted", "left", "brake", "lhm"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "invalid"
}

// BrakeState is the state of the mass-failure brake.
type BrakeState uint8

const (
	BrakeReleased BrakeState = iota // evictions run freely
	BrakeEngaged                    // evictions are rate-limited
	BrakeStopped                    // evictions wait until the suspect share falls
)

func (b BrakeState) String() string {
	switch b {
	case BrakeEngaged:
		return "engaged"
	case BrakeStopped:
		return "stopped"
	}
	return "released"
}

// Event is one transition. Fields beyond Kind, At, Worker, Ticket and Inc
// are set only for the kinds that name them.
type Event struct {
	Kind   EventKind
	At     wheel.Time // when it happened (a tick time for expiries)
	Worker string     // empty for brake and lhm
	Ticket wheel.Ticket
	Inc    uint64 // the worker's incarnation after the event

	Cause  Cause            // suspected, evicted
	Denial extension.Reason // denied

	Grant     time.Duration // extended
	Deadline  wheel.Time    // extended
	Remaining int           // extended, denied
	Warning   bool          // extended

	Brake   BrakeState // brake
	Suspect int        // brake: suspect workers
	Fleet   int        // brake: alive + suspect workers
	LHM     int        // lhm: the new score
}

// MessageKind names an outbound message.
type MessageKind uint8

const (
	// MsgPing asks To to answer with an ack. Suspect tells it that it is
	// suspected (Lifeguard's buddy system), at incarnation Inc for an
	// embedder whose wire carries it (swimwheel's wire ping does not).
	MsgPing MessageKind = iota
	// MsgPingReq asks To to ping Target on the detector's behalf and answer
	// with an indirect ack or a nack.
	MsgPingReq
)

// Message is something the detector wants sent. The embedder maps tickets to
// addresses.
type Message struct {
	Kind     MessageKind
	To       wheel.Ticket
	Target   wheel.Ticket // MsgPingReq: the worker to probe
	ProbeSeq uint32
	Suspect  bool
	Inc      uint64 // the incarnation the target is known at
}

// Outcome is the detector's answer to a join, heartbeat, ack or leave.
type Outcome uint8

const (
	Accepted       Outcome = iota // applied
	IgnoredStale                  // incarnation lower than the current one
	IgnoredSuspect                // same incarnation while suspect: bump it to refute
	IgnoredDead                   // evicted: re-join with a higher incarnation
	IgnoredLeft                   // left: re-join
	IgnoredUnknown                // no such worker or stale ticket: join
	RefusedStale                  // join of a dead worker's old incarnation
	RefusedFull                   // join refused: no free slot
	RefusedBadID                  // join refused: malformed worker ID
)

var outcomeNames = [...]string{"", "stale-incarnation", "suspect", "dead", "left", "unknown", "stale-incarnation", "full", "bad-id"}

// String is the stable reason string of an outcome ("" for Accepted).
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// Refused reports whether a join was refused (rather than applied or
// treated as an ignored heartbeat).
func (o Outcome) Refused() bool { return o >= RefusedStale }

// WorkerStatus answers a status query.
type WorkerStatus struct {
	Status    Status
	Inc       uint64
	Deadline  wheel.Time // alive: the slot's deadline; suspect: the eviction time; else 0
	Remaining int        // extension grants left in the cycle
	Ticket    wheel.Ticket
}
