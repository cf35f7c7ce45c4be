package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
)

// Key lengths a Keyring accepts, in bytes. 32 bytes from crypto/rand is the
// recommended key.
const (
	MinKeyLen = 16
	MaxKeyLen = 64
)

// Keyring errors.
var (
	ErrKeyLen        = errors.New("wire: key length out of range")
	ErrKeyExists     = errors.New("wire: key id already in keyring")
	ErrUnknownKey    = errors.New("wire: key id not in keyring")
	ErrRemovePrimary = errors.New("wire: cannot remove the primary key")
)

// Keyring is a set of symmetric keys, each named by a one-byte key ID. The
// primary key signs; every key in the ring verifies. It is safe for
// concurrent use: changes are rare and publish a new immutable key set, and
// every Codec picks the new set up at its next message.
//
// Rotation without downtime, across a fleet: (1) Add the new key everywhere,
// (2) once every node has it, SetPrimary to it everywhere, (3) once no node
// signs with the old key any more, Remove the old key everywhere.
type Keyring struct {
	mu sync.Mutex // serialises changes; readers only load set

	// set is the current key set. Readers load it without the lock; a change
	// builds a new keySet under mu and stores it, so a reader sees either the
	// old set or the new one, never a half-made one.
	set atomic.Pointer[keySet]
}

// keySet is immutable once published.
type keySet struct {
	primary uint8
	keys    [256][]byte // nil: no key with this ID
}

// NewKeyring returns a keyring holding one key, which is primary.
func NewKeyring(id uint8, key []byte) (*Keyring, error) {
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return nil, fmt.Errorf("%w: %d bytes, want %d..%d", ErrKeyLen, len(key), MinKeyLen, MaxKeyLen)
	}
	s := &keySet{primary: id}
	s.keys[id] = append([]byte(nil), key...)
	k := &Keyring{}
	k.set.Store(s)
	return k, nil
}

// Add adds a verifying key. It does not change the primary key.
func (k *Keyring) Add(id uint8, key []byte) error {
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, want %d..%d", ErrKeyLen, len(key), MinKeyLen, MaxKeyLen)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.set.Load()
	if old.keys[id] != nil {
		return fmt.Errorf("%w: %d", ErrKeyExists, id)
	}
	s := *old
	s.keys[id] = append([]byte(nil), key...)
	k.set.Store(&s)
	return nil
}

// SetPrimary makes the key with this ID the one that signs.
func (k *Keyring) SetPrimary(id uint8) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.set.Load()
	if old.keys[id] == nil {
		return fmt.Errorf("%w: %d", ErrUnknownKey, id)
	}
	s := *old
	s.primary = id
	k.set.Store(&s)
	return nil
}

// Remove removes a key; messages signed with it no longer verify. The
// primary key cannot be removed.
func (k *Keyring) Remove(id uint8) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.set.Load()
	if old.keys[id] == nil {
		return fmt.Errorf("%w: %d", ErrUnknownKey, id)
	}
	if old.primary == id {
		return fmt.Errorf("%w: %d", ErrRemovePrimary, id)
	}
	s := *old
	s.keys[id] = nil
	k.set.Store(&s)
	return nil
}

// Primary returns the ID of the signing key.
func (k *Keyring) Primary() uint8 { return k.set.Load().primary }

// IDs returns the IDs of the keys in the ring, in increasing order.
func (k *Keyring) IDs() []uint8 {
	s := k.set.Load()
	var ids []uint8
	for id, key := range s.keys {
		if key != nil {
			ids = append(ids, uint8(id))
		}
	}
	return ids
}

// macs is a Codec's private HMAC state, one per key of the set it was built
// for. hmac.Reset restores the keyed state from a saved copy, so signing and
// verifying allocate nothing once built.
type macs struct {
	set *keySet
	mac [256]hash.Hash
	sum []byte // scratch for hmac.Sum, cap sha256.Size
}

// refresh rebuilds the HMAC states when the keyring published a new set
// (allocating, once per rotation); otherwise it costs one atomic load.
func (m *macs) refresh(ring *Keyring) *keySet {
	s := ring.set.Load()
	if s == m.set {
		return s
	}
	old := m.set
	for id, key := range s.keys {
		if key == nil {
			m.mac[id] = nil
			continue
		}
		// Keys are copied once on Add and shared by later sets, so the
		// same backing array means the same key: keep its state.
		if old != nil && old.keys[id] != nil && &old.keys[id][0] == &key[0] && m.mac[id] != nil {
			continue
		}
		m.mac[id] = hmac.New(sha256.New, key)
	}
	if m.sum == nil {
		m.sum = make([]byte, 0, sha256.Size)
	}
	m.set = s
	return s
}

// tag computes HMAC-SHA256(key id, data) truncated to TagSize into m.sum.
func (m *macs) tag(id uint8, data []byte) []byte {
	h := m.mac[id]
	h.Reset()
	h.Write(data)
	m.sum = h.Sum(m.sum[:0])
	return m.sum[:TagSize]
}

// verify reports whether tag is the tag of data under key id, in constant
// time with respect to the tag's content.
func (m *macs) verify(id uint8, data, tag []byte) bool {
	return subtle.ConstantTimeCompare(m.tag(id, data), tag) == 1
}
