#include "textflag.h"

// func prefetchWords(words *[pushGroup]*atomic.Uint64, n int)
//
// PREFETCHW (0F 0D /1) on each of the first n pointers: the Go assembler
// has no mnemonic for it, so it is spelled in bytes, with the pointer in DX
// (ModRM 0x0A: mod 00, reg 001, rm 010). A prefetch never faults, so a nil
// pointer is harmless.
TEXT ·prefetchWords(SB), NOSPLIT, $0-16
	MOVQ	words+0(FP), AX
	MOVQ	n+8(FP), CX
	TESTQ	CX, CX
	JLE	done
loop:
	MOVQ	(AX), DX
	BYTE	$0x0F; BYTE $0x0D; BYTE $0x0A // PREFETCHW (DX)
	ADDQ	$8, AX
	DECQ	CX
	JNZ	loop
done:
	RET
