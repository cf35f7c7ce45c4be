package wire

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Key lengths a Keyring accepts, in bytes: AES-128, AES-192 or AES-256.
// 16 or 32 bytes from crypto/rand are the recommended keys.
var keyLens = [...]int{16, 24, 32}

func checkKeyLen(key []byte) error {
	for _, n := range keyLens {
		if len(key) == n {
			return nil
		}
	}
	return fmt.Errorf("%w: %d bytes, want 16, 24 or 32", ErrKeyLen, len(key))
}

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
	keys    [256]*cmacKey // nil: no key with this ID
}

func newKey(key []byte) (*cmacKey, error) {
	if err := checkKeyLen(key); err != nil {
		return nil, err
	}
	return newCMACKey(key)
}

// NewKeyring returns a keyring holding one key, which is primary.
func NewKeyring(id uint8, key []byte) (*Keyring, error) {
	ck, err := newKey(key)
	if err != nil {
		return nil, err
	}
	s := &keySet{primary: id}
	s.keys[id] = ck
	k := &Keyring{}
	k.set.Store(s)
	return k, nil
}

// Add adds a verifying key. It does not change the primary key.
func (k *Keyring) Add(id uint8, key []byte) error {
	ck, err := newKey(key)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.set.Load()
	if old.keys[id] != nil {
		return fmt.Errorf("%w: %d", ErrKeyExists, id)
	}
	s := *old
	s.keys[id] = ck
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
