package wire

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestRoundTripSamples(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			in := s.m
			in.Seq = 12345
			pkt := encode(t, c, &in)
			var out Message
			if err := c.Decode(pkt, &out); err != nil {
				t.Fatalf("decode: %v", err)
			}
			in.KeyID = testKeyID
			if !equalMessage(&in, &out) {
				t.Fatalf("round trip:\n in  %+v\n out %+v", in, out)
			}
		})
	}
}

func TestDecodeAliasesAndCopy(t *testing.T) {
	c := NewCodec(testRing(t))
	pkt := encode(t, c, &Message{Type: TypeJoin, Seq: 1, WorkerID: []byte("w1"), Incarnation: 1})
	var m Message
	if err := c.Decode(pkt, &m); err != nil {
		t.Fatal(err)
	}
	id := m.CopyWorkerID()
	m.WorkerID[0] = 'x' // aliases pkt
	if pkt[HeaderSize+joinFixed] != 'x' {
		t.Fatal("WorkerID does not alias the packet")
	}
	if id != "w1" {
		t.Fatalf("copied id changed with the packet: %q", id)
	}
	if cap(m.WorkerID) != len(m.WorkerID) {
		t.Fatal("WorkerID capacity reaches into the tag: an append would overwrite it")
	}
}

func TestDecodeClearsStaleFields(t *testing.T) {
	c := NewCodec(testRing(t))
	pkt := encode(t, c, &Message{Type: TypeHeartbeat, Seq: 1, Ticket: Ticket{Slot: 1}, Incarnation: 2})
	m := Message{ProbeSeq: 9, Reason: []byte("old"), Suspect: true}
	if err := c.Decode(pkt, &m); err != nil {
		t.Fatal(err)
	}
	if m.ProbeSeq != 0 || m.Reason != nil || m.Suspect {
		t.Fatalf("fields of another type survived: %+v", m)
	}
}

func TestDecodeTruncatedAtEveryByte(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		pkt := encode(t, c, &s.m)
		for n := range len(pkt) {
			var m Message
			err := c.Decode(pkt[:n], &m)
			if err == nil {
				t.Fatalf("%s truncated to %d of %d bytes: accepted", s.name, n, len(pkt))
			}
			// A shorter packet fails on its length, or (its tag being
			// read from the wrong place) on authentication, or on a
			// length byte pointing past the end.
			switch FaultOf(err) {
			case FaultTruncated, FaultTag, FaultWorkerID, FaultReasonLen:
			default:
				t.Fatalf("%s truncated to %d: unexpected %v", s.name, n, err)
			}
		}
	}
}

func TestDecodeTruncatedNamesType(t *testing.T) {
	c := NewCodec(testRing(t))
	pkt := encode(t, c, &Message{Type: TypeHeartbeat, Seq: 1})
	// Drop one body byte, keep the tag: the length check fires.
	short := append(append([]byte(nil), pkt[:len(pkt)-TagSize-1]...), pkt[len(pkt)-TagSize:]...)
	var m Message
	err := c.Decode(short, &m)
	if err == nil || err.Error() != "wire: truncated heartbeat" || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v", err)
	}
	if err := c.Decode(pkt[:1], &m); err == nil || err.Error() != "wire: truncated header" {
		t.Fatalf("one byte: got %v", err)
	}
	if err := c.Decode(nil, &m); err == nil || err.Error() != "wire: truncated header" {
		t.Fatalf("empty: got %v", err)
	}
}

func TestDecodeTrailingBytes(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		pkt := encode(t, c, &s.m)
		// A byte inserted before the tag: the body is one byte too long.
		long := append(append(append([]byte(nil), pkt[:len(pkt)-TagSize]...), 0), pkt[len(pkt)-TagSize:]...)
		var m Message
		err := c.Decode(long, &m)
		if FaultOf(err) != FaultTrailing {
			t.Fatalf("%s: got %v, want trailing", s.name, err)
		}
		if err == nil {
			t.Fatalf("%s with a trailing byte: accepted", s.name)
		}
		// A byte appended after the tag fails too.
		if err := c.Decode(append(append([]byte(nil), pkt...), 0), &m); err == nil {
			t.Fatalf("%s with a byte after the tag: accepted", s.name)
		}
	}
	pkt := encode(t, c, &Message{Type: TypeNack, Seq: 1})
	long := append(append(append([]byte(nil), pkt[:len(pkt)-TagSize]...), 0), pkt[len(pkt)-TagSize:]...)
	var m Message
	if err := c.Decode(long, &m); err == nil || err.Error() != "wire: trailing bytes after nack" {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeHeaderFaults(t *testing.T) {
	c := NewCodec(testRing(t))
	good := encode(t, c, &Message{Type: TypePing, Seq: 1, Suspect: true})
	cases := []struct {
		name  string
		edit  func(p []byte)
		fault Fault
		text  string
	}{
		{"version", func(p []byte) { p[0] = 7 }, FaultVersion, "wire: bad version 7"},
		{"version 0", func(p []byte) { p[0] = 0 }, FaultVersion, "wire: bad version 0"},
		{"type 0", func(p []byte) { p[1] = 0 }, FaultType, "wire: bad type 0"},
		{"type 200", func(p []byte) { p[1] = 200 }, FaultType, "wire: bad type 200"},
		{"flags", func(p []byte) { p[3] |= 0x80 }, FaultFlags, "wire: bad flags for ping"},
		{"key id", func(p []byte) { p[2] = 9 }, FaultKeyID, "wire: unknown key id 9"},
		{"tag", func(p []byte) { p[len(p)-1] ^= 1 }, FaultTag, "wire: bad authentication tag"},
		{"body", func(p []byte) { p[HeaderSize] ^= 1 }, FaultTag, "wire: bad authentication tag"},
		{"seq", func(p []byte) { p[offsetSeq+7] ^= 1 }, FaultTag, "wire: bad authentication tag"},
	}
	for _, tc := range cases {
		p := append([]byte(nil), good...)
		tc.edit(p)
		var m Message
		err := c.Decode(p, &m)
		if FaultOf(err) != tc.fault || err.Error() != tc.text {
			t.Errorf("%s: got %v (fault %v), want %q", tc.name, err, FaultOf(err), tc.text)
		}
	}
}

func TestDecodeFieldFaults(t *testing.T) {
	c := NewCodec(testRing(t))
	// resign re-signs an edited packet so that only the field check fails.
	resign := func(p []byte) []byte {
		end := len(p) - TagSize
		copy(p[end:], c.ring.set.Load().keys[p[offsetKeyID]].sum(&c.scratch, p[:end]))
		return p
	}
	cases := []struct {
		name string
		m    Message
		edit func(p []byte) []byte
		text string
	}{
		{"empty worker id", Message{Type: TypeJoin, WorkerID: []byte("a")}, func(p []byte) []byte {
			p[HeaderSize+8] = 0
			return resign(append(p[:HeaderSize+joinFixed], make([]byte, TagSize)...))
		}, "wire: empty worker id"},
		{"long worker id", Message{Type: TypeJoin, WorkerID: []byte("a")}, func(p []byte) []byte {
			p[HeaderSize+8] = MaxWorkerIDLen + 1
			return p
		}, "wire: worker id too long"},
		{"long reason", Message{Type: TypeExtensionRequest}, func(p []byte) []byte {
			p[HeaderSize+extReqFixed] = MaxReasonLen + 1
			return p
		}, "wire: extension reason too long"},
		{"reason past end", Message{Type: TypeExtensionRequest, Reason: []byte("ab")}, func(p []byte) []byte {
			p[HeaderSize+extReqFixed] = 3
			return p
		}, "wire: truncated extension-request"},
		{"reason short of end", Message{Type: TypeExtensionRequest, Reason: []byte("ab")}, func(p []byte) []byte {
			p[HeaderSize+extReqFixed] = 1
			return p
		}, "wire: trailing bytes after extension-request"},
		{"count flag without counts", Message{Type: TypeExtensionRequest}, func(p []byte) []byte {
			p[offsetFlags] = flagHasCount
			return p
		}, "wire: truncated extension-request"},
		{"ipv6 flag on ipv4", Message{Type: TypePingReq, Addr: netip.MustParseAddrPort("1.2.3.4:5")}, func(p []byte) []byte {
			p[offsetFlags] = flagIPv6
			return p
		}, "wire: truncated ping-req"},
		{"welcome status", Message{Type: TypeWelcome}, func(p []byte) []byte {
			p[HeaderSize+ticketSize+8] = 99
			return resign(p)
		}, "wire: bad welcome status"},
		{"notice state 0", Message{Type: TypeNotice, State: NoticeDead}, func(p []byte) []byte {
			p[HeaderSize+ticketSize+8] = 0
			return resign(p)
		}, "wire: bad notice state"},
		{"notice state 5", Message{Type: TypeNotice, State: NoticeDead}, func(p []byte) []byte {
			p[HeaderSize+ticketSize+8] = 5
			return resign(p)
		}, "wire: bad notice state"},
		{"denial", Message{Type: TypeExtensionResponse}, func(p []byte) []byte {
			p[HeaderSize+ticketSize+13] = 6
			return resign(p)
		}, "wire: bad denial code"},
	}
	for _, tc := range cases {
		p := tc.edit(encode(t, c, &tc.m))
		var m Message
		err := c.Decode(p, &m)
		if err == nil || err.Error() != tc.text {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.text)
		}
	}
}

func TestTamperedByteAtEveryPosition(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		pkt := encode(t, c, &s.m)
		for i := range pkt {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				p := append([]byte(nil), pkt...)
				p[i] ^= x
				var m Message
				if err := c.Decode(p, &m); err == nil {
					t.Fatalf("%s: byte %d ^ %#x accepted", s.name, i, x)
				}
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	other, err := NewKeyring(testKeyID, []byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCodec(testRing(t))
	forger := NewCodec(other)
	for _, s := range samples() {
		pkt := encode(t, forger, &s.m)
		var m Message
		if err := c.Decode(pkt, &m); !errors.Is(err, ErrTag) {
			t.Fatalf("%s signed with a wrong key: got %v", s.name, err)
		}
	}
}

func TestEncodeFaults(t *testing.T) {
	c := NewCodec(testRing(t))
	buf := make([]byte, MaxMessageSize)
	cases := []struct {
		name string
		m    Message
		err  error
		text string
	}{
		{"type 0", Message{}, ErrType, "wire: bad type 0"},
		{"type 13", Message{Type: 13}, ErrType, "wire: bad type 13"},
		{"empty worker id", Message{Type: TypeJoin}, ErrWorkerID, "wire: empty worker id"},
		{"long worker id", Message{Type: TypeJoin, WorkerID: make([]byte, 65)}, ErrWorkerID, "wire: worker id too long"},
		{"long reason", Message{Type: TypeExtensionRequest, Reason: make([]byte, 65)}, ErrReasonLen, "wire: extension reason too long"},
		{"no address", Message{Type: TypePingReq}, ErrAddress, "wire: bad ping-req address"},
		{"zoned address", Message{Type: TypePingReq, Addr: netip.MustParseAddrPort("[fe80::1%eth0]:1")}, ErrAddress, "wire: bad ping-req address"},
		{"status", Message{Type: TypeWelcome, Status: 3}, ErrField, "wire: bad welcome status"},
		{"state", Message{Type: TypeNotice}, ErrField, "wire: bad notice state"},
		{"denial", Message{Type: TypeExtensionResponse, Denial: 6}, ErrField, "wire: bad denial code"},
	}
	for _, tc := range cases {
		_, err := c.Encode(buf, &tc.m)
		if !errors.Is(err, tc.err) || err.Error() != tc.text {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.text)
		}
	}
	// Bounds are inclusive: 64-byte worker ID and reason encode.
	for _, m := range []Message{
		{Type: TypeJoin, WorkerID: make([]byte, MaxWorkerIDLen)},
		{Type: TypeExtensionRequest, Reason: make([]byte, MaxReasonLen), HasCount: true, HasFraction: true},
	} {
		n, err := c.Encode(buf, &m)
		if err != nil {
			t.Fatalf("%v at the bound: %v", m.Type, err)
		}
		if m.Type == TypeExtensionRequest && n != MaxMessageSize {
			t.Fatalf("largest extension request is %d bytes, MaxMessageSize %d", n, MaxMessageSize)
		}
	}
}

func TestEncodeShortBufferAtEverySize(t *testing.T) {
	c := NewCodec(testRing(t))
	for _, s := range samples() {
		pkt := encode(t, c, &s.m)
		for n := range len(pkt) {
			buf := make([]byte, n)
			if _, err := c.Encode(buf, &s.m); !errors.Is(err, ErrShortBuffer) {
				t.Fatalf("%s into %d bytes: got %v", s.name, n, err)
			}
		}
	}
	_, err := c.Encode(nil, &Message{Type: TypeLeave})
	if err == nil || err.Error() != "wire: buffer too small for leave" {
		t.Fatalf("got %v", err)
	}
}

func TestPacketSizes(t *testing.T) {
	c := NewCodec(testRing(t))
	want := map[Type]int{
		TypeHeartbeat: 42, TypeLeave: 42, TypePing: 38, TypeNack: 38, TypeAck: 46,
		TypeIndirectAck: 46, TypeNotice: 43, TypeWelcome: 51, TypeExtensionResponse: 48,
	}
	for typ, n := range want {
		pkt := encode(t, c, &Message{Type: typ, State: NoticeSuspect})
		if len(pkt) != n {
			t.Errorf("%v: %d bytes, doc says %d", typ, len(pkt), n)
		}
	}
	variable := []struct {
		m Message
		n int
	}{
		{Message{Type: TypeJoin, WorkerID: []byte("a")}, 38},
		{Message{Type: TypeJoin, WorkerID: make([]byte, 64)}, 101},
		{Message{Type: TypePingReq, Addr: netip.MustParseAddrPort("1.2.3.4:5")}, 44},
		{Message{Type: TypePingReq, Addr: netip.MustParseAddrPort("[::1]:5")}, 56},
		{Message{Type: TypeExtensionRequest}, 51},
		{Message{Type: TypeExtensionRequest, HasCount: true, Reason: []byte("ab")}, 51 + 16 + 2},
		{Message{Type: TypeExtensionRequest, HasFraction: true}, 51 + 8},
	}
	for _, v := range variable {
		if pkt := encode(t, c, &v.m); len(pkt) != v.n {
			t.Errorf("%+v: %d bytes, doc says %d", v.m, len(pkt), v.n)
		}
	}
}

func TestFaultOf(t *testing.T) {
	if FaultOf(nil) != FaultNone {
		t.Fatal("nil")
	}
	if FaultOf(errors.New("x")) != NumFaults {
		t.Fatal("foreign error")
	}
	if FaultOf(errors.Join(errors.New("x"), ErrTag)) != FaultTag {
		t.Fatal("wrapped error")
	}
	for f := FaultNone; f <= NumFaults; f++ {
		if f.String() == "" {
			t.Fatalf("fault %d has no name", f)
		}
	}
	if errors.Is(fault(FaultTag, 0), ErrTruncated) {
		t.Fatal("tag error matches the truncated sentinel")
	}
	for _, e := range []error{ErrTruncated, ErrTrailing, ErrVersion, ErrType, ErrFlags, ErrKeyID, ErrTag,
		ErrWorkerID, ErrReasonLen, ErrField, ErrAddress, ErrShortBuffer} {
		if !strings.HasPrefix(e.Error(), "wire: ") {
			t.Fatalf("sentinel text %q", e.Error())
		}
	}
}

func TestNoAllocations(t *testing.T) {
	c := NewCodec(testRing(t))
	buf := make([]byte, MaxMessageSize)
	for _, s := range samples() {
		m := s.m
		var out Message
		n := 0
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			if n, err = c.Encode(buf, &m); err != nil {
				t.Fatal(err)
			}
			if err := c.Decode(buf[:n], &out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per encode+decode", s.name, allocs)
		}
	}
	junk := make([]byte, 64)
	junk[0] = Version
	junk[1] = byte(TypeHeartbeat)
	var out Message
	if a := testing.AllocsPerRun(100, func() { _ = FaultOf(c.Decode(junk, &out)) }); a != 0 {
		t.Errorf("bad packet: %v allocations", a)
	}
}
