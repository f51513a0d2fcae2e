//go:build amd64 && !purego

#include "textflag.h"

// The byte-layout kernel (see fast.go): AX = tree, BX = a group of eight rows (brow, 2112 bytes
// apart), CX = their eight sums, DX = trees left, end-8(SP) = the rows' end; DI, R8..R14 = the
// eight walks' heap nodes m, SI = a feature. A step of walk M over row K:
//	feature := feat[M]                      MOVBLZX (AX)(M*1), SI
//	x := row K's value of the feature       MOVSD   K*2112(BX)(SI*8), X0
//	carry := x < up[M] or x is NaN (left)   UCOMISD 256(AX)(M*8), X0
//	M = 2M + carry                          ADCQ    M, M
// The root's feature and threshold are loaded once per tree (SI, X8). After eight steps M is
// 256..511 and its leaf is at 2304 + 8(M-256) = 256 + 8M.

#define ROOT(M, K) \
	MOVL    $1, M; \
	MOVSD   K(BX)(SI*8), X0; \
	UCOMISD X8, X0; \
	ADCQ    M, M

#define STEP(M, K) \
	MOVBLZX (AX)(M*1), SI; \
	MOVSD   K(BX)(SI*8), X0; \
	UCOMISD 256(AX)(M*8), X0; \
	ADCQ    M, M

#define LEAF(M, S) \
	MOVSD   S(CX), X1; \
	ADDSD   256(AX)(M*8), X1; \
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
	MOVSD 264(AX), X8

group:
	MOVBLZX 1(AX), SI
	ROOT(DI, 0)
	ROOT(R8, 2112)
	ROOT(R9, 4224)
	ROOT(R10, 6336)
	ROOT(R11, 8448)
	ROOT(R12, 10560)
	ROOT(R13, 12672)
	ROOT(R14, 14784)
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
