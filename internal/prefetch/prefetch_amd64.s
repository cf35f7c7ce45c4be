#include "textflag.h"

// func Read(p unsafe.Pointer)
TEXT ·Read(SB), NOSPLIT, $0-8
	MOVQ	p+0(FP), AX
	PREFETCHT0	(AX)
	RET

// func Write(p unsafe.Pointer)
//
// PREFETCHW (0F 0D /1) has no mnemonic in the Go assembler: it is spelled
// in bytes, with the pointer in AX (ModRM 0x08: mod 00, reg 001, rm 000).
TEXT ·Write(SB), NOSPLIT, $0-8
	MOVQ	p+0(FP), AX
	BYTE	$0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	RET

// func WriteEach(ps []unsafe.Pointer)
TEXT ·WriteEach(SB), NOSPLIT, $0-24
	MOVQ	ps_base+0(FP), BX
	MOVQ	ps_len+8(FP), CX
	TESTQ	CX, CX
	JLE	done
loop:
	MOVQ	(BX), AX
	BYTE	$0x0F; BYTE $0x0D; BYTE $0x08 // PREFETCHW (AX)
	ADDQ	$8, BX
	DECQ	CX
	JNZ	loop
done:
	RET
