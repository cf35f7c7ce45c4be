package wire

import (
	"errors"
	"fmt"
)

// Fault classifies what was wrong with a packet (or with a message given to
// Encode), so that a receiver can count bad packets by fault in an array
// without comparing strings. The zero Fault means no fault.
type Fault uint8

const (
	FaultNone        Fault = iota
	FaultTruncated         // shorter than its type's layout
	FaultTrailing          // longer than its type's layout
	FaultVersion           // version byte is not Version
	FaultType              // type byte names no message type
	FaultFlags             // flag bits the type does not define
	FaultKeyID             // key ID not in the keyring
	FaultTag               // authentication tag does not verify
	FaultWorkerID          // worker ID empty or longer than MaxWorkerIDLen
	FaultReasonLen         // extension reason longer than MaxReasonLen
	FaultField             // enumerated field out of range (status, state, denial)
	FaultAddress           // ping-req address invalid or zoned (Encode only)
	FaultShortBuffer       // buffer too small (Encode only)
	FaultReplay            // never returned here: for counting ReplayWindow rejections
	NumFaults              // number of Fault values, for sizing counter arrays
)

var faultNames = [NumFaults]string{
	FaultNone:        "none",
	FaultTruncated:   "truncated",
	FaultTrailing:    "trailing",
	FaultVersion:     "version",
	FaultType:        "type",
	FaultFlags:       "flags",
	FaultKeyID:       "key-id",
	FaultTag:         "tag",
	FaultWorkerID:    "worker-id",
	FaultReasonLen:   "reason-length",
	FaultField:       "field",
	FaultAddress:     "address",
	FaultShortBuffer: "short-buffer",
	FaultReplay:      "replay",
}

// String returns a short label, usable as a metric label.
func (f Fault) String() string {
	if f < NumFaults {
		return faultNames[f]
	}
	return "unknown-fault"
}

// Error is the error type of this package: every error Encode and Decode
// return is an *Error. Returning one never allocates: the values live in a
// static table. Compare with errors.Is against the Err* sentinels, or read
// Fault to count.
type Error struct {
	Fault Fault
	// Type is the message type concerned, when known.
	Type Type
	// Value is the offending byte: the version, type or key ID read, or for
	// FaultWorkerID 0 when empty and 1 when too long.
	Value   uint8
	generic bool
}

// Sentinels for errors.Is: an *Error matches the sentinel of its Fault.
var (
	ErrTruncated   error = &Error{Fault: FaultTruncated, generic: true}
	ErrTrailing    error = &Error{Fault: FaultTrailing, generic: true}
	ErrVersion     error = &Error{Fault: FaultVersion, generic: true}
	ErrType        error = &Error{Fault: FaultType, generic: true}
	ErrFlags       error = &Error{Fault: FaultFlags, generic: true}
	ErrKeyID       error = &Error{Fault: FaultKeyID, generic: true}
	ErrTag         error = &Error{Fault: FaultTag, generic: true}
	ErrWorkerID    error = &Error{Fault: FaultWorkerID, generic: true}
	ErrReasonLen   error = &Error{Fault: FaultReasonLen, generic: true}
	ErrField       error = &Error{Fault: FaultField, generic: true}
	ErrAddress     error = &Error{Fault: FaultAddress, generic: true}
	ErrShortBuffer error = &Error{Fault: FaultShortBuffer, generic: true}
)

// Is makes errors.Is(err, ErrTruncated) and the like work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.generic && t.Fault == e.Fault
}

func (e *Error) Error() string {
	what := e.Type.String()
	if e.generic {
		what = "message"
	}
	switch e.Fault {
	case FaultTruncated:
		if e.Type == 0 {
			return "wire: truncated header"
		}
		return "wire: truncated " + what
	case FaultTrailing:
		return "wire: trailing bytes after " + what
	case FaultVersion:
		return fmt.Sprintf("wire: bad version %d", e.Value)
	case FaultType:
		return fmt.Sprintf("wire: bad type %d", e.Value)
	case FaultFlags:
		return "wire: bad flags for " + what
	case FaultKeyID:
		return fmt.Sprintf("wire: unknown key id %d", e.Value)
	case FaultTag:
		return "wire: bad authentication tag"
	case FaultWorkerID:
		if e.Value == 0 && !e.generic {
			return "wire: empty worker id"
		}
		return "wire: worker id too long"
	case FaultReasonLen:
		return "wire: extension reason too long"
	case FaultField:
		switch e.Type {
		case TypeWelcome:
			return "wire: bad welcome status"
		case TypeNotice:
			return "wire: bad notice state"
		case TypeExtensionResponse:
			return "wire: bad denial code"
		}
		return "wire: bad field in " + what
	case FaultAddress:
		return "wire: bad ping-req address"
	case FaultShortBuffer:
		return "wire: buffer too small for " + what
	case FaultReplay:
		return "wire: replayed sequence number"
	}
	return "wire: fault " + e.Fault.String()
}

// FaultOf returns the Fault of an error from this package, FaultNone for nil,
// and NumFaults for any other error.
func FaultOf(err error) Fault {
	if err == nil {
		return FaultNone
	}
	if e, ok := err.(*Error); ok {
		return e.Fault
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Fault
	}
	return NumFaults
}

// errTable holds every error value Encode and Decode return, indexed by fault
// and by the byte that qualifies it (type, version, key ID or flag), so that
// the error path never allocates: a flood of bad packets costs no garbage.
var errTable [NumFaults][256]Error

func init() {
	for f := range errTable {
		for v := range errTable[f] {
			e := &errTable[f][v]
			e.Fault = Fault(f)
			switch Fault(f) {
			case FaultVersion, FaultType, FaultKeyID, FaultWorkerID:
				e.Value = uint8(v)
			default:
				e.Type = Type(v)
			}
		}
	}
}

// fault returns the static error for fault f qualified by v (see errTable).
func fault(f Fault, v uint8) error { return &errTable[f][v] }
