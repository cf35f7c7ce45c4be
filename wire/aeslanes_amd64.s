#include "textflag.h"

// func cmacLanes(k *roundKeys, bufs *[8][laneWords]uint64, nblocks int, sub *[16]byte, out *[8]*[16]byte)
//
// Eight CBC-MAC chains at once, every lane's state in a register from the
// first block to the tag (X0-X7), the rounds of the eight interleaved so
// that their AESENCs overlap: an AESENC takes about four cycles and a core
// issues one or two a cycle, so eight independent chains keep it busy
// where one would leave it idle three cycles in four. Lane l's block
// j < nblocks is the words bufs[l][2j] (low) and bufs[l][2j+1], the last
// one already padded by the caller. Each block is loaded as its two words
// (MOVQ, PINSRQ), each from the 8-byte store that wrote it, so that the
// loads take the stores' data directly instead of waiting for them to
// reach the cache. sub, the subkey, is xored into every lane before the
// last block's encryption. roundKeys is rk [240]byte then rounds int
// (offset 240); a lane is 128 bytes. X8 holds the round key, X9 a block.
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
	PXOR	X4, X4
	PXOR	X5, X5
	PXOR	X6, X6
	PXOR	X7, X7
block:
	MOVQ	0(BX), X9
	PINSRQ	$1, 8(BX), X9
	PXOR	X9, X0
	MOVQ	128(BX), X9
	PINSRQ	$1, 136(BX), X9
	PXOR	X9, X1
	MOVQ	256(BX), X9
	PINSRQ	$1, 264(BX), X9
	PXOR	X9, X2
	MOVQ	384(BX), X9
	PINSRQ	$1, 392(BX), X9
	PXOR	X9, X3
	MOVQ	512(BX), X9
	PINSRQ	$1, 520(BX), X9
	PXOR	X9, X4
	MOVQ	640(BX), X9
	PINSRQ	$1, 648(BX), X9
	PXOR	X9, X5
	MOVQ	768(BX), X9
	PINSRQ	$1, 776(BX), X9
	PXOR	X9, X6
	MOVQ	896(BX), X9
	PINSRQ	$1, 904(BX), X9
	PXOR	X9, X7
	ADDQ	$16, BX
	CMPQ	SI, $1
	JNE	keyed
	MOVOU	(DI), X9
	PXOR	X9, X0
	PXOR	X9, X1
	PXOR	X9, X2
	PXOR	X9, X3
	PXOR	X9, X4
	PXOR	X9, X5
	PXOR	X9, X6
	PXOR	X9, X7
keyed:
	MOVQ	AX, R12
	MOVQ	240(AX), CX
	MOVOU	(R12), X8
	PXOR	X8, X0
	PXOR	X8, X1
	PXOR	X8, X2
	PXOR	X8, X3
	PXOR	X8, X4
	PXOR	X8, X5
	PXOR	X8, X6
	PXOR	X8, X7
	ADDQ	$16, R12
	DECQ	CX
round:
	MOVOU	(R12), X8
	AESENC	X8, X0
	AESENC	X8, X1
	AESENC	X8, X2
	AESENC	X8, X3
	AESENC	X8, X4
	AESENC	X8, X5
	AESENC	X8, X6
	AESENC	X8, X7
	ADDQ	$16, R12
	DECQ	CX
	JNZ	round
	MOVOU	(R12), X8
	AESENCLAST	X8, X0
	AESENCLAST	X8, X1
	AESENCLAST	X8, X2
	AESENCLAST	X8, X3
	AESENCLAST	X8, X4
	AESENCLAST	X8, X5
	AESENCLAST	X8, X6
	AESENCLAST	X8, X7
	DECQ	SI
	JNZ	block
	MOVQ	0(DX), R8
	MOVOU	X0, (R8)
	MOVQ	8(DX), R8
	MOVOU	X1, (R8)
	MOVQ	16(DX), R8
	MOVOU	X2, (R8)
	MOVQ	24(DX), R8
	MOVOU	X3, (R8)
	MOVQ	32(DX), R8
	MOVOU	X4, (R8)
	MOVQ	40(DX), R8
	MOVOU	X5, (R8)
	MOVQ	48(DX), R8
	MOVOU	X6, (R8)
	MOVQ	56(DX), R8
	MOVOU	X7, (R8)
	RET
