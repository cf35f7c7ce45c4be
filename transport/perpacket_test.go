package transport

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// The portable fallback, exercised here on every system.

func openFallback(t *testing.T, cfg Config) *perPacket {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	p, err := openPerPacket(netip.MustParseAddrPort("127.0.0.1:0"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestFallbackRoundTrip(t *testing.T) {
	a := openFallback(t, Config{})
	b := openFallback(t, Config{})
	roundTrip(t, a, b, 50)
	if st := b.Stats(); st.Received != 50 || st.ReadCalls != 50 || st.Sent != 50 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFallbackWithBatchedPeer(t *testing.T) {
	a := openFallback(t, Config{})
	b := listenConn(t, "127.0.0.1:0", Config{})
	roundTrip(t, a, b, 50)
	roundTrip(t, b, a, 50)
}

func TestFallbackOversizeAndBadDestination(t *testing.T) {
	a := openFallback(t, Config{})
	b := openFallback(t, Config{BufSize: 10})
	out := []Message{
		{Addr: b.LocalAddr(), Data: bytes.Repeat([]byte{1}, 11)},
		{Addr: netip.AddrPort{}, Data: []byte{9}},
		{Addr: b.LocalAddr(), Data: bytes.Repeat([]byte{2}, 10)},
	}
	if n, err := a.WriteBatch(out); n != 2 || !errors.Is(err, ErrAddress) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	got := readN(t, b, 1)
	if !bytes.Equal(got[0].data, out[2].Data) {
		t.Fatalf("got %q", got[0].data)
	}
	if st := b.Stats(); st.Truncated != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFallbackCloseUnblocksRead(t *testing.T) {
	a := openFallback(t, Config{})
	b := openFallback(t, Config{})
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
	a.WriteBatch([]Message{{Addr: b.LocalAddr(), Data: []byte("x")}})
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := <-results; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("blocked ReadBatch returned %v", err)
	}
	if _, err := b.WriteBatch([]Message{{Addr: a.LocalAddr()}}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
}
