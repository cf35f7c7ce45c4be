#include "textflag.h"

// func cmacLanes(k *roundKeys, bufs *[4][laneWords]uint64, nblocks int, sub *[16]byte, out *[4]*[16]byte)
//
// Four CBC-MAC chains at once, every lane's state in a register from the
// first block to the tag (X0-X3), the rounds of the four interleaved so that
// their AESENCs overlap. Lane l's block j < nblocks is the words
// bufs[l][2j] (low) and bufs[l][2j+1], the last one already padded by the
// caller. Each block is loaded as its two words (MOVQ, PINSRQ), each from the
// 8-byte store that wrote it, so that the loads take the stores' data
// directly instead of waiting for them to reach the cache. sub, the subkey,
// is xored into every lane before the last block's encryption. roundKeys is
// rk [240]byte then rounds int (offset 240); a lane is 128 bytes.
TEXT ·cmacLanes(SB), NOSPLIT, $0-40
	MOVQ	k+0(FP), AX
	MOVQ	bufs+8(FP), BX
	MOVQ	nblocks+16(FP), SI
	MOVQ	sub+24(FP), DI
	MOVQ	out+32(FP), DX
	PXOR	X0, X0
	PXOR	X1, X1
	PXOR	X2, X2
	PXOR	X3, X3
block:
	MOVQ	0(BX), X5
	PINSRQ	$1, 8(BX), X5
	PXOR	X5, X0
	MOVQ	128(BX), X5
	PINSRQ	$1, 136(BX), X5
	PXOR	X5, X1
	MOVQ	256(BX), X5
	PINSRQ	$1, 264(BX), X5
	PXOR	X5, X2
	MOVQ	384(BX), X5
	PINSRQ	$1, 392(BX), X5
	PXOR	X5, X3
	ADDQ	$16, BX
	CMPQ	SI, $1
	JNE	keyed
	MOVOU	(DI), X5
	PXOR	X5, X0
	PXOR	X5, X1
	PXOR	X5, X2
	PXOR	X5, X3
keyed:
	MOVQ	AX, R12
	MOVQ	240(AX), CX
	MOVOU	(R12), X4
	PXOR	X4, X0
	PXOR	X4, X1
	PXOR	X4, X2
	PXOR	X4, X3
	ADDQ	$16, R12
	DECQ	CX
round:
	MOVOU	(R12), X4
	AESENC	X4, X0
	AESENC	X4, X1
	AESENC	X4, X2
	AESENC	X4, X3
	ADDQ	$16, R12
	DECQ	CX
	JNZ	round
	MOVOU	(R12), X4
	AESENCLAST	X4, X0
	AESENCLAST	X4, X1
	AESENCLAST	X4, X2
	AESENCLAST	X4, X3
	DECQ	SI
	JNZ	block
	MOVQ	0(DX), R8
	MOVQ	8(DX), R9
	MOVQ	16(DX), R10
	MOVQ	24(DX), R11
	MOVOU	X0, (R8)
	MOVOU	X1, (R9)
	MOVOU	X2, (R10)
	MOVOU	X3, (R11)
	RET
