//go:build amd64 && !purego

#include "textflag.h"

// The byte-layout kernel (see fast.go): AX = tree, BX = a group of eight rows (brow, 2112 bytes
// apart), CX = their eight sums, DX = trees left, end-8(SP) = the rows' end; DI, R8..R14 = the
// eight walks' heap indices, SI = a feature. A step of walk I over row K:
//	feature := feat[I]                  MOVBLZX (AX)(I*1), SI
//	x := row K value of feature         MOVSD   K*2112(BX)(SI*8), X0
//	carry := x < up[I] or x is NaN      UCOMISD 256(AX)(I*8), X0
//	I = 2I + 2 - carry                  LEAQ 2(I)(I*1), I; SBBQ $0, I
// After eight steps I is 255..510 and the leaf is at 2304 + 8(I-255) = 264 + 8I.

#define STEP(I, K) \
	MOVBLZX (AX)(I*1), SI; \
	MOVSD   K(BX)(SI*8), X0; \
	UCOMISD 256(AX)(I*8), X0; \
	LEAQ    2(I)(I*1), I; \
	SBBQ    $0, I

#define LEAF(I, S) \
	MOVSD   S(CX), X1; \
	ADDSD   264(AX)(I*8), X1; \
	MOVSD   X1, S(CX)

// func bytesGroupsAsm(ts *btree, ntrees int, rows *brow, groups int, sums *float64)
TEXT ·bytesGroupsAsm(SB), NOSPLIT, $8-40
	MOVQ ts+0(FP), AX
	MOVQ ntrees+8(FP), DX
	MOVQ groups+24(FP), SI
	IMULQ $(8*2112), SI
	ADDQ rows+16(FP), SI
	MOVQ SI, end-8(SP)

tree:
	MOVQ rows+16(FP), BX
	MOVQ sums+32(FP), CX

group:
	XORL DI, DI
	XORL R8, R8
	XORL R9, R9
	XORL R10, R10
	XORL R11, R11
	XORL R12, R12
	XORL R13, R13
	XORL R14, R14
	// level 0
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 1
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 2
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 3
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 4
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 5
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 6
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	// level 7
	STEP(DI, 0)
	STEP(R8, 2112)
	STEP(R9, 4224)
	STEP(R10, 6336)
	STEP(R11, 8448)
	STEP(R12, 10560)
	STEP(R13, 12672)
	STEP(R14, 14784)
	LEAF(DI, 0)
	LEAF(R8, 8)
	LEAF(R9, 16)
	LEAF(R10, 24)
	LEAF(R11, 32)
	LEAF(R12, 40)
	LEAF(R13, 48)
	LEAF(R14, 56)
	ADDQ $(8*2112), BX
	ADDQ $64, CX
	CMPQ BX, end-8(SP)
	JB   group
	ADDQ $4352, AX
	DECQ DX
	JNZ  tree
	RET
