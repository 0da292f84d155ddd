// gemm_bf16_pairs.h — the blocked GEMM's pieces for bf16 products (cpu_gemm_bf16b at GemmPrecision::BF16,
// see gemm.h): packers that round op(A) to bf16 and lay out both operands as pairs of consecutive steps k,
// and the micro-kernel that multiplies such panels. Same register tile (MR x NR) and cache blocks as the f32
// kernel (gemm_microkernel.h), so gemm.cpp drives both; nothing here splits work or picks blocks.
#pragma once
#include "kernels/kernels.h"

// Packed layouts. The depth of a block is padded to an even count, depth2, and each pair of steps
// (2k', 2k'+1) is stored side by side: one 32-bit word per row of A (or column of B) per pair.
//   A block (rows, depth) -> ceil(rows / MR) panels; panel p element (k, r) at
//                            p*depth2*MR + (k/2)*2*MR + 2r + k%2
//   B block (depth, cols) -> ceil(cols / NR) panels; panel p element (k, c) at
//                            p*depth2*NR + (k/2)*2*NR + 2c + k%2
// Padding (rows, columns, the odd last step) is zero. This is the operand order of AVX512-BF16's vdpbf16ps,
// which multiplies a broadcast word of A by 16 words of B and adds both products into each f32 lane.
inline int gemm_bf16_depth(int depth) { return (depth + 1) / 2 * 2; }

// f32 -> bf16, nearest with ties to even, NaN -> quiet NaN: the same bits as the f32_to_bf16 kernels.
bf16 gemm_round_to_bf16(float x);

// Packs op(A)[i0 : i0+rows, k0 : k0+depth] rounded to bf16; op(A) = A (M, K) with row stride lda, or A^T.
void gemm_pack_a_bf16(bf16* packed, const float* A, int lda, bool trans_a, int i0, int rows, int k0, int depth);

// Packs op(B)[k0 : k0+depth, j0 : j0+cols]; op(B) = B (K, N) with row stride ldb, or B^T when trans_b.
void gemm_pack_b_bf16(bf16* packed, const bf16* B, int ldb, bool trans_b, int k0, int depth, int j0, int cols);

// C[0:rows, 0:cols] = alpha * (a_panel * b_panel) + beta * C over `depth` steps (panels as above), every
// product of two bf16 exact in f32 and summed in f32. rows <= MR, cols <= NR; beta == 0 does not read C.
// With AVX512-BF16 the products run on vdpbf16ps (which, unlike the rest of the engine, reads bf16
// subnormals as zero); without it, as plain f32 arithmetic on the widened values.
void gemm_microkernel_bf16(int depth, const bf16* a_panel, const bf16* b_panel, float* C, int ldc, float alpha,
                           float beta, int rows, int cols);
