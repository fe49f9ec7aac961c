//go:build amd64 && !purego

#include "textflag.h"

// Popcount of each nibble value 0..15, as the VPSHUFB lookup table.
DATA nibbleLUT<>+0x00(SB)/8, $0x0302020102010100
DATA nibbleLUT<>+0x08(SB)/8, $0x0403030203020201
GLOBL nibbleLUT<>(SB), RODATA|NOPTR, $16

DATA lowNibbles<>+0x00(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA lowNibbles<>+0x08(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL lowNibbles<>(SB), RODATA|NOPTR, $16

// Register use in all three kernels:
//   SI = next byte, CX = bytes left, AX = count so far, DX (+R8..R13) scratch.
//
// Every kernel ends with the same scalar tail, which counts the last CX bytes
// with 8-, 4-, 2- and 1-byte loads so that no byte outside p is read. Each
// POPCNT writes a register that was zeroed just before: on Intel Sandy Bridge
// to Skylake POPCNT has a false dependency on its destination, and the XOR
// breaks it (as compilers do).

// func onesPOPCNT(p []byte) uint64
TEXT ·onesPOPCNT(SB), NOSPLIT, $0-32
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), CX
	XORQ AX, AX
	CMPQ CX, $32
	JB   tail8

	// 32 bytes per iteration into four independent accumulators.
	XORQ R8, R8
	XORQ R9, R9
	XORQ R10, R10

loop32:
	XORQ    DX, DX
	XORQ    R11, R11
	XORQ    R12, R12
	XORQ    R13, R13
	POPCNTQ 0(SI), DX
	POPCNTQ 8(SI), R11
	POPCNTQ 16(SI), R12
	POPCNTQ 24(SI), R13
	ADDQ    DX, AX
	ADDQ    R11, R8
	ADDQ    R12, R9
	ADDQ    R13, R10
	ADDQ    $32, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     loop32

	ADDQ R8, AX
	ADDQ R10, R9
	ADDQ R9, AX

tail8:
	CMPQ    CX, $8
	JB      tail4
	XORQ    DX, DX
	POPCNTQ (SI), DX
	ADDQ    DX, AX
	ADDQ    $8, SI
	SUBQ    $8, CX
	JMP     tail8

tail4:
	CMPQ    CX, $4
	JB      tail2
	MOVL    (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $4, SI
	SUBQ    $4, CX

tail2:
	CMPQ    CX, $2
	JB      tail1
	MOVWLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $2, SI
	SUBQ    $2, CX

tail1:
	TESTQ   CX, CX
	JZ      done
	MOVBLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX

done:
	MOVQ AX, ret+24(FP)
	RET

// func onesAVX2(p []byte) uint64
//
// Muła/Kurz/Lemire: split every byte into its two nibbles, look both up in a
// 16-entry popcount table with VPSHUFB and add them (<= 8 per byte). Four
// vectors are summed per iteration (<= 32 per byte, no overflow), then
// VPSADBW against zero folds each 8-byte group into a 64-bit lane, which is
// added to a 4x64-bit accumulator.
TEXT ·onesAVX2(SB), NOSPLIT, $0-32
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), CX
	XORQ AX, AX
	CMPQ CX, $32
	JB   tail8

	VBROADCASTI128 nibbleLUT<>(SB), Y15
	VBROADCASTI128 lowNibbles<>(SB), Y14
	VPXOR          Y13, Y13, Y13        // zero, for VPSADBW
	VPXOR          Y12, Y12, Y12        // 4 x uint64 accumulator
	CMPQ           CX, $128
	JB             loop32

loop128:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VPSRLW  $4, Y0, Y4
	VPSRLW  $4, Y1, Y5
	VPSRLW  $4, Y2, Y6
	VPSRLW  $4, Y3, Y7
	VPAND   Y14, Y0, Y0
	VPAND   Y14, Y1, Y1
	VPAND   Y14, Y2, Y2
	VPAND   Y14, Y3, Y3
	VPAND   Y14, Y4, Y4
	VPAND   Y14, Y5, Y5
	VPAND   Y14, Y6, Y6
	VPAND   Y14, Y7, Y7
	VPSHUFB Y0, Y15, Y0
	VPSHUFB Y1, Y15, Y1
	VPSHUFB Y2, Y15, Y2
	VPSHUFB Y3, Y15, Y3
	VPSHUFB Y4, Y15, Y4
	VPSHUFB Y5, Y15, Y5
	VPSHUFB Y6, Y15, Y6
	VPSHUFB Y7, Y15, Y7
	VPADDB  Y4, Y0, Y0
	VPADDB  Y5, Y1, Y1
	VPADDB  Y6, Y2, Y2
	VPADDB  Y7, Y3, Y3
	VPADDB  Y1, Y0, Y0
	VPADDB  Y3, Y2, Y2
	VPADDB  Y2, Y0, Y0
	VPSADBW Y13, Y0, Y0
	VPADDQ  Y0, Y12, Y12
	ADDQ    $128, SI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     loop128

	CMPQ CX, $32
	JB   reduce

loop32:
	VMOVDQU (SI), Y0
	VPSRLW  $4, Y0, Y1
	VPAND   Y14, Y0, Y0
	VPAND   Y14, Y1, Y1
	VPSHUFB Y0, Y15, Y0
	VPSHUFB Y1, Y15, Y1
	VPADDB  Y1, Y0, Y0
	VPSADBW Y13, Y0, Y0
	VPADDQ  Y0, Y12, Y12
	ADDQ    $32, SI
	SUBQ    $32, CX
	CMPQ    CX, $32
	JAE     loop32

reduce:
	VEXTRACTI128 $1, Y12, X0
	VPADDQ       X0, X12, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDQ       X1, X0, X0
	VMOVQ        X0, AX
	VZEROUPPER

tail8:
	CMPQ    CX, $8
	JB      tail4
	XORQ    DX, DX
	POPCNTQ (SI), DX
	ADDQ    DX, AX
	ADDQ    $8, SI
	SUBQ    $8, CX
	JMP     tail8

tail4:
	CMPQ    CX, $4
	JB      tail2
	MOVL    (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $4, SI
	SUBQ    $4, CX

tail2:
	CMPQ    CX, $2
	JB      tail1
	MOVWLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $2, SI
	SUBQ    $2, CX

tail1:
	TESTQ   CX, CX
	JZ      done
	MOVBLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX

done:
	MOVQ AX, ret+24(FP)
	RET

// func onesAVX512(p []byte) uint64
//
// VPOPCNTQ counts each 64-bit lane of a 512-bit vector directly; four
// vectors (256 bytes) per iteration go into four accumulators so the loop is
// limited by loads, not by the add latency.
TEXT ·onesAVX512(SB), NOSPLIT, $0-32
	MOVQ p_base+0(FP), SI
	MOVQ p_len+8(FP), CX
	XORQ AX, AX
	CMPQ CX, $64
	JB   tail8

	VPXORQ Z0, Z0, Z0
	VPXORQ Z1, Z1, Z1
	VPXORQ Z2, Z2, Z2
	VPXORQ Z3, Z3, Z3
	CMPQ   CX, $256
	JB     loop64

loop256:
	VPOPCNTQ 0(SI), Z4
	VPOPCNTQ 64(SI), Z5
	VPOPCNTQ 128(SI), Z6
	VPOPCNTQ 192(SI), Z7
	VPADDQ   Z4, Z0, Z0
	VPADDQ   Z5, Z1, Z1
	VPADDQ   Z6, Z2, Z2
	VPADDQ   Z7, Z3, Z3
	ADDQ     $256, SI
	SUBQ     $256, CX
	CMPQ     CX, $256
	JAE      loop256

	VPADDQ Z1, Z0, Z0
	VPADDQ Z3, Z2, Z2
	VPADDQ Z2, Z0, Z0
	CMPQ   CX, $64
	JB     reduce

loop64:
	VPOPCNTQ (SI), Z4
	VPADDQ   Z4, Z0, Z0
	ADDQ     $64, SI
	SUBQ     $64, CX
	CMPQ     CX, $64
	JAE      loop64

reduce:
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDQ        Y1, Y0, Y0
	VEXTRACTI128  $1, Y0, X1
	VPADDQ        X1, X0, X0
	VPSHUFD       $0x4e, X0, X1
	VPADDQ        X1, X0, X0
	VMOVQ         X0, AX
	VZEROUPPER

tail8:
	CMPQ    CX, $8
	JB      tail4
	XORQ    DX, DX
	POPCNTQ (SI), DX
	ADDQ    DX, AX
	ADDQ    $8, SI
	SUBQ    $8, CX
	JMP     tail8

tail4:
	CMPQ    CX, $4
	JB      tail2
	MOVL    (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $4, SI
	SUBQ    $4, CX

tail2:
	CMPQ    CX, $2
	JB      tail1
	MOVWLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX
	ADDQ    $2, SI
	SUBQ    $2, CX

tail1:
	TESTQ   CX, CX
	JZ      done
	MOVBLZX (SI), DX
	POPCNTL DX, DX
	ADDQ    DX, AX

done:
	MOVQ AX, ret+24(FP)
	RET
