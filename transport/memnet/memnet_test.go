package memnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func host(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 7946)
}

func listen(t *testing.T, n *Network, i int) *Endpoint {
	t.Helper()
	e, err := n.Listen(host(i))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func numbered(to netip.AddrPort, i int) Message {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(i))
	return Message{Addr: to, Data: b}
}

func send(t *testing.T, e *Endpoint, ms ...Message) {
	t.Helper()
	if n, err := e.WriteBatch(ms); n != len(ms) || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
}

// drain polls everything queued at e and returns the numbers it carried.
func drain(e *Endpoint) []int {
	var out []int
	ms := make([]Message, 7)
	for {
		k := e.Poll(ms)
		if k == 0 {
			return out
		}
		for _, m := range ms[:k] {
			out = append(out, int(binary.BigEndian.Uint64(m.Data)))
		}
	}
}

func advance(t *testing.T, n *Network, now time.Duration) int {
	t.Helper()
	k, err := n.Advance(now)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPerfectLinkDeliversInOrderAtNextAdvance(t *testing.T) {
	n := New(1)
	a, b := listen(t, n, 1), listen(t, n, 2)
	for i := range 100 {
		send(t, a, numbered(b.LocalAddr(), i))
	}
	if got := drain(b); len(got) != 0 {
		t.Fatalf("delivered before Advance: %v", got)
	}
	if k := advance(t, n, 0); k != 100 {
		t.Fatalf("Advance delivered %d", k)
	}
	ms := make([]Message, 1)
	b.Poll(ms)
	if ms[0].Addr != a.LocalAddr() || ms[0].N != 8 {
		t.Fatalf("message %+v", ms[0])
	}
	if got := drain(b); !slices.Equal(got, seq(1, 100)) {
		t.Fatalf("order %v", got)
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestDelayAndJitter(t *testing.T) {
	n := New(2)
	a, b := listen(t, n, 1), listen(t, n, 2)
	if err := n.SetLink(a.LocalAddr(), b.LocalAddr(), Link{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		send(t, a, numbered(b.LocalAddr(), i))
	}
	// The reverse path keeps the default: no delay.
	send(t, b, numbered(a.LocalAddr(), 7))
	if next, ok := n.Next(); !ok || next != 0 {
		t.Fatalf("Next = %v, %v", next, ok)
	}
	advance(t, n, 10*time.Millisecond-1)
	if len(drain(b)) != 0 || !slices.Equal(drain(a), []int{7}) {
		t.Fatal("delivery before the fixed delay, or reverse path delayed")
	}
	total := 0
	for now := 10 * time.Millisecond; now < 15*time.Millisecond; now += time.Millisecond {
		advance(t, n, now)
		total += len(drain(b))
	}
	advance(t, n, 15*time.Millisecond-1)
	total += len(drain(b))
	if total != 200 || n.Stats().InFlight != 0 {
		t.Fatalf("%d of 200 delivered within Delay+Jitter; stats %+v", total, n.Stats())
	}
}

func TestLoss(t *testing.T) {
	n := New(3)
	a, b := listen(t, n, 1), listen(t, n, 2)
	n.SetDefault(Link{Loss: 0.3})
	const sent = 10000
	n.SetQueueLimit(sent)
	for i := range sent {
		send(t, a, numbered(b.LocalAddr(), i))
	}
	advance(t, n, time.Second)
	got := len(drain(b))
	st := n.Stats()
	if st.Sent != sent || uint64(got) != st.Delivered || st.Delivered+st.Dropped[DropLoss] != sent {
		t.Fatalf("got %d, stats %+v", got, st)
	}
	if math.Abs(float64(got)/sent-0.7) > 0.02 {
		t.Fatalf("delivered fraction %.3f, want about 0.7", float64(got)/sent)
	}
}

func TestDuplication(t *testing.T) {
	n := New(4)
	a, b := listen(t, n, 1), listen(t, n, 2)
	n.SetDefault(Link{Duplicate: 0.5})
	const sent = 2000
	for i := range sent {
		send(t, a, numbered(b.LocalAddr(), i))
	}
	advance(t, n, 0)
	got := drain(b)
	count := make(map[int]int)
	for _, i := range got {
		count[i]++
	}
	st := n.Stats()
	if len(count) != sent || uint64(len(got)) != sent+st.Duplicated {
		t.Fatalf("%d distinct, %d copies, stats %+v", len(count), len(got), st)
	}
	if d := float64(st.Duplicated) / sent; d < 0.45 || d > 0.55 {
		t.Fatalf("duplicated fraction %.3f", d)
	}
	for i, c := range count {
		if c > 2 {
			t.Fatalf("datagram %d arrived %d times", i, c)
		}
	}
}

func TestReordering(t *testing.T) {
	n := New(5)
	a, b := listen(t, n, 1), listen(t, n, 2)
	n.SetDefault(Link{Delay: time.Millisecond, Reorder: 0.2, ReorderDelay: 3 * time.Millisecond})
	var got []int
	for i := range 500 {
		send(t, a, numbered(b.LocalAddr(), i))
		advance(t, n, time.Duration(i+1)*time.Millisecond)
		got = append(got, drain(b)...)
	}
	advance(t, n, time.Second)
	got = append(got, drain(b)...)
	if len(got) != 500 || slices.IsSorted(got) {
		t.Fatalf("%d delivered, sorted %v", len(got), slices.IsSorted(got))
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, seq(0, 500)) {
		t.Fatal("reordering lost or duplicated datagrams")
	}
	if st := n.Stats(); st.Reordered < 60 || st.Reordered > 140 {
		t.Fatalf("reordered %d of 500", st.Reordered)
	}
}

// reach reports, for every ordered pair of the endpoints, whether a datagram
// gets through.
func reach(t *testing.T, n *Network, eps []*Endpoint) map[[2]int]bool {
	t.Helper()
	for i, from := range eps {
		for j, to := range eps {
			if i != j {
				send(t, from, numbered(to.LocalAddr(), i*100+j))
			}
		}
	}
	advance(t, n, n.Now())
	out := make(map[[2]int]bool)
	for _, e := range eps {
		for _, v := range drain(e) {
			out[[2]int{v / 100, v % 100}] = true
		}
	}
	return out
}

func TestPartitions(t *testing.T) {
	n := New(6)
	var eps []*Endpoint
	for i := range 4 {
		eps = append(eps, listen(t, n, i+1))
	}
	side := []netip.AddrPort{eps[0].LocalAddr(), eps[1].LocalAddr()}
	inSide := func(i int) bool { return i < 2 }
	for _, tc := range []struct {
		dir  Direction
		cuts func(from, to int) bool
	}{
		{Both, func(f, to int) bool { return inSide(f) != inSide(to) }},
		{Outbound, func(f, to int) bool { return inSide(f) && !inSide(to) }},
		{Inbound, func(f, to int) bool { return !inSide(f) && inSide(to) }},
	} {
		if err := n.Partition(side, tc.dir); err != nil {
			t.Fatal(err)
		}
		r := reach(t, n, eps)
		for f := range 4 {
			for to := range 4 {
				if f != to && r[[2]int{f, to}] == tc.cuts(f, to) {
					t.Errorf("direction %d: %d -> %d reached %v", tc.dir, f, to, r[[2]int{f, to}])
				}
			}
		}
		n.Heal()
		if r := reach(t, n, eps); len(r) != 12 {
			t.Fatalf("after Heal %d of 12 paths work", len(r))
		}
	}
	n.Block(eps[0].LocalAddr(), eps[3].LocalAddr())
	r := reach(t, n, eps)
	if len(r) != 11 || r[[2]int{0, 3}] || !r[[2]int{3, 0}] {
		t.Fatalf("block cut the wrong paths: %v", r)
	}
	if st := n.Stats(); st.Dropped[DropPartition] != 8+4+4+1 {
		t.Fatalf("partition drops %d", st.Dropped[DropPartition])
	}
	if err := n.Partition(side, 0); err == nil {
		t.Fatal("direction 0 accepted")
	}
}

func TestUnreachableAndOverflow(t *testing.T) {
	n := New(7)
	a, b := listen(t, n, 1), listen(t, n, 2)
	n.SetQueueLimit(10)
	for i := range 15 {
		send(t, a, numbered(b.LocalAddr(), i))
	}
	send(t, a, numbered(host(9), 0))
	advance(t, n, 0)
	if got := drain(b); !slices.Equal(got, seq(0, 10)) {
		t.Fatalf("got %v", got)
	}
	st := n.Stats()
	if st.Dropped[DropOverflow] != 5 || st.Dropped[DropUnreachable] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// A closed endpoint stops receiving; its address can be taken again.
	send(t, a, numbered(b.LocalAddr(), 99))
	b.Close()
	b2 := listen(t, n, 2)
	advance(t, n, 0)
	if got := drain(b2); !slices.Equal(got, []int{99}) {
		t.Fatalf("restarted endpoint got %v", got)
	}
}

func TestReadBatchBlocksUntilAdvance(t *testing.T) {
	n := New(8)
	a, b := listen(t, n, 1), listen(t, n, 2)
	type result struct {
		nums []int
		err  error
	}
	results := make(chan result)
	go func() {
		ms := make([]Message, 8)
		for {
			k, err := b.ReadBatch(ms)
			r := result{err: err}
			for _, m := range ms[:k] {
				r.nums = append(r.nums, int(binary.BigEndian.Uint64(m.Data)))
			}
			results <- r
			if err != nil {
				return
			}
		}
	}()
	send(t, a, numbered(b.LocalAddr(), 1), numbered(b.LocalAddr(), 2))
	advance(t, n, time.Millisecond)
	if r := <-results; r.err != nil || !slices.Equal(r.nums, []int{1, 2}) {
		t.Fatalf("ReadBatch = %v, %v", r.nums, r.err)
	}
	b.Close()
	if r := <-results; !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("blocked ReadBatch after Close: %v", r.err)
	}
	if _, err := b.WriteBatch([]Message{numbered(a.LocalAddr(), 1)}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// Data handed out is overwritten by the next read, as with UDP sockets.
func TestDataValidUntilNextRead(t *testing.T) {
	n := New(9)
	a, b := listen(t, n, 1), listen(t, n, 2)
	send(t, a, Message{Addr: b.LocalAddr(), Data: []byte("first")})
	advance(t, n, 0)
	ms := make([]Message, 1)
	b.Poll(ms)
	old := ms[0].Data
	send(t, a, Message{Addr: b.LocalAddr(), Data: []byte("again")})
	advance(t, n, 0)
	b.Poll(ms)
	if string(old) != "again" || string(ms[0].Data) != "again" {
		t.Fatalf("old view %q, new %q", old, ms[0].Data)
	}
}

func TestBadInput(t *testing.T) {
	n := New(10)
	a := listen(t, n, 1)
	if _, err := n.Listen(host(1)); err == nil {
		t.Fatal("address in use accepted")
	}
	if _, err := n.Listen(netip.AddrPort{}); err == nil {
		t.Fatal("invalid address accepted")
	}
	e, err := n.Listen(netip.AddrPortFrom(host(1).Addr(), 0))
	if err != nil || e.LocalAddr().Port() != 49152 {
		t.Fatalf("port 0: %v, %v", e, err)
	}
	for _, l := range []Link{{Loss: -0.1}, {Duplicate: 2}, {Reorder: math.NaN()}, {Delay: -1}, {Jitter: -time.Second}} {
		if n.SetDefault(l) == nil || n.SetLink(host(1), host(2), l) == nil {
			t.Errorf("link %+v accepted", l)
		}
	}
	advance(t, n, time.Second)
	if _, err := n.Advance(time.Millisecond); err == nil {
		t.Fatal("Advance back in time accepted")
	}
	if n.SetQueueLimit(0) == nil {
		t.Fatal("queue limit 0 accepted")
	}
	k, err := a.WriteBatch([]Message{
		{Addr: netip.AddrPort{}, Data: []byte("x")},
		{Addr: host(2), Data: make([]byte, MaxDatagram+1)},
		{Addr: host(2), Data: []byte("ok")},
	})
	if k != 1 || err == nil || !strings.Contains(err.Error(), "destination") {
		t.Fatalf("WriteBatch = %d, %v", k, err)
	}
}

// trace runs a fixed scenario with every kind of fault on and records each
// delivery, as read, byte for byte.
func trace(seed int64) string {
	n := New(seed)
	var eps []*Endpoint
	for i := range 5 {
		e, _ := n.Listen(host(i + 1))
		eps = append(eps, e)
	}
	n.SetDefault(Link{Loss: 0.1, Duplicate: 0.1, Reorder: 0.1, Delay: 2 * time.Millisecond, Jitter: 3 * time.Millisecond})
	n.SetLink(host(1), host(2), Link{Loss: 0.5, Delay: time.Millisecond})
	var sb strings.Builder
	ms := make([]Message, 4)
	for step := range 300 {
		now := time.Duration(step) * time.Millisecond
		if step == 100 {
			n.Partition([]netip.AddrPort{host(3)}, Both)
		}
		if step == 200 {
			n.Heal()
		}
		for i, from := range eps {
			to := eps[(i+step)%5]
			from.WriteBatch([]Message{{Addr: to.LocalAddr(), Data: fmt.Appendf(nil, "%d/%d", step, i)}})
		}
		n.Advance(now)
		for _, e := range eps {
			for k := e.Poll(ms); k > 0; k = e.Poll(ms) {
				for _, m := range ms[:k] {
					fmt.Fprintf(&sb, "%v %v<-%v %x\n", now, e.LocalAddr(), m.Addr, m.Data)
				}
			}
		}
	}
	fmt.Fprintf(&sb, "%+v\n", n.Stats())
	return sb.String()
}

func TestSameSeedSameDeliveries(t *testing.T) {
	a, b, c := trace(42), trace(42), trace(43)
	if a != b {
		t.Fatal("two runs with seed 42 differ")
	}
	if a == c {
		t.Fatal("seeds 42 and 43 gave the same deliveries")
	}
	if !bytes.Contains([]byte(a), []byte("<-")) {
		t.Fatal("nothing delivered")
	}
}
