package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"
	"testing"
)

// gmac is the alternative considered: AES-GCM with an empty plaintext and
// the packet as additional data, i.e. GMAC, with a 96-bit nonce made of the
// sender's slot and sequence number. It is benchmarked beside HMAC; see
// doc.go for why it was not chosen.
type gmac struct {
	aead  cipher.AEAD
	nonce [12]byte
	out   []byte
}

func newGMAC(b *testing.B, keyLen int) *gmac {
	block, err := aes.NewCipher(testKey()[:keyLen])
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	return &gmac{aead: aead, out: make([]byte, 0, 64)}
}

func (g *gmac) setNonce(pkt []byte) {
	copy(g.nonce[:4], pkt[offsetTicket:offsetTicket+4])
	copy(g.nonce[4:], pkt[offsetSeq:offsetSeq+8])
}

func (g *gmac) sign(pkt []byte) {
	end := len(pkt) - TagSize
	g.setNonce(pkt)
	g.out = g.aead.Seal(g.out[:0], g.nonce[:], nil, pkt[:end])
	copy(pkt[end:], g.out)
}

func (g *gmac) verify(pkt []byte) bool {
	end := len(pkt) - TagSize
	g.setNonce(pkt)
	_, err := g.aead.Open(g.out[:0], g.nonce[:], pkt[end:], pkt[:end])
	return err == nil
}

// hmacTag is the other alternative considered: HMAC-SHA256 truncated to 16
// bytes, with the keyed state made once and restored by Reset.
type hmacTag struct {
	h   hash.Hash
	sum []byte
}

func newHMAC() *hmacTag {
	return &hmacTag{h: hmac.New(sha256.New, testKey()), sum: make([]byte, 0, sha256.Size)}
}

func (m *hmacTag) tag(data []byte) []byte {
	m.h.Reset()
	m.h.Write(data)
	m.sum = m.h.Sum(m.sum[:0])
	return m.sum[:TagSize]
}

func heartbeatPacket(b *testing.B, c *Codec) []byte {
	buf := make([]byte, MaxMessageSize)
	n, err := c.Encode(buf, &Message{Type: TypeHeartbeat, Seq: 1, Ticket: Ticket{Slot: 12345, Gen: 7}, Incarnation: 3})
	if err != nil {
		b.Fatal(err)
	}
	return buf[:n]
}

// BenchmarkDecodeVerifyHeartbeat: parse and authenticate one 42-byte
// heartbeat. aes256-cmac is what Decode does with the recommended 32-byte
// key (aes128-cmac with a 16-byte key); the others are the baseline (parse
// only) and the alternatives considered, measured in the same run.
func BenchmarkDecodeVerifyHeartbeat(b *testing.B) {
	c := NewCodec(testRing(b))
	pkt := heartbeatPacket(b, c)
	b.Run("aes256-cmac", func(b *testing.B) {
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			if err := c.Decode(pkt, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("aes256-cmac-batch64", func(b *testing.B) {
		// One op is one heartbeat of a 64-packet DecodeBatch (what the
		// manager's reader runs), beside one Decode a packet above.
		pkts := make([][]byte, 64)
		for i := range pkts {
			pkts[i] = pkt
		}
		ms := make([]Message, len(pkts))
		errs := make([]error, len(pkts))
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; i < b.N; i += len(pkts) {
			c.DecodeBatch(pkts, ms, errs)
			if errs[0] != nil {
				b.Fatal(errs[0])
			}
		}
	})
	b.Run("aes128-cmac", func(b *testing.B) {
		r, err := NewKeyring(1, testKey()[:16])
		if err != nil {
			b.Fatal(err)
		}
		c := NewCodec(r)
		p := heartbeatPacket(b, c)
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			if err := c.Decode(p, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse-only", func(b *testing.B) {
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		body := pkt[HeaderSize : len(pkt)-TagSize]
		for b.Loop() {
			m = Message{}
			if err := m.parseBody(TypeHeartbeat, 0, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hmac-sha256-128", func(b *testing.B) {
		h := newHMAC()
		p := append([]byte(nil), pkt...)
		end := len(p) - TagSize
		copy(p[end:], h.tag(p[:end]))
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			m = Message{}
			if err := m.parseBody(TypeHeartbeat, 0, p[HeaderSize:end]); err != nil {
				b.Fatal(err)
			}
			if subtle.ConstantTimeCompare(h.tag(p[:end]), p[end:]) != 1 {
				b.Fatal("does not verify")
			}
		}
	})
	for _, kl := range []int{16, 32} {
		name := "gmac-aes128"
		if kl == 32 {
			name = "gmac-aes256"
		}
		b.Run(name, func(b *testing.B) {
			g := newGMAC(b, kl)
			p := append([]byte(nil), pkt...)
			g.sign(p)
			var m Message
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				m = Message{}
				if err := m.parseBody(TypeHeartbeat, 0, p[HeaderSize:len(p)-TagSize]); err != nil {
					b.Fatal(err)
				}
				if !g.verify(p) {
					b.Fatal("gmac does not verify")
				}
			}
		})
	}
	b.Run("hmac-new-per-packet", func(b *testing.B) {
		p := append([]byte(nil), pkt...)
		end := len(p) - TagSize
		copy(p[end:], newHMAC().tag(p[:end]))
		var m Message
		b.ReportAllocs()
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			m = Message{}
			if err := m.parseBody(TypeHeartbeat, 0, p[HeaderSize:end]); err != nil {
				b.Fatal(err)
			}
			h := hmac.New(sha256.New, testKey())
			h.Write(p[:end])
			if subtle.ConstantTimeCompare(h.Sum(nil)[:TagSize], p[end:]) != 1 {
				b.Fatal("does not verify")
			}
		}
	})
	b.Run("reject-bad-tag", func(b *testing.B) {
		p := append([]byte(nil), pkt...)
		p[len(p)-1] ^= 1
		var m Message
		b.ReportAllocs()
		for b.Loop() {
			if c.Decode(p, &m) == nil {
				b.Fatal("accepted")
			}
		}
	})
	b.Run("reject-truncated", func(b *testing.B) {
		p := pkt[:len(pkt)-1]
		var m Message
		b.ReportAllocs()
		for b.Loop() {
			if c.Decode(p, &m) == nil {
				b.Fatal("accepted")
			}
		}
	})
}

// BenchmarkEncodeSignHeartbeat: build and sign one heartbeat, AES-CMAC
// (what Encode does) beside the alternatives.
func BenchmarkEncodeSignHeartbeat(b *testing.B) {
	c := NewCodec(testRing(b))
	buf := make([]byte, MaxMessageSize)
	m := Message{Type: TypeHeartbeat, Ticket: Ticket{Slot: 12345, Gen: 7}, Incarnation: 3}
	var seq Sequence
	b.Run("aes256-cmac", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Seq = seq.Next()
			if _, err := c.Encode(buf, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The alternatives write the header and body as Encode does, then tag.
	encodeBare := func() []byte {
		m.Seq = seq.Next()
		buf[0], buf[1], buf[2], buf[3] = Version, byte(m.Type), 1, 0
		binary.BigEndian.PutUint64(buf[offsetSeq:], m.Seq)
		m.putBody(buf[HeaderSize : HeaderSize+heartbeatSize])
		return buf[:HeaderSize+heartbeatSize+TagSize]
	}
	b.Run("hmac-sha256-128", func(b *testing.B) {
		h := newHMAC()
		b.ReportAllocs()
		for b.Loop() {
			p := encodeBare()
			copy(p[len(p)-TagSize:], h.tag(p[:len(p)-TagSize]))
		}
	})
	b.Run("gmac-aes128", func(b *testing.B) {
		g := newGMAC(b, 16)
		b.ReportAllocs()
		for b.Loop() {
			g.sign(encodeBare())
		}
	})
	b.Run("header-body-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			encodeBare()
		}
	})
}

// mutexWindow is the baseline: the same window behind a mutex.
type mutexWindow struct {
	mu        sync.Mutex
	max, seen uint64
}

func (w *mutexWindow) Check(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq == 0 {
		return false
	}
	if seq > w.max {
		if d := seq - w.max; d >= WindowSize {
			w.seen = 1
		} else {
			w.seen = w.seen<<d | 1
		}
		w.max = seq
		return true
	}
	d := w.max - seq
	if d >= WindowSize || w.seen&(1<<d) != 0 {
		return false
	}
	w.seen |= 1 << d
	return true
}

type checker interface{ Check(uint64) bool }

// BenchmarkReplayWindow: in-order checks on one goroutine; then all
// goroutines on one shared window (the worst case: one sender whose packets
// land on every socket goroutine), and on one window per goroutine (the
// common case: many senders). Each beside the mutex baseline.
func BenchmarkReplayWindow(b *testing.B) {
	impls := []struct {
		name string
		make func() checker
	}{
		{"cas", func() checker { return &ReplayWindow{} }},
		{"mutex", func() checker { return &mutexWindow{} }},
	}
	for _, im := range impls {
		b.Run("in-order/"+im.name, func(b *testing.B) {
			w := im.make()
			var seq uint64
			for b.Loop() {
				seq++
				if !w.Check(seq) {
					b.Fatal("rejected")
				}
			}
		})
		b.Run("reordered/"+im.name, func(b *testing.B) {
			w := im.make()
			var seq uint64
			for b.Loop() {
				seq++
				w.Check(seq ^ 7) // a permutation within each block of 8
			}
		})
		b.Run("parallel-shared/"+im.name, func(b *testing.B) {
			w := im.make()
			var seq Sequence
			var rejected atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !w.Check(seq.Next()) {
						rejected.Add(1)
					}
				}
			})
			b.ReportMetric(float64(rejected.Load())/float64(b.N), "rejected/op")
		})
		b.Run("parallel-per-sender/"+im.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				w := im.make()
				var seq uint64
				for pb.Next() {
					seq++
					w.Check(seq)
				}
			})
		})
	}
}
