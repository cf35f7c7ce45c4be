package wire

import "net/netip"

// Version is the wire format version this package writes and accepts.
const Version = 1

// Sizes of the fixed parts of every packet.
const (
	HeaderSize = 12 // version, type, key ID, flags, sequence number
	TagSize    = 16 // AES-CMAC

	// MaxWorkerIDLen bounds Join.WorkerID; the minimum is 1.
	MaxWorkerIDLen = 64
	// MaxReasonLen bounds ExtensionRequest.Reason; the minimum is 0.
	MaxReasonLen = 64
	// MaxMessageSize is the largest packet Encode writes: an extension
	// request with counts, fraction and a reason of MaxReasonLen bytes.
	MaxMessageSize = HeaderSize + extReqFixed + 16 + 8 + 1 + MaxReasonLen + TagSize
)

// Type says what a message is. The zero Type is invalid.
type Type uint8

// Message types. The numbers are part of the wire format.
const (
	TypeJoin              Type = 1  // worker -> manager
	TypeWelcome           Type = 2  // manager -> worker
	TypeHeartbeat         Type = 3  // worker -> manager
	TypeNotice            Type = 4  // manager -> worker
	TypePing              Type = 5  // manager or relaying worker -> worker
	TypeAck               Type = 6  // reply to a ping
	TypePingReq           Type = 7  // manager -> helper worker
	TypeIndirectAck       Type = 8  // helper -> manager
	TypeNack              Type = 9  // helper -> manager
	TypeExtensionRequest  Type = 10 // worker -> manager
	TypeExtensionResponse Type = 11 // manager -> worker
	TypeLeave             Type = 12 // worker -> manager

	maxType = TypeLeave
)

var typeNames = [...]string{
	TypeJoin:              "join",
	TypeWelcome:           "welcome",
	TypeHeartbeat:         "heartbeat",
	TypeNotice:            "notice",
	TypePing:              "ping",
	TypeAck:               "ack",
	TypePingReq:           "ping-req",
	TypeIndirectAck:       "indirect-ack",
	TypeNack:              "nack",
	TypeExtensionRequest:  "extension-request",
	TypeExtensionResponse: "extension-response",
	TypeLeave:             "leave",
}

// Valid reports whether t is a message type of this version.
func (t Type) Valid() bool { return t >= TypeJoin && t <= maxType }

func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "unknown-type"
}

// Ticket names a worker's slot in the manager's timing wheel; the manager
// hands it out in Welcome and later messages carry it. It mirrors the wheel's
// ticket: the generation tells a reused slot from its previous owner.
type Ticket struct {
	Slot uint32
	Gen  uint16
}

// JoinStatus is the manager's answer to a Join.
type JoinStatus uint8

const (
	// JoinAccepted: the worker is alive; Welcome.Ticket is its ticket.
	JoinAccepted JoinStatus = 0
	// JoinStaleIncarnation: the worker was evicted at an incarnation not
	// lower than the one it joined with; it must join with a higher one.
	JoinStaleIncarnation JoinStatus = 1
	// JoinFull: the manager has no free slot.
	JoinFull JoinStatus = 2

	maxJoinStatus = JoinFull
)

// NoticeState is what a Notice tells a worker about itself.
type NoticeState uint8

const (
	// NoticeSuspect: the worker is suspected at Notice.Incarnation; it
	// refutes by bumping its incarnation and sending a heartbeat.
	NoticeSuspect NoticeState = 1
	// NoticeDead: the worker was evicted; it must join again.
	NoticeDead NoticeState = 2
	// NoticeLeft: the worker left; it must join again to come back.
	NoticeLeft NoticeState = 3
	// NoticeUnknown: the ticket names no worker; it must join again.
	NoticeUnknown NoticeState = 4

	maxNoticeState = NoticeUnknown
)

// Denial is why an extension request was denied (AD-26). The numbers mirror
// the policy's reasons in the order it checks them.
type Denial uint8

const (
	DenialNone             Denial = 0 // granted
	DenialNotAlive         Denial = 1
	DenialStaleIncarnation Denial = 2
	DenialInvalidProgress  Denial = 3
	DenialExhausted        Denial = 4
	DenialNoProgress       Denial = 5

	maxDenial = DenialNoProgress
)

// Message is the union of the fields of every message type; Type says which
// fields are meaningful (see the package documentation for the table). One
// Message value can be reused for every packet, so decoding allocates nothing.
//
// After Decode, WorkerID and Reason alias the packet buffer: they are valid
// only until that buffer is reused. Copy them (CopyWorkerID, string(Reason))
// to keep them longer.
type Message struct {
	Type Type
	// KeyID is the key that signed the message. Decode sets it; Encode
	// ignores it and signs with the keyring's primary key.
	KeyID uint8
	// Seq is the sender's sequence number, for the receiver's ReplayWindow.
	Seq uint64

	// Ticket is the worker the message concerns: the sender of a heartbeat,
	// ack, extension request or leave; the addressee of a welcome, notice,
	// ping or extension response; the probe target of a ping-req,
	// indirect ack or nack.
	Ticket Ticket
	// Incarnation of the worker named by Ticket (or WorkerID in a join).
	Incarnation uint64
	// WorkerID of a join: 1..MaxWorkerIDLen bytes, aliasing the packet.
	WorkerID []byte

	// Welcome.
	Status              JoinStatus
	HeartbeatIntervalMS uint32
	BaseMS              uint32

	// Notice.
	State NoticeState

	// Ping, ack, ping-req, indirect ack and nack: the probe being answered.
	ProbeSeq uint32
	// Suspect (ping, ping-req): the target is suspected (Lifeguard's buddy
	// system), so that a live target refutes at once.
	Suspect bool
	// Addr (ping-req): where the helper sends its ping. IPv4 or IPv6 without
	// a zone.
	Addr netip.AddrPort

	// Extension request and response.
	RequestID uint32
	// Progress as absolute counts, present when HasCount.
	HasCount  bool
	Completed uint64
	Total     uint64
	// Progress as a fraction, present when HasFraction. Any float64 bits
	// travel unchanged; judging them is the policy's business.
	HasFraction bool
	Fraction    float64
	// Reason: 0..MaxReasonLen bytes of free text, aliasing the packet.
	Reason                []byte
	EstimatedCompletionMS uint32

	// Extension response.
	Granted bool
	GrantMS uint32
	// DeadlineInMS is the time from sending the response to the new
	// deadline: sender and receiver share no clock epoch.
	DeadlineInMS uint32
	Remaining    uint8
	Warning      bool
	Denial       Denial
}

// CopyWorkerID returns the worker ID as a string that owns its bytes. It
// allocates; call it once, when a worker joins.
func (m *Message) CopyWorkerID() string { return string(m.WorkerID) }

func (s JoinStatus) String() string {
	switch s {
	case JoinAccepted:
		return "accepted"
	case JoinStaleIncarnation:
		return "stale-incarnation"
	case JoinFull:
		return "full"
	}
	return "unknown-status"
}

func (s NoticeState) String() string {
	switch s {
	case NoticeSuspect:
		return "suspect"
	case NoticeDead:
		return "dead"
	case NoticeLeft:
		return "left"
	case NoticeUnknown:
		return "unknown"
	}
	return "unknown-state"
}

func (d Denial) String() string {
	switch d {
	case DenialNone:
		return "none"
	case DenialNotAlive:
		return "not-alive"
	case DenialStaleIncarnation:
		return "stale-incarnation"
	case DenialInvalidProgress:
		return "invalid-progress"
	case DenialExhausted:
		return "exhausted"
	case DenialNoProgress:
		return "no-progress"
	}
	return "unknown-denial"
}
