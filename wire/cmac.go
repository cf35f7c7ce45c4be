package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
)

// cmacKey is one key ready for AES-CMAC (NIST SP 800-38B, RFC 4493): the
// expanded AES key and the two subkeys. It is immutable once made, and an AES
// cipher.Block holds no per-call state, so Codecs on several goroutines share
// it; each Codec brings its own scratch block.
type cmacKey struct {
	block  cipher.Block
	k1, k2 [aes.BlockSize]byte
}

func newCMACKey(key []byte) (*cmacKey, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	k := &cmacKey{block: b}
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
