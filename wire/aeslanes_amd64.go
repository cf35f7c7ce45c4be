package wire

import (
	"crypto/aes"

	"golang.org/x/sys/cpu"
)

// haveLanes reports whether cmacLanes may run: it needs AES-NI and SSE4.1
// (PINSRQ). Some virtual CPUs report the first without the second.
var haveLanes = cpu.X86.HasAES && cpu.X86.HasSSE41

// cmacLanes runs the CMAC chains of eight lanes with k: lane l's nblocks
// (1..laneBlocks) blocks are in bufs[l] as little-endian words, its last
// block already padded,
// sub (the same for every lane) is xored into the last block, and lane l's
// tag goes to *out[l]. It must only run when haveLanes.
//
//go:noescape
func cmacLanes(k *roundKeys, bufs *[lanes][laneWords]uint64, nblocks int, sub *[aes.BlockSize]byte, out *[lanes]*[aes.BlockSize]byte)
