package wire

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
)

// testKey is the fixed key of the golden vectors: bytes 0x00..0x1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

const (
	testKeyID = 1
	testSeq   = 0x0102030405060708
)

func testRing(t testing.TB) *Keyring {
	t.Helper()
	r, err := NewKeyring(testKeyID, testKey())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// samples returns messages covering every type, each variant named.
func samples() []struct {
	name string
	m    Message
} {
	tk := Ticket{Slot: 0x00a1b2c3, Gen: 0x0d0e}
	return []struct {
		name string
		m    Message
	}{
		{"join", Message{Type: TypeJoin, WorkerID: []byte("worker-0042.rack7"), Incarnation: 3}},
		{"welcome", Message{Type: TypeWelcome, Ticket: tk, Incarnation: 3, Status: JoinAccepted, HeartbeatIntervalMS: 5000, BaseMS: 30000}},
		{"welcome-refused", Message{Type: TypeWelcome, Incarnation: 3, Status: JoinStaleIncarnation}},
		{"heartbeat", Message{Type: TypeHeartbeat, Ticket: tk, Incarnation: 3}},
		{"notice", Message{Type: TypeNotice, Ticket: tk, Incarnation: 3, State: NoticeSuspect}},
		{"ping", Message{Type: TypePing, Ticket: tk, ProbeSeq: 77, Suspect: true}},
		{"ack", Message{Type: TypeAck, Ticket: tk, Incarnation: 4, ProbeSeq: 77}},
		{"ping-req", Message{Type: TypePingReq, Ticket: tk, ProbeSeq: 78, Addr: netip.MustParseAddrPort("10.1.2.3:7946")}},
		{"ping-req-ipv6", Message{Type: TypePingReq, Ticket: tk, ProbeSeq: 79, Suspect: true, Addr: netip.MustParseAddrPort("[2001:db8::17]:7946")}},
		{"indirect-ack", Message{Type: TypeIndirectAck, Ticket: tk, Incarnation: 4, ProbeSeq: 78}},
		{"nack", Message{Type: TypeNack, Ticket: tk, ProbeSeq: 78}},
		{"extension-request", Message{Type: TypeExtensionRequest, Ticket: tk, Incarnation: 4, RequestID: 9,
			HasCount: true, Completed: 1200, Total: 5000, HasFraction: true, Fraction: 0.24,
			Reason: []byte("reindexing shard 12"), EstimatedCompletionMS: 90000}},
		{"extension-request-bare", Message{Type: TypeExtensionRequest, Ticket: tk, Incarnation: 4, RequestID: 10}},
		{"extension-response", Message{Type: TypeExtensionResponse, Ticket: tk, RequestID: 9, Granted: true,
			GrantMS: 15000, DeadlineInMS: 44000, Remaining: 1, Warning: true}},
		{"extension-response-denied", Message{Type: TypeExtensionResponse, Ticket: tk, RequestID: 10, Denial: DenialNoProgress, Remaining: 3}},
		{"leave", Message{Type: TypeLeave, Ticket: tk, Incarnation: 4}},
	}
}

// equalMessage compares every field, byte slices by content and Fraction by
// its bits (so that NaN equals itself).
func equalMessage(a, b *Message) bool {
	return a.Type == b.Type && a.KeyID == b.KeyID && a.Seq == b.Seq &&
		a.Ticket == b.Ticket && a.Incarnation == b.Incarnation &&
		bytes.Equal(a.WorkerID, b.WorkerID) &&
		a.Status == b.Status && a.HeartbeatIntervalMS == b.HeartbeatIntervalMS && a.BaseMS == b.BaseMS &&
		a.State == b.State && a.ProbeSeq == b.ProbeSeq && a.Suspect == b.Suspect && a.Addr == b.Addr &&
		a.RequestID == b.RequestID && a.HasCount == b.HasCount && a.Completed == b.Completed && a.Total == b.Total &&
		a.HasFraction == b.HasFraction && math.Float64bits(a.Fraction) == math.Float64bits(b.Fraction) &&
		bytes.Equal(a.Reason, b.Reason) && a.EstimatedCompletionMS == b.EstimatedCompletionMS &&
		a.Granted == b.Granted && a.GrantMS == b.GrantMS && a.DeadlineInMS == b.DeadlineInMS &&
		a.Remaining == b.Remaining && a.Warning == b.Warning && a.Denial == b.Denial
}

// formatMessage lists the fields of m's type, one "name: value" a line.
func formatMessage(m *Message) string {
	var b strings.Builder
	f := func(name string, v any) { fmt.Fprintf(&b, "%s: %v\n", name, v) }
	f("type", m.Type)
	f("key-id", m.KeyID)
	f("seq", m.Seq)
	if m.Type != TypeJoin {
		f("ticket", fmt.Sprintf("slot=%d gen=%d", m.Ticket.Slot, m.Ticket.Gen))
	}
	switch m.Type {
	case TypeJoin:
		f("worker-id", fmt.Sprintf("%q", m.WorkerID))
		f("incarnation", m.Incarnation)
	case TypeWelcome:
		f("incarnation", m.Incarnation)
		f("status", m.Status)
		f("heartbeat-interval-ms", m.HeartbeatIntervalMS)
		f("base-ms", m.BaseMS)
	case TypeHeartbeat, TypeLeave:
		f("incarnation", m.Incarnation)
	case TypeNotice:
		f("incarnation", m.Incarnation)
		f("state", m.State)
	case TypePing, TypeNack:
		f("probe-seq", m.ProbeSeq)
		if m.Type == TypePing {
			f("suspect", m.Suspect)
		}
	case TypeAck, TypeIndirectAck:
		f("incarnation", m.Incarnation)
		f("probe-seq", m.ProbeSeq)
	case TypePingReq:
		f("probe-seq", m.ProbeSeq)
		f("suspect", m.Suspect)
		f("addr", m.Addr)
	case TypeExtensionRequest:
		f("incarnation", m.Incarnation)
		f("request-id", m.RequestID)
		f("has-count", m.HasCount)
		f("completed", m.Completed)
		f("total", m.Total)
		f("has-fraction", m.HasFraction)
		f("fraction", m.Fraction)
		f("reason", fmt.Sprintf("%q", m.Reason))
		f("estimated-completion-ms", m.EstimatedCompletionMS)
	case TypeExtensionResponse:
		f("request-id", m.RequestID)
		f("granted", m.Granted)
		f("grant-ms", m.GrantMS)
		f("deadline-in-ms", m.DeadlineInMS)
		f("remaining", m.Remaining)
		f("warning", m.Warning)
		f("denial", m.Denial)
	}
	return b.String()
}

// encode encodes m with c, failing the test on error.
func encode(t testing.TB, c *Codec, m *Message) []byte {
	t.Helper()
	buf := make([]byte, MaxMessageSize)
	n, err := c.Encode(buf, m)
	if err != nil {
		t.Fatalf("encode %v: %v", m.Type, err)
	}
	return buf[:n]
}
