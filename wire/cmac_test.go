package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCMACVectors: the examples of RFC 4493 section 4 (AES-128) and of NIST
// SP 800-38B appendix D.3 (AES-256).
func TestCMACVectors(t *testing.T) {
	msg := "6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51" +
		"30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710"
	m := unhex(t, msg)
	cases := []struct {
		key, k1, k2 string
		tags        [4]string // for message lengths 0, 16, 40, 64
	}{
		{
			key: "2b7e1516 28aed2a6 abf71588 09cf4f3c",
			k1:  "fbeed618 35713366 7c85e08f 7236a8de",
			k2:  "f7ddac30 6ae266cc f90bc11e e46d513b",
			tags: [4]string{"bb1d6929 e9593728 7fa37d12 9b756746", "070a16b4 6b4d4144 f79bdd9d d04a287c",
				"dfa66747 de9ae630 30ca3261 1497c827", "51f0bebf 7e3b9d92 fc497417 79363cfe"},
		},
		{
			key: "603deb10 15ca71be 2b73aef0 857d7781 1f352c07 3b6108d7 2d9810a3 0914dff4",
			k1:  "cad1ed03 299eedac 2e9a9980 8621502f",
			k2:  "95a3da06 533ddb58 5d353301 0c42a0d9",
			tags: [4]string{"028962f6 1b7bf89e fc6b551f 4667d983", "28a7023f 452e8f82 bd4bf28d 8c37c35c",
				"aaf3d8f1 de5640c2 32f5b169 b9c911e6", "e1992190 549f6ed5 696a2c05 6c315410"},
		},
	}
	for _, tc := range cases {
		k, err := newCMACKey(unhex(t, tc.key))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.k1[:], unhex(t, tc.k1)) || !bytes.Equal(k.k2[:], unhex(t, tc.k2)) {
			t.Fatalf("subkeys of %s: %x %x", tc.key, k.k1, k.k2)
		}
		var x [aes.BlockSize]byte
		for i, n := range []int{0, 16, 40, 64} {
			if got := k.sum(&x, m[:n]); !bytes.Equal(got, unhex(t, tc.tags[i])) {
				t.Fatalf("key %s, %d bytes: %x, want %s", tc.key, n, got, tc.tags[i])
			}
		}
	}
}

// referenceCMAC computes AES-CMAC from its definition, independently of
// cmacKey: subkeys by arithmetic on integers, the chain by the standard
// library's CBC mode with a zero IV.
func referenceCMAC(key, msg []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	l := make([]byte, 16)
	b.Encrypt(l, l)
	dbl := func(v []byte) []byte {
		n := new(big.Int).Lsh(new(big.Int).SetBytes(v), 1)
		if n.Bit(128) == 1 {
			n.Xor(n, new(big.Int).Lsh(big.NewInt(1), 128))
			n.Xor(n, big.NewInt(0x87))
		}
		return n.FillBytes(make([]byte, 16))
	}
	k1 := dbl(l)
	k2 := dbl(k1)
	m := append([]byte(nil), msg...)
	sub := k1
	if len(m) == 0 || len(m)%16 != 0 {
		m = append(m, 0x80)
		for len(m)%16 != 0 {
			m = append(m, 0)
		}
		sub = k2
	}
	last := m[len(m)-16:]
	for i := range last {
		last[i] ^= sub[i]
	}
	out := make([]byte, len(m))
	cipher.NewCBCEncrypter(b, make([]byte, 16)).CryptBlocks(out, m)
	return out[len(out)-16:]
}

func TestCMACAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kl := range []int{16, 24, 32} {
		key := make([]byte, kl)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		k, err := newCMACKey(key)
		if err != nil {
			t.Fatal(err)
		}
		var x [aes.BlockSize]byte
		for n := range 100 {
			msg := make([]byte, n)
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			if got, want := k.sum(&x, msg), referenceCMAC(key, msg); !bytes.Equal(got, want) {
				t.Fatalf("key %d bytes, msg %d bytes: %x, reference %x", kl, n, got, want)
			}
		}
	}
}
