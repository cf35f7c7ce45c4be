package wire

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"math"
	"net/netip"
)

// Flag bits, per type (byte 3 of the header). Bits a type does not define
// must be zero.
const (
	flagSuspect     = 0x01 // ping, ping-req
	flagIPv6        = 0x02 // ping-req: the address is 16 bytes
	flagHasCount    = 0x01 // extension request
	flagHasFraction = 0x02 // extension request
	flagGranted     = 0x01 // extension response
	flagWarning     = 0x02 // extension response
)

var allowedFlags = [maxType + 1]uint8{
	TypePing:              flagSuspect,
	TypePingReq:           flagSuspect | flagIPv6,
	TypeExtensionRequest:  flagHasCount | flagHasFraction,
	TypeExtensionResponse: flagGranted | flagWarning,
}

// Body sizes (bytes after the header, before the tag).
const (
	ticketSize     = 6 // slot u32, gen u16
	joinFixed      = 9 // incarnation u64, id length u8
	welcomeSize    = ticketSize + 8 + 1 + 4 + 4
	heartbeatSize  = ticketSize + 8
	noticeSize     = ticketSize + 8 + 1
	pingSize       = ticketSize + 4
	ackSize        = ticketSize + 8 + 4
	pingReqFixed   = ticketSize + 4 + 2 // then 4 or 16 address bytes
	indirectSize   = ticketSize + 8 + 4
	nackSize       = ticketSize + 4
	extReqFixed    = ticketSize + 8 + 4 + 4 // then counts, fraction, reason
	extRespSize    = ticketSize + 4 + 4 + 4 + 1 + 1
	leaveSize      = ticketSize + 8
	minPacketSize  = HeaderSize + TagSize
	offsetTicket   = HeaderSize // every message but join starts its body with the ticket
	offsetSeq      = 4
	offsetKeyID    = 2
	offsetFlags    = 3
	offsetTypeByte = 1
)

// Codec encodes, signs, verifies and decodes messages with the keys of a
// Keyring. A Codec is not safe for concurrent use: give each goroutine its
// own. NewCodec is cheap (the expanded keys live in the Keyring and are
// shared; a Codec owns only a 16-byte scratch block, which is what keeps
// Encode and Decode free of allocations). Every Codec of a Keyring sees a key
// change at its next message: it loads the ring's key set once per message.
type Codec struct {
	ring    *Keyring
	scratch [aes.BlockSize]byte // the CMAC state of the message at hand
}

// NewCodec returns a Codec for the keys of ring.
func NewCodec(ring *Keyring) *Codec {
	return &Codec{ring: ring}
}

// Encode writes m, signed with the primary key, to the start of buf and
// returns the packet length. m.KeyID is ignored; m.Seq is written as is
// (take it from a Sequence). The fields of other types than m.Type are
// ignored. It fails with an *Error if m is not encodable (bad type, worker ID
// or reason length, ping-req address) or buf is shorter than the packet.
func (c *Codec) Encode(buf []byte, m *Message) (int, error) {
	if !m.Type.Valid() {
		return 0, fault(FaultType, uint8(m.Type))
	}
	body, flags, err := m.layout()
	if err != nil {
		return 0, err
	}
	n := HeaderSize + body
	if len(buf) < n+TagSize {
		return 0, fault(FaultShortBuffer, uint8(m.Type))
	}
	s := c.ring.set.Load()
	p := buf[:n+TagSize]
	p[0] = Version
	p[offsetTypeByte] = uint8(m.Type)
	p[offsetKeyID] = s.primary
	p[offsetFlags] = flags
	binary.BigEndian.PutUint64(p[offsetSeq:], m.Seq)
	m.putBody(p[HeaderSize:n])
	copy(p[n:], s.keys[s.primary].sum(&c.scratch, p[:n]))
	return n + TagSize, nil
}

// layout validates m for encoding and returns its body length and flags.
func (m *Message) layout() (int, uint8, error) {
	var flags uint8
	switch m.Type {
	case TypeJoin:
		if len(m.WorkerID) == 0 {
			return 0, 0, fault(FaultWorkerID, 0)
		}
		if len(m.WorkerID) > MaxWorkerIDLen {
			return 0, 0, fault(FaultWorkerID, 1)
		}
		return joinFixed + len(m.WorkerID), 0, nil
	case TypeWelcome:
		if m.Status > maxJoinStatus {
			return 0, 0, fault(FaultField, uint8(m.Type))
		}
		return welcomeSize, 0, nil
	case TypeHeartbeat:
		return heartbeatSize, 0, nil
	case TypeNotice:
		if m.State == 0 || m.State > maxNoticeState {
			return 0, 0, fault(FaultField, uint8(m.Type))
		}
		return noticeSize, 0, nil
	case TypePing:
		if m.Suspect {
			flags |= flagSuspect
		}
		return pingSize, flags, nil
	case TypeAck:
		return ackSize, 0, nil
	case TypePingReq:
		a := m.Addr.Addr()
		if !a.IsValid() || a.Zone() != "" {
			return 0, 0, fault(FaultAddress, uint8(m.Type))
		}
		if m.Suspect {
			flags |= flagSuspect
		}
		if a.Is4() {
			return pingReqFixed + 4, flags, nil
		}
		return pingReqFixed + 16, flags | flagIPv6, nil
	case TypeIndirectAck:
		return indirectSize, 0, nil
	case TypeNack:
		return nackSize, 0, nil
	case TypeExtensionRequest:
		if len(m.Reason) > MaxReasonLen {
			return 0, 0, fault(FaultReasonLen, uint8(m.Type))
		}
		n := extReqFixed + 1 + len(m.Reason)
		if m.HasCount {
			flags |= flagHasCount
			n += 16
		}
		if m.HasFraction {
			flags |= flagHasFraction
			n += 8
		}
		return n, flags, nil
	case TypeExtensionResponse:
		if m.Denial > maxDenial {
			return 0, 0, fault(FaultField, uint8(m.Type))
		}
		if m.Granted {
			flags |= flagGranted
		}
		if m.Warning {
			flags |= flagWarning
		}
		return extRespSize, flags, nil
	case TypeLeave:
		return leaveSize, 0, nil
	}
	return 0, 0, fault(FaultType, uint8(m.Type))
}

// putBody writes the body of m into b, which layout sized exactly.
func (m *Message) putBody(b []byte) {
	be := binary.BigEndian
	if m.Type == TypeJoin {
		be.PutUint64(b, m.Incarnation)
		b[8] = uint8(len(m.WorkerID))
		copy(b[joinFixed:], m.WorkerID)
		return
	}
	be.PutUint32(b, m.Ticket.Slot)
	be.PutUint16(b[4:], m.Ticket.Gen)
	b = b[ticketSize:]
	switch m.Type {
	case TypeWelcome:
		be.PutUint64(b, m.Incarnation)
		b[8] = uint8(m.Status)
		be.PutUint32(b[9:], m.HeartbeatIntervalMS)
		be.PutUint32(b[13:], m.BaseMS)
	case TypeHeartbeat, TypeLeave:
		be.PutUint64(b, m.Incarnation)
	case TypeNotice:
		be.PutUint64(b, m.Incarnation)
		b[8] = uint8(m.State)
	case TypePing, TypeNack:
		be.PutUint32(b, m.ProbeSeq)
	case TypeAck, TypeIndirectAck:
		be.PutUint64(b, m.Incarnation)
		be.PutUint32(b[8:], m.ProbeSeq)
	case TypePingReq:
		be.PutUint32(b, m.ProbeSeq)
		be.PutUint16(b[4:], m.Addr.Port())
		a := m.Addr.Addr()
		if a.Is4() {
			v := a.As4()
			copy(b[6:], v[:])
		} else {
			v := a.As16()
			copy(b[6:], v[:])
		}
	case TypeExtensionRequest:
		be.PutUint64(b, m.Incarnation)
		be.PutUint32(b[8:], m.RequestID)
		be.PutUint32(b[12:], m.EstimatedCompletionMS)
		b = b[16:]
		if m.HasCount {
			be.PutUint64(b, m.Completed)
			be.PutUint64(b[8:], m.Total)
			b = b[16:]
		}
		if m.HasFraction {
			be.PutUint64(b, math.Float64bits(m.Fraction))
			b = b[8:]
		}
		b[0] = uint8(len(m.Reason))
		copy(b[1:], m.Reason)
	case TypeExtensionResponse:
		be.PutUint32(b, m.RequestID)
		be.PutUint32(b[4:], m.GrantMS)
		be.PutUint32(b[8:], m.DeadlineInMS)
		b[12] = m.Remaining
		b[13] = uint8(m.Denial)
	}
}

// Decode parses pkt into m and verifies its tag. On success every field of
// m.Type is set, the others are zero, m.KeyID names the verifying key, and
// m.WorkerID and m.Reason alias pkt. On failure it returns an *Error (whose
// Fault says what was wrong; see FaultOf) and m holds no meaning.
//
// Decode checks, in this order: header length, version, type, flags, key ID,
// the exact body length and the bounds of every length and enumerated field,
// then the tag (the cheap checks first, so junk costs no AES). It does not
// check the sequence number: after Decode succeeds, pass m.Seq to the
// sender's ReplayWindow. It allocates nothing.
func (c *Codec) Decode(pkt []byte, m *Message) error {
	key, err := c.parse(pkt, m)
	if err != nil {
		return err
	}
	end := len(pkt) - TagSize
	if subtle.ConstantTimeCompare(key.sum(&c.scratch, pkt[:end]), pkt[end:]) != 1 {
		return fault(FaultTag, pkt[offsetTypeByte])
	}
	verified(pkt, m)
	return nil
}

// parse is Decode up to the tag: every check but the tag's, and the body
// into m. It returns the key that must verify the tag.
func (c *Codec) parse(pkt []byte, m *Message) (*cmacKey, error) {
	if len(pkt) >= 1 && pkt[0] != Version {
		return nil, fault(FaultVersion, pkt[0])
	}
	if len(pkt) < 2 {
		return nil, fault(FaultTruncated, 0)
	}
	t := Type(pkt[offsetTypeByte])
	if !t.Valid() {
		return nil, fault(FaultType, uint8(t))
	}
	if len(pkt) < minPacketSize {
		return nil, fault(FaultTruncated, uint8(t))
	}
	flags := pkt[offsetFlags]
	if flags&^allowedFlags[t] != 0 {
		return nil, fault(FaultFlags, uint8(t))
	}
	id := pkt[offsetKeyID]
	key := c.ring.set.Load().keys[id]
	if key == nil {
		return nil, fault(FaultKeyID, id)
	}
	*m = Message{}
	if err := m.parseBody(t, flags, pkt[HeaderSize:len(pkt)-TagSize]); err != nil {
		return nil, err
	}
	return key, nil
}

// verified completes m once pkt's tag verified: only then do the header's
// type, key ID and sequence number count.
func verified(pkt []byte, m *Message) {
	m.Type = Type(pkt[offsetTypeByte])
	m.KeyID = pkt[offsetKeyID]
	m.Seq = binary.BigEndian.Uint64(pkt[offsetSeq:])
}

// DecodeBatch is Decode for every packet of pkts: it sets ms[i] and errs[i]
// (nil on success) to what Decode(pkts[i], &ms[i]) would give, in the same
// order of checks. ms and errs must be at least as long as pkts. It exists
// for speed: on a CPU with AES-NI it verifies the tags of up to eight
// consecutive packets of the same key and shape (a run of heartbeats)
// at once, their AES chains interleaved, which costs about what one
// packet's chain costs alone. It allocates nothing.
func (c *Codec) DecodeBatch(pkts [][]byte, ms []Message, errs []error) {
	ms, errs = ms[:len(pkts)], errs[:len(pkts)]
	for len(pkts) > 0 {
		k := min(len(pkts), batchChunk)
		c.decodeChunk(pkts[:k], ms[:k], errs[:k])
		pkts, ms, errs = pkts[k:], ms[k:], errs[k:]
	}
}

// batchChunk is how many packets decodeChunk takes: its tags live on the
// stack.
const batchChunk = 64

// decodeChunk is DecodeBatch for at most batchChunk packets, in two passes:
// parse every packet and start the CMACs of each run of eight alike, then
// compare the tags. Comparing in a pass of its own lets the CPU run a
// group's AES chain while it parses the next packets, instead of waiting
// for the tag right after starting it.
func (c *Codec) decodeChunk(pkts [][]byte, ms []Message, errs []error) {
	var tags [batchChunk][aes.BlockSize]byte
	var laned [batchChunk]bool // tags[i] is pkts[i]'s CMAC, to compare
	var sink [aes.BlockSize]byte
	var group [lanes]*[aes.BlockSize]byte
	var msgs [lanes][]byte
	var gkey *cmacKey
	gblocks, gfull := 0, false
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		for l := n; l < lanes; l++ {
			group[l] = &sink
		}
		gkey.sumLanes(&msgs, n, &group)
		n = 0
	}
	for i, pkt := range pkts {
		key, err := c.parse(pkt, &ms[i])
		errs[i] = err
		if err != nil {
			continue
		}
		if key.rk == nil {
			// No AES-NI: one packet at a time, as Decode.
			copy(tags[i][:], key.sum(&c.scratch, pkt[:len(pkt)-TagSize]))
			laned[i] = true
			continue
		}
		if nb, full := shape(len(pkt) - TagSize); key != gkey || nb != gblocks || full != gfull {
			flush()
			gkey, gblocks, gfull = key, nb, full
		}
		group[n], msgs[n] = &tags[i], pkt[:len(pkt)-TagSize]
		laned[i] = true
		if n++; n == lanes {
			flush()
		}
	}
	flush()
	for i, pkt := range pkts {
		if !laned[i] {
			continue
		}
		if !tagEqual(&tags[i], pkt[len(pkt)-TagSize:]) {
			errs[i] = fault(FaultTag, pkt[offsetTypeByte])
			continue
		}
		verified(pkt, &ms[i])
	}
}

// tagEqual reports whether tag b (TagSize bytes) is want, in a time that
// does not depend on either: two words a side, xored and ored, and the one
// branch on the result, as with subtle.ConstantTimeCompare (which goes byte
// by byte, a quarter of decodeChunk's own time).
func tagEqual(want *[aes.BlockSize]byte, b []byte) bool {
	le := binary.LittleEndian
	b = b[:TagSize]
	// (^ and | bind alike, left to right: the xors need their brackets.)
	return (le.Uint64(want[:8])^le.Uint64(b[:8]))|(le.Uint64(want[8:])^le.Uint64(b[8:])) == 0
}

// exact checks that body is exactly n bytes long.
func exact(t Type, body []byte, n int) error {
	if len(body) < n {
		return fault(FaultTruncated, uint8(t))
	}
	if len(body) > n {
		return fault(FaultTrailing, uint8(t))
	}
	return nil
}

// parseBody fills the body fields of m from b, checking every length.
func (m *Message) parseBody(t Type, flags uint8, b []byte) error {
	be := binary.BigEndian
	if t == TypeJoin {
		if len(b) < joinFixed {
			return fault(FaultTruncated, uint8(t))
		}
		n := int(b[8])
		if n == 0 {
			return fault(FaultWorkerID, 0)
		}
		if n > MaxWorkerIDLen {
			return fault(FaultWorkerID, 1)
		}
		if err := exact(t, b, joinFixed+n); err != nil {
			return err
		}
		m.Incarnation = be.Uint64(b)
		m.WorkerID = b[joinFixed : joinFixed+n : joinFixed+n]
		return nil
	}
	var err error
	switch t {
	case TypeWelcome:
		err = exact(t, b, welcomeSize)
	case TypeHeartbeat, TypeLeave:
		err = exact(t, b, heartbeatSize)
	case TypeNotice:
		err = exact(t, b, noticeSize)
	case TypePing, TypeNack:
		err = exact(t, b, pingSize)
	case TypeAck, TypeIndirectAck:
		err = exact(t, b, ackSize)
	case TypePingReq:
		n := pingReqFixed + 4
		if flags&flagIPv6 != 0 {
			n = pingReqFixed + 16
		}
		err = exact(t, b, n)
	case TypeExtensionRequest, TypeExtensionResponse:
		// Checked below, field by field.
		if len(b) < ticketSize {
			err = fault(FaultTruncated, uint8(t))
		}
	}
	if err != nil {
		return err
	}
	m.Ticket = Ticket{Slot: be.Uint32(b), Gen: be.Uint16(b[4:])}
	b = b[ticketSize:]
	switch t {
	case TypeWelcome:
		if JoinStatus(b[8]) > maxJoinStatus {
			return fault(FaultField, uint8(t))
		}
		m.Incarnation = be.Uint64(b)
		m.Status = JoinStatus(b[8])
		m.HeartbeatIntervalMS = be.Uint32(b[9:])
		m.BaseMS = be.Uint32(b[13:])
	case TypeHeartbeat, TypeLeave:
		m.Incarnation = be.Uint64(b)
	case TypeNotice:
		s := NoticeState(b[8])
		if s == 0 || s > maxNoticeState {
			return fault(FaultField, uint8(t))
		}
		m.Incarnation = be.Uint64(b)
		m.State = s
	case TypePing, TypeNack:
		m.ProbeSeq = be.Uint32(b)
		m.Suspect = flags&flagSuspect != 0
	case TypeAck, TypeIndirectAck:
		m.Incarnation = be.Uint64(b)
		m.ProbeSeq = be.Uint32(b[8:])
	case TypePingReq:
		m.ProbeSeq = be.Uint32(b)
		port := be.Uint16(b[4:])
		var a netip.Addr
		if flags&flagIPv6 != 0 {
			a = netip.AddrFrom16([16]byte(b[6:22]))
		} else {
			a = netip.AddrFrom4([4]byte(b[6:10]))
		}
		m.Addr = netip.AddrPortFrom(a, port)
		m.Suspect = flags&flagSuspect != 0
	case TypeExtensionRequest:
		return m.parseExtensionRequest(flags, b)
	case TypeExtensionResponse:
		if err := exact(t, b, extRespSize-ticketSize); err != nil {
			return err
		}
		d := Denial(b[13])
		if d > maxDenial {
			return fault(FaultField, uint8(t))
		}
		m.RequestID = be.Uint32(b)
		m.GrantMS = be.Uint32(b[4:])
		m.DeadlineInMS = be.Uint32(b[8:])
		m.Remaining = b[12]
		m.Denial = d
		m.Granted = flags&flagGranted != 0
		m.Warning = flags&flagWarning != 0
	}
	return nil
}

// parseExtensionRequest parses the body after the ticket.
func (m *Message) parseExtensionRequest(flags uint8, b []byte) error {
	const t = uint8(TypeExtensionRequest)
	be := binary.BigEndian
	need := extReqFixed - ticketSize
	if flags&flagHasCount != 0 {
		need += 16
	}
	if flags&flagHasFraction != 0 {
		need += 8
	}
	need++ // reason length
	if len(b) < need {
		return fault(FaultTruncated, t)
	}
	n := int(b[need-1])
	if n > MaxReasonLen {
		return fault(FaultReasonLen, t)
	}
	if len(b) < need+n {
		return fault(FaultTruncated, t)
	}
	if len(b) > need+n {
		return fault(FaultTrailing, t)
	}
	m.Incarnation = be.Uint64(b)
	m.RequestID = be.Uint32(b[8:])
	m.EstimatedCompletionMS = be.Uint32(b[12:])
	b = b[16:]
	if flags&flagHasCount != 0 {
		m.HasCount = true
		m.Completed = be.Uint64(b)
		m.Total = be.Uint64(b[8:])
		b = b[16:]
	}
	if flags&flagHasFraction != 0 {
		m.HasFraction = true
		m.Fraction = math.Float64frombits(be.Uint64(b))
		b = b[8:]
	}
	m.Reason = b[1 : 1+n : 1+n]
	return nil
}
