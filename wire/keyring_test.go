package wire

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestKeyRotation(t *testing.T) {
	oldRing, err := NewKeyring(1, key(1))
	if err != nil {
		t.Fatal(err)
	}
	sender := NewCodec(oldRing)
	recvRing, _ := NewKeyring(1, key(1))
	receiver := NewCodec(recvRing)
	hb := &Message{Type: TypeHeartbeat, Seq: 1, Incarnation: 1}
	var m Message

	oldPkt := encode(t, sender, hb)
	if err := receiver.Decode(oldPkt, &m); err != nil || m.KeyID != 1 {
		t.Fatalf("before rotation: %v, key %d", err, m.KeyID)
	}

	// Step 1: the receiver learns key 2; it still signs with key 1.
	if err := recvRing.Add(2, key(2)); err != nil {
		t.Fatal(err)
	}
	if recvRing.Primary() != 1 {
		t.Fatal("Add changed the primary key")
	}
	// Step 2: the receiver makes key 2 primary. Old key still verifies.
	if err := recvRing.SetPrimary(2); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Decode(oldPkt, &m); err != nil || m.KeyID != 1 {
		t.Fatalf("old key after new primary: %v, key %d", err, m.KeyID)
	}
	// The receiver signs with key 2 now; the sender does not know it yet.
	newPkt := encode(t, receiver, hb)
	if newPkt[offsetKeyID] != 2 {
		t.Fatalf("signed with key %d, want 2", newPkt[offsetKeyID])
	}
	if err := sender.Decode(newPkt, &m); !errors.Is(err, ErrKeyID) {
		t.Fatalf("unknown key 2 at the sender: %v", err)
	}
	if err := oldRing.Add(2, key(2)); err != nil {
		t.Fatal(err)
	}
	if err := sender.Decode(newPkt, &m); err != nil || m.KeyID != 2 {
		t.Fatalf("key 2 after Add at the sender: %v", err)
	}
	// Step 3: key 1 is removed: its packets no longer verify.
	if err := recvRing.Remove(1); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Decode(oldPkt, &m); !errors.Is(err, ErrKeyID) {
		t.Fatalf("removed key: %v", err)
	}
	if ids := recvRing.IDs(); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("IDs %v", ids)
	}
	// A key re-added under the old ID with other bytes gets a new state.
	if err := recvRing.Add(1, key(9)); err != nil {
		t.Fatal(err)
	}
	if err := receiver.Decode(oldPkt, &m); !errors.Is(err, ErrTag) {
		t.Fatalf("old packet under a new key 1: %v", err)
	}
}

func TestKeyringErrors(t *testing.T) {
	for _, n := range []int{0, 15, 17, 31, 33, 64} {
		if _, err := NewKeyring(0, make([]byte, n)); !errors.Is(err, ErrKeyLen) {
			t.Fatalf("%d-byte key: %v", n, err)
		}
	}
	for _, n := range []int{16, 24, 32} {
		if _, err := NewKeyring(0, make([]byte, n)); err != nil {
			t.Fatalf("%d-byte key: %v", n, err)
		}
	}
	r, err := NewKeyring(0, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(0, key(1)); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := r.Add(1, key(1)[:3]); !errors.Is(err, ErrKeyLen) {
		t.Fatalf("short added key: %v", err)
	}
	if err := r.SetPrimary(5); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown primary: %v", err)
	}
	if err := r.Remove(5); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown remove: %v", err)
	}
	if err := r.Remove(0); !errors.Is(err, ErrRemovePrimary) {
		t.Fatalf("remove primary: %v", err)
	}
}

func TestKeyringCopiesKey(t *testing.T) {
	k := key(3)
	r, _ := NewKeyring(3, k)
	c := NewCodec(r)
	pkt := encode(t, c, &Message{Type: TypeLeave, Seq: 1})
	k[0] ^= 0xff // the caller's slice changes; the ring's copy must not
	c2 := NewCodec(r)
	var m Message
	if err := c2.Decode(pkt, &m); err != nil {
		t.Fatal(err)
	}
}

// Codecs on several goroutines keep working while the ring rotates under
// them; run with -race.
func TestConcurrentRotation(t *testing.T) {
	r, _ := NewKeyring(0, key(100))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := NewCodec(r)
			buf := make([]byte, MaxMessageSize)
			var m Message
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n, err := c.Encode(buf, &Message{Type: TypeHeartbeat, Seq: uint64(i + 1), Incarnation: uint64(g)})
				if err != nil {
					t.Error(err)
					return
				}
				// The key that signed may have been removed since, and
				// only then may verification fail.
				if err := c.Decode(buf[:n], &m); err != nil && !errors.Is(err, ErrKeyID) {
					t.Error(err)
					return
				}
			}
		}()
	}
	for id := 1; id < 50; id++ {
		if err := r.Add(uint8(id), key(byte(100+id))); err != nil {
			t.Fatal(err)
		}
		if err := r.SetPrimary(uint8(id)); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove(uint8(id - 1)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
