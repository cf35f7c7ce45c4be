package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// cmacKey is one key ready for AES-CMAC (NIST SP 800-38B, RFC 4493): the
// expanded AES key and the two subkeys. It is immutable once made, and an AES
// cipher.Block holds no per-call state, so Codecs on several goroutines share
// it; each Codec brings its own scratch block.
type cmacKey struct {
	block  cipher.Block
	k1, k2 [aes.BlockSize]byte
	rk     *roundKeys // for sumLanes; nil without AES-NI
}

func newCMACKey(key []byte) (*cmacKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	k := &cmacKey{block: b}
	if haveLanes {
		k.rk = expandKey(key)
	}
	var l [aes.BlockSize]byte
	b.Encrypt(l[:], l[:])
	double(&k.k1, &l)
	double(&k.k2, &k.k1)
	return k, nil
}

// double multiplies src by x in GF(2^128) (the subkey step of CMAC).
func double(dst, src *[aes.BlockSize]byte) {
	var carry byte
	for i := aes.BlockSize - 1; i >= 0; i-- {
		v := src[i]
		dst[i] = v<<1 | carry
		carry = v >> 7
	}
	dst[aes.BlockSize-1] ^= 0x87 & -carry // constant time in the key
}

// sum computes the AES-CMAC of msg into x (the caller's scratch block, so
// that nothing escapes to the heap per call) and returns it.
func (k *cmacKey) sum(x *[aes.BlockSize]byte, msg []byte) []byte {
	*x = [aes.BlockSize]byte{}
	for len(msg) > aes.BlockSize {
		subtle.XORBytes(x[:], x[:], msg[:aes.BlockSize])
		k.block.Encrypt(x[:], x[:])
		msg = msg[aes.BlockSize:]
	}
	if len(msg) == aes.BlockSize {
		subtle.XORBytes(x[:], x[:], msg)
		subtle.XORBytes(x[:], x[:], k.k1[:])
	} else {
		subtle.XORBytes(x[:len(msg)], x[:len(msg)], msg)
		x[len(msg)] ^= 0x80
		subtle.XORBytes(x[:], x[:], k.k2[:])
	}
	k.block.Encrypt(x[:], x[:])
	return x[:]
}

// sumLanes computes the AES-CMACs of msgs[:n] (n <= lanes) into *tags[l],
// their chains interleaved by cmacLanes. The messages must share their
// shape (see shape): the same number of blocks, and a last block that is
// full in all or in none. Only for a key with rk (AES-NI); lanes past n
// compute tags nobody reads, into *tags[l], which must still point
// somewhere.
func (k *cmacKey) sumLanes(msgs *[lanes][]byte, n int, tags *[lanes]*[aes.BlockSize]byte) {
	le := binary.LittleEndian
	var bufs [lanes][laneWords]uint64
	nblocks, full := shape(len(msgs[0]))
	whole := nblocks
	if !full {
		whole--
	}
	for l := range n {
		msg, w := msgs[l], &bufs[l]
		for j := range whole {
			w[2*j], w[2*j+1] = le.Uint64(msg[16*j:]), le.Uint64(msg[16*j+8:])
		}
		if !full {
			w[2*whole], w[2*whole+1] = padded(msg, len(msg)-16*whole)
		}
	}
	sub := &k.k2
	if full {
		sub = &k.k1
	}
	cmacLanes(k.rk, &bufs, nblocks, sub, tags)
}

// padded returns the last block of msg, its r (0..15) last bytes then
// 0x80 and zeros, as two little-endian words. For a message of 16 bytes or
// more it reads the 16 bytes that end the message as two words and shifts
// them into place, instead of storing bytes one by one (which the CPU could
// not forward to the word loads of cmacLanes).
func padded(msg []byte, r int) (lo, hi uint64) {
	if len(msg) < aes.BlockSize {
		var b [aes.BlockSize]byte
		copy(b[:], msg[len(msg)-r:])
		b[r] = 0x80
		return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
	}
	a := binary.LittleEndian.Uint64(msg[len(msg)-16:])
	b := binary.LittleEndian.Uint64(msg[len(msg)-8:])
	// The 128-bit value b:a holds the last r bytes at its top; move them
	// down by s bits.
	if s := uint(8 * (16 - r)); s >= 64 {
		lo, hi = b>>(s-64), 0
	} else {
		lo, hi = a>>s|b<<(64-s), b>>s
	}
	if r < 8 {
		lo |= 0x80 << (8 * r)
	} else {
		hi |= 0x80 << (8 * (r - 8))
	}
	return lo, hi
}

// shape is what sumLanes needs alike in the messages it interleaves: how
// many CMAC blocks a message of n bytes has (an empty one has one, all
// padding), and whether the last is full (subkey K1) or padded (K2).
func shape(n int) (nblocks int, full bool) {
	return max(1, (n+aes.BlockSize-1)/aes.BlockSize), n > 0 && n%aes.BlockSize == 0
}
