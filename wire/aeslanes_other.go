//go:build !amd64

package wire

import "crypto/aes"

// haveLanes is false here: CMACs run one block at a time through
// crypto/aes.
const haveLanes = false

func cmacLanes(*roundKeys, *[lanes][laneWords]uint64, int, *[aes.BlockSize]byte, *[lanes]*[aes.BlockSize]byte) {
	panic("wire: cmacLanes without AES-NI")
}
