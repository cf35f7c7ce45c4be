package wire

import (
	"bytes"
	"math"
	"net/netip"
	"testing"
)

// independentTag computes the tag from its definition: AES-CMAC under the
// test key over everything before the tag, by the reference implementation.
func independentTag(pkt []byte) []byte {
	return referenceCMAC(testKey(), pkt[:len(pkt)-TagSize])
}

func TestTagDefinition(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		pkt := encode(t, c, &s.m)
		if !bytes.Equal(pkt[len(pkt)-TagSize:], independentTag(pkt)) {
			t.Fatalf("%s: tag is not AES-CMAC over header and body", s.name)
		}
	}
}

// FuzzDecode: arbitrary bytes never panic, and are accepted only when they
// carry a valid tag under the test key (which the fuzzer cannot forge; the
// seed corpus holds genuine packets, which must then re-encode to exactly
// the same bytes: the encoding is canonical).
func FuzzDecode(f *testing.F) {
	c := NewCodec(testRing(f))
	for _, s := range samples() {
		m := s.m
		m.Seq = testSeq
		f.Add(encode(f, c, &m))
	}
	f.Add([]byte{})
	f.Add([]byte{Version, byte(TypeHeartbeat)})
	hb := Message{Type: TypeHeartbeat, Ticket: Ticket{Slot: 7, Gen: 1}, Incarnation: 2, Seq: testSeq}
	genuine := encode(f, c, &hb)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var m Message
		err := c.Decode(pkt, &m)
		// DecodeBatch gives every packet what Decode gives it, in any lane
		// of its interleaved CMACs.
		batch := [][]byte{pkt, genuine, pkt, pkt, pkt, genuine}
		var ms [6]Message
		var errs [6]error
		c.DecodeBatch(batch, ms[:], errs[:])
		for i, p := range batch {
			var want Message
			wantErr := c.Decode(p, &want)
			if (wantErr == nil) != (errs[i] == nil) || (wantErr != nil && wantErr.Error() != errs[i].Error()) {
				t.Fatalf("DecodeBatch packet %d: error %v, Decode: %v", i, errs[i], wantErr)
			}
			if wantErr == nil && !equalMessage(&want, &ms[i]) {
				t.Fatalf("DecodeBatch packet %d: %s, Decode: %s", i, formatMessage(&ms[i]), formatMessage(&want))
			}
		}
		if err != nil {
			if FaultOf(err) == NumFaults || err.Error() == "" {
				t.Fatalf("foreign or empty error %v", err)
			}
			return
		}
		if !bytes.Equal(pkt[len(pkt)-TagSize:], independentTag(pkt)) {
			t.Fatalf("accepted a packet whose tag does not verify: %x", pkt)
		}
		again := encode(t, c, &m)
		if !bytes.Equal(again, pkt) {
			t.Fatalf("accepted a non-canonical packet:\n got  %x\n re-encoded %x", pkt, again)
		}
	})
}

// FuzzRoundTrip: any encodable message decodes to the same fields.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(TypeHeartbeat), uint8(0), uint64(1), uint32(2), uint16(3), uint64(4), uint32(5), uint32(6),
		uint64(7), uint64(8), uint64(math.Float64bits(0.5)), []byte("worker-1"), []byte("10.0.0.1"))
	f.Add(uint8(TypeExtensionRequest), uint8(0xff), uint64(1), uint32(2), uint16(3), uint64(4), uint32(5), uint32(6),
		uint64(7), uint64(8), uint64(math.Float64bits(math.NaN())), []byte("reason"), []byte("2001:db8::1"))
	f.Add(uint8(TypePingReq), uint8(0xff), uint64(1), uint32(2), uint16(3), uint64(4), uint32(5), uint32(6),
		uint64(7), uint64(8), uint64(0), []byte(""), []byte("::ffff:1.2.3.4"))
	c := NewCodec(testRing(f))
	buf := make([]byte, MaxMessageSize)
	f.Fuzz(func(t *testing.T, typ, bits uint8, seq uint64, slot uint32, gen uint16, inc uint64,
		a32, b32 uint32, a64, b64, frac uint64, text, addr []byte) {
		m := Message{Type: Type(typ%uint8(maxType) + 1), Seq: seq, Ticket: Ticket{Slot: slot, Gen: gen}}
		flag := func(i uint) bool { return bits&(1<<i) != 0 }
		clip := func(b []byte, lo, hi int) []byte {
			if len(b) > hi {
				b = b[:hi]
			}
			for len(b) < lo {
				b = append(b, 'x')
			}
			return b
		}
		switch m.Type {
		case TypeJoin:
			m.Ticket = Ticket{}
			m.Incarnation, m.WorkerID = inc, clip(text, 1, MaxWorkerIDLen)
		case TypeWelcome:
			m.Incarnation, m.Status = inc, JoinStatus(uint8(a32)%uint8(maxJoinStatus+1))
			m.HeartbeatIntervalMS, m.BaseMS = a32, b32
		case TypeHeartbeat, TypeLeave:
			m.Incarnation = inc
		case TypeNotice:
			m.Incarnation, m.State = inc, NoticeState(uint8(a32)%uint8(maxNoticeState)+1)
		case TypePing:
			m.ProbeSeq, m.Suspect = a32, flag(0)
		case TypeNack:
			m.ProbeSeq = a32
		case TypeAck, TypeIndirectAck:
			m.Incarnation, m.ProbeSeq = inc, a32
		case TypePingReq:
			m.ProbeSeq, m.Suspect = a32, flag(0)
			ip, ok := netip.AddrFromSlice(clip(addr, 0, 16))
			if !ok {
				ip = netip.AddrFrom4([4]byte(clip(addr, 4, 4)))
			}
			m.Addr = netip.AddrPortFrom(ip, uint16(b32))
		case TypeExtensionRequest:
			m.Incarnation, m.RequestID, m.EstimatedCompletionMS = inc, a32, b32
			if flag(0) {
				m.HasCount, m.Completed, m.Total = true, a64, b64
			}
			if flag(1) {
				m.HasFraction, m.Fraction = true, math.Float64frombits(frac)
			}
			m.Reason = clip(text, 0, MaxReasonLen)
			if len(m.Reason) == 0 {
				m.Reason = nil
			}
		case TypeExtensionResponse:
			m.RequestID, m.GrantMS, m.DeadlineInMS = a32, b32, uint32(a64)
			m.Remaining, m.Denial = uint8(b64), Denial(uint8(b64>>8)%uint8(maxDenial+1))
			m.Granted, m.Warning = flag(0), flag(1)
		}
		n, err := c.Encode(buf, &m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		var out Message
		if err := c.Decode(buf[:n], &out); err != nil {
			t.Fatalf("decode of %+v: %v", m, err)
		}
		m.KeyID = testKeyID
		if !equalMessage(&m, &out) {
			t.Fatalf("round trip:\n in  %+v\n out %+v", m, out)
		}
	})
}
