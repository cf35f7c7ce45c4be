package wire

import (
	"crypto/aes"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestSbox(t *testing.T) {
	// FIPS-197 figure 7: a few entries, and a permutation.
	require.Equal(t, byte(0x63), sbox[0x00])
	require.Equal(t, byte(0x7c), sbox[0x01])
	require.Equal(t, byte(0xed), sbox[0x53])
	require.Equal(t, byte(0x16), sbox[0xff])
	var seen [256]bool
	for _, v := range sbox {
		require.False(t, seen[v])
		seen[v] = true
	}
}

func TestExpandKeyFIPS197(t *testing.T) {
	// FIPS-197 appendix A.3: the last round key of the 256-bit example.
	key := []byte{
		0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
		0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
	}
	k := expandKey(key)
	require.Equal(t, 14, k.rounds)
	require.Equal(t, []byte{0xfe, 0x48, 0x90, 0xd1, 0xe6, 0x18, 0x8d, 0x0b, 0x04, 0x6d, 0xf3, 0x44, 0x70, 0x6c, 0x63, 0x1e}, k.rk[14*16:15*16])
}

// TestSumLanesMatchesSum: for random keys of every length and random
// messages of every shape, sumLanes (AES-NI, the key expanded here)
// gives the tags sum (crypto/aes) gives.
func TestSumLanesMatchesSum(t *testing.T) {
	if !haveLanes {
		t.Skip("no AES-NI on this machine: sumLanes never runs here")
	}
	require.Equal(t, uintptr(240), unsafe.Offsetof(roundKeys{}.rounds), "the assembly reads rounds at 240")
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range keyLens {
		for range 300 {
			key := make([]byte, n)
			for i := range key {
				key[i] = byte(r.Uint32())
			}
			k, err := newCMACKey(key)
			require.NoError(t, err)
			nb, full := 1+r.IntN(laneBlocks), r.IntN(3) == 0
			var msgs [lanes][]byte
			used := 1 + r.IntN(lanes)
			for l := range used {
				size := nb * aes.BlockSize
				if !full {
					size = (nb-1)*aes.BlockSize + r.IntN(aes.BlockSize)
					if nb > 1 && size%aes.BlockSize == 0 {
						size++ // 16 bytes in the last block would make it full
					}
				}
				if gotNB, gotFull := shape(size); gotNB != nb || gotFull != full {
					t.Fatalf("test built %d bytes for %d blocks, full %v", size, nb, full)
				}
				msgs[l] = make([]byte, size)
				for i := range msgs[l] {
					msgs[l][i] = byte(r.Uint32())
				}
			}
			var tags [lanes][aes.BlockSize]byte
			var outs [lanes]*[aes.BlockSize]byte
			for l := range outs {
				outs[l] = &tags[l]
			}
			k.sumLanes(&msgs, used, &outs)
			for l := range used {
				var x [aes.BlockSize]byte
				require.Equal(t, k.sum(&x, msgs[l]), tags[l][:], "key %d bytes, lane %d of %d, %d bytes", n, l, used, len(msgs[l]))
			}
		}
	}
}
