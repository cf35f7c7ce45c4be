package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// received is a copy of one datagram, safe to keep past the next ReadBatch.
type received struct {
	from netip.AddrPort
	data []byte
}

// readN reads from c until n datagrams arrived.
func readN(t *testing.T, c PacketConn, n int) []received {
	t.Helper()
	ms := make([]Message, 16)
	var out []received
	for len(out) < n {
		k, err := c.ReadBatch(ms)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d: %v", len(out), n, err)
		}
		if k < 1 || k > len(ms) {
			t.Fatalf("ReadBatch returned %d messages", k)
		}
		for _, m := range ms[:k] {
			if m.N != len(m.Data) {
				t.Fatalf("N %d != len(Data) %d", m.N, len(m.Data))
			}
			out = append(out, received{m.Addr, bytes.Clone(m.Data)})
		}
	}
	return out
}

func payload(i int) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b, uint32(i))
	copy(b[4:], fmt.Sprintf("datagram %d", i))
	return b
}

func listenConn(t *testing.T, addr string, cfg Config) *Conn {
	t.Helper()
	c, err := ListenConn(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends n datagrams from a to b in batches, checks that each arrives
// once and intact from a's address, then sends them back.
func roundTrip(t *testing.T, a, b PacketConn, n int) {
	t.Helper()
	out := make([]Message, n)
	for i := range out {
		out[i] = Message{Addr: b.LocalAddr(), Data: payload(i)}
	}
	if sent, err := a.WriteBatch(out); sent != n || err != nil {
		t.Fatalf("WriteBatch = %d, %v; want %d, nil", sent, err, n)
	}
	got := readN(t, b, n)
	seen := make(map[uint32]bool)
	for _, r := range got {
		if r.from != a.LocalAddr() {
			t.Fatalf("from %v, want %v", r.from, a.LocalAddr())
		}
		i := binary.BigEndian.Uint32(r.data)
		if seen[i] || !bytes.Equal(r.data, payload(int(i))) {
			t.Fatalf("datagram %d duplicated or corrupted: %q", i, r.data)
		}
		seen[i] = true
	}
	back := make([]Message, n)
	for i, r := range got {
		back[i] = Message{Addr: r.from, Data: r.data}
	}
	if sent, err := b.WriteBatch(back); sent != n || err != nil {
		t.Fatalf("reply WriteBatch = %d, %v", sent, err)
	}
	if len(readN(t, a, n)) != n {
		t.Fatal("replies missing")
	}
}

func TestLoopbackRoundTripIPv4(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{Batch: 8})
	b := listenConn(t, "127.0.0.1:0", Config{Batch: 8})
	roundTrip(t, a, b, 300)
	sa, sb := a.Stats(), b.Stats()
	if sa.Sent != 300 || sb.Received != 300 || sb.Sent != 300 || sa.Received != 300 {
		t.Fatalf("stats a %+v b %+v", sa, sb)
	}
	if sa.WriteCalls > 300/8+2 || sa.WriteCalls < 300/8 {
		t.Fatalf("WriteCalls %d: not batched by 8", sa.WriteCalls)
	}
	if sa.ReadBuffer <= 0 || sa.WriteBuffer <= 0 {
		t.Fatalf("granted buffers not reported: %+v", sa)
	}
}

func TestLoopbackRoundTripIPv6(t *testing.T) {
	a, err := ListenConn("[::1]:0", Config{})
	if err != nil {
		t.Fatalf("IPv6 loopback unavailable: %v", err)
	}
	defer a.Close()
	b := listenConn(t, "[::1]:0", Config{})
	roundTrip(t, a, b, 100)
}

// A dual-stack socket reports IPv4 peers in their plain form.
func TestDualStackUnmapsIPv4Peers(t *testing.T) {
	v6 := listenConn(t, "[::ffff:127.0.0.1]:0", Config{})
	v4 := listenConn(t, "127.0.0.1:0", Config{})
	if !v6.LocalAddr().Addr().Is4() {
		t.Fatalf("local address %v not unmapped", v6.LocalAddr())
	}
	roundTrip(t, v4, v6, 20)
}

func TestEmptyDatagram(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{})
	b := listenConn(t, "127.0.0.1:0", Config{})
	if n, err := a.WriteBatch([]Message{{Addr: b.LocalAddr()}}); n != 1 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := readN(t, b, 1)
	if len(got[0].data) != 0 {
		t.Fatalf("got %d bytes", len(got[0].data))
	}
}

func TestCloseUnblocksBlockedRead(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{})
	b := listenConn(t, "127.0.0.1:0", Config{})
	results := make(chan error)
	go func() {
		ms := make([]Message, 4)
		for {
			_, err := b.ReadBatch(ms)
			results <- err
			if err != nil {
				return
			}
		}
	}()
	// One datagram proves the reader runs; it then blocks again in ReadBatch.
	a.WriteBatch([]Message{{Addr: b.LocalAddr(), Data: []byte("x")}})
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-results; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked ReadBatch returned %v, want net.ErrClosed", err)
	}
	if _, err := b.ReadBatch(make([]Message, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("ReadBatch after Close: %v", err)
	}
	if _, err := b.WriteBatch([]Message{{Addr: a.LocalAddr()}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if err := b.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestGroupCloseUnblocksAllReaders(t *testing.T) {
	g, err := Listen("127.0.0.1:0", Config{Sockets: 3})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, c := range g.Conns() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.ReadBatch(make([]Message, 8))
			errs <- err
		}()
	}
	g.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("reader returned %v", err)
		}
	}
}

// Many senders to one SO_REUSEPORT group: every datagram arrives at exactly
// one socket, and the kernel spreads the flows over more than one.
func TestReusePortGroupReceivesFromManySenders(t *testing.T) {
	const sockets, senders, each = 4, 32, 50
	g, err := Listen("127.0.0.1:0", Config{Sockets: sockets, Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	conns := g.Conns()
	if len(conns) != sockets {
		t.Fatalf("%d conns", len(conns))
	}
	for _, c := range conns {
		if c.LocalAddr() != g.LocalAddr() || g.LocalAddr().Port() == 0 {
			t.Fatalf("conn on %v, group on %v", c.LocalAddr(), g.LocalAddr())
		}
	}
	type arrival struct {
		sock int
		id   uint32
	}
	arrivals := make(chan arrival, senders*each)
	var wg sync.WaitGroup
	for s, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := make([]Message, 16)
			for {
				n, err := c.ReadBatch(ms)
				if err != nil {
					return
				}
				for _, m := range ms[:n] {
					arrivals <- arrival{s, binary.BigEndian.Uint32(m.Data)}
				}
			}
		}()
	}
	for s := range senders {
		c := listenConn(t, "127.0.0.1:0", Config{Batch: 16})
		out := make([]Message, each)
		for i := range out {
			out[i] = Message{Addr: g.LocalAddr(), Data: payload(s*each + i)}
		}
		if n, err := c.WriteBatch(out); n != each || err != nil {
			t.Fatalf("sender %d: %d, %v", s, n, err)
		}
	}
	seen := make(map[uint32]bool)
	perSocket := make([]int, sockets)
	for range senders * each {
		a := <-arrivals
		if seen[a.id] {
			t.Fatalf("datagram %d twice", a.id)
		}
		seen[a.id] = true
		perSocket[a.sock]++
	}
	g.Close()
	wg.Wait()
	busy := 0
	for _, n := range perSocket {
		if n > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Fatalf("all flows on one socket: %v", perSocket)
	}
	if st := g.Stats(); st.Received != senders*each {
		t.Fatalf("group stats %+v", st)
	}
}

// A datagram longer than BufSize is counted and discarded; the next one is
// returned.
func TestOversizeDatagramDropped(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{})
	b := listenConn(t, "127.0.0.1:0", Config{BufSize: 100})
	out := []Message{
		{Addr: b.LocalAddr(), Data: bytes.Repeat([]byte{1}, 101)},
		{Addr: b.LocalAddr(), Data: bytes.Repeat([]byte{2}, 100)},
		{Addr: b.LocalAddr(), Data: bytes.Repeat([]byte{3}, 5000)},
		{Addr: b.LocalAddr(), Data: []byte{4}},
	}
	if n, err := a.WriteBatch(out); n != 4 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := readN(t, b, 2)
	if !bytes.Equal(got[0].data, out[1].Data) || !bytes.Equal(got[1].data, out[3].Data) {
		t.Fatalf("got %d and %d bytes", len(got[0].data), len(got[1].data))
	}
	if st := b.Stats(); st.Truncated != 2 || st.Received != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// Datagrams the kernel drops at a full receive queue show up in
// Stats.Dropped through SO_RXQ_OVFL. A read before the drops leaves its
// header with no room for control data (there was none to deliver): the
// next read must have given it room again, or the count is lost.
func TestKernelDropsCounted(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{})
	b := listenConn(t, "127.0.0.1:0", Config{ReadBuffer: 1})
	ms := make([]Message, 64)
	a.WriteBatch([]Message{{Addr: b.LocalAddr(), Data: []byte("before")}})
	if n, err := b.ReadBatch(ms); err != nil || n != 1 || string(ms[0].Data) != "before" {
		t.Fatalf("first read: %d, %v", n, err)
	}
	out := make([]Message, 200)
	for i := range out {
		out[i] = Message{Addr: b.LocalAddr(), Data: payload(i)}
	}
	a.WriteBatch(out)
	// The count rides on datagrams queued after the drops: keep sending a
	// marker and reading until a marker gets through.
	marker := []Message{{Addr: b.LocalAddr(), Data: []byte("marker")}}
	for tries := 0; ; tries++ {
		if tries == 1000 {
			t.Fatal("no marker came through")
		}
		a.WriteBatch(marker)
		n, err := b.ReadBatch(ms)
		if err != nil {
			t.Fatal(err)
		}
		if slicesContainMarker(ms[:n]) {
			break
		}
	}
	if st := b.Stats(); st.Dropped == 0 || st.Received+st.Dropped < 200 {
		t.Fatalf("stats %+v: drops not counted", st)
	}
}

func slicesContainMarker(ms []Message) bool {
	for _, m := range ms {
		if string(m.Data) == "marker" {
			return true
		}
	}
	return false
}

// Bad destinations are skipped and reported; the rest of the batch goes out.
func TestWriteBatchSkipsBadDestinations(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{Batch: 4})
	b := listenConn(t, "127.0.0.1:0", Config{})
	var out []Message
	for i := range 10 {
		out = append(out, Message{Addr: b.LocalAddr(), Data: payload(i)})
	}
	out[2].Addr = netip.AddrPort{}
	out[5].Addr = netip.MustParseAddrPort("[::1]:9") // IPv6 on an IPv4 socket
	out[7].Data = make([]byte, 70000)                // larger than any datagram
	n, err := a.WriteBatch(out)
	if n != 7 || !errors.Is(err, ErrAddress) {
		t.Fatalf("WriteBatch = %d, %v; want 7 and an ErrAddress", n, err)
	}
	got := readN(t, b, 7)
	for _, r := range got {
		if i := binary.BigEndian.Uint32(r.data); i == 2 || i == 5 || i == 7 {
			t.Fatalf("datagram %d should not have been sent", i)
		}
	}
	if st := a.Stats(); st.WriteErrors != 3 || st.Sent != 7 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigAndAddressErrors(t *testing.T) {
	bad := []Config{{Sockets: -1}, {Sockets: MaxSockets + 1}, {Batch: -3}, {Batch: MaxBatch + 1},
		{BufSize: -1}, {BufSize: MaxBufSize + 1}, {ReadBuffer: -1}, {WriteBuffer: -1}}
	for _, cfg := range bad {
		if _, err := Listen("127.0.0.1:0", cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("Listen with %+v: %v, want ErrConfig", cfg, err)
		}
		if _, err := ListenConn("127.0.0.1:0", cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("ListenConn with %+v: %v, want ErrConfig", cfg, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "[fe80::1%nope]:1"} {
		if _, err := Listen(addr, Config{}); !errors.Is(err, ErrAddress) {
			t.Errorf("Listen(%q): %v, want ErrAddress", addr, err)
		}
	}
}

// After warm-up, a batch written and read back allocates nothing.
func TestBatchesDoNotAllocate(t *testing.T) {
	a := listenConn(t, "127.0.0.1:0", Config{})
	b := listenConn(t, "127.0.0.1:0", Config{})
	out := make([]Message, 32)
	for i := range out {
		out[i] = Message{Addr: b.LocalAddr(), Data: payload(i)}
	}
	in := make([]Message, 64)
	allocs := testing.AllocsPerRun(50, func() {
		if n, err := a.WriteBatch(out); n != len(out) || err != nil {
			t.Fatal(n, err)
		}
		for got := 0; got < len(out); {
			n, err := b.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read of a batch", allocs)
	}
}
