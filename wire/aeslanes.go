package wire

import (
	"crypto/aes"
	"encoding/binary"
)

// lanes is how many CMAC chains cmacLanes runs at once. AES-NI's AESENC has
// a latency of about four cycles but issues every cycle or two, so one CMAC
// chain (each block waits for the previous one) leaves it mostly idle;
// eight chains of eight different packets, interleaved round by round, fill
// it on a core that issues two a cycle (four did on one that issues one). A
// group of fewer packets takes no longer than with four lanes: the chain's
// latency, not the lane count, sets the time.
const lanes = 8

// laneBlocks is the most blocks a lane holds: the longest signed part of a
// message (MaxMessageSize-TagSize, 123 bytes) is 8 blocks.
const (
	laneBlocks = (MaxMessageSize - TagSize + aes.BlockSize - 1) / aes.BlockSize
	laneWords  = 2 * laneBlocks
)

// roundKeys is an expanded AES key in the byte order AES-NI reads: round r's
// key is rk[16r : 16r+16]; rounds is 10, 12 or 14 for 16, 24 or 32-byte keys.
type roundKeys struct {
	rk     [15 * aes.BlockSize]byte
	rounds int
}

// sbox is the AES S-box, computed once at start (the multiplicative inverse
// in GF(2^8) followed by the affine map of FIPS-197 5.1.1) rather than typed
// in as a table.
var sbox = func() (s [256]byte) {
	mul := func(a, b byte) byte {
		var p byte
		for b != 0 {
			if b&1 != 0 {
				p ^= a
			}
			a = a<<1 ^ 0x1b&-(a>>7)
			b >>= 1
		}
		return p
	}
	for x := range 256 {
		inv := byte(0) // 0 maps to 0
		if x != 0 {
			// x^254 = x^-1 in GF(2^8).
			inv = 1
			for range 254 {
				inv = mul(inv, byte(x))
			}
		}
		rotl := func(v byte, k int) byte { return v<<k | v>>(8-k) }
		s[x] = inv ^ rotl(inv, 1) ^ rotl(inv, 2) ^ rotl(inv, 3) ^ rotl(inv, 4) ^ 0x63
	}
	return s
}()

// expandKey is the key expansion of FIPS-197 5.2 for a 16, 24 or 32-byte
// key. It runs once per key, when a key is added to a keyring; the tests
// check its output against crypto/aes.
func expandKey(key []byte) *roundKeys {
	nk := len(key) / 4
	k := &roundKeys{rounds: nk + 6}
	total := 4 * (k.rounds + 1)
	var w [60]uint32
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	subWord := func(v uint32) uint32 {
		return uint32(sbox[v>>24])<<24 | uint32(sbox[v>>16&0xff])<<16 | uint32(sbox[v>>8&0xff])<<8 | uint32(sbox[v&0xff])
	}
	rcon := uint32(1)
	for i := nk; i < total; i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = rcon<<1 ^ 0x11b&-(rcon>>7)
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	for i := range total {
		binary.BigEndian.PutUint32(k.rk[4*i:], w[i])
	}
	return k
}
