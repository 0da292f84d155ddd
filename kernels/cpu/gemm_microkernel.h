// gemm_microkernel.h — the innermost pieces of the blocked CPU GEMM (kernels/cpu/gemm.cpp): the register
// tile size MR x NR, the packers that copy a block of op(A) or op(B) into tile-shaped micro-panels, and the
// micro-kernel that multiplies one A micro-panel by one B micro-panel into an MR x NR tile of C; and the
// vector dot product that products too thin for tiles (a side of at most 4) are made of.
// The tile size and kernel are picked at compile time (AVX-512, AVX2+FMA, or portable C++); nothing here
// splits work across threads or chooses cache blocks — gemm.cpp does.
#pragma once
#include "kernels/kernels.h"

// Register tile: MR rows of C by NR columns, held in vector registers for the whole depth loop.
// AVX-512: 14 x 32 = 28 zmm accumulators + 2 for a row of B + 1 broadcast of A = 31 of the 32 registers.
// AVX2:     6 x 16 = 12 ymm accumulators + 2 + 1 = 15 of the 16 registers.
#if defined(__AVX512F__)
constexpr int kGemmMR = 14;
constexpr int kGemmNR = 32;
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kGemmMR = 6;
constexpr int kGemmNR = 16;
#else
constexpr int kGemmMR = 4;
constexpr int kGemmNR = 8;
#endif

// Packed layouts (both zero-padded to whole micro-panels, so the micro-kernel never checks bounds):
//   A block (rows, depth) -> ceil(rows / MR) panels, panel p element (k, r) at p*depth*MR + k*MR + r
//   B block (depth, cols) -> ceil(cols / NR) panels, panel p element (k, c) at p*depth*NR + k*NR + c
// so that one step k of the micro-kernel reads MR consecutive floats of A and NR consecutive floats of B.

// Packs op(A)[i0 : i0+rows, k0 : k0+depth]; op(A) = A (M, K) with row stride lda, or A^T when trans_a.
void gemm_pack_a(float* packed, const float* A, int lda, bool trans_a, int i0, int rows, int k0, int depth);

// Packs op(B)[k0 : k0+depth, j0 : j0+cols]; op(B) = B (K, N) with row stride ldb, or B^T when trans_b.
// Exactly one of B_f32 / B_bf16 is non-null; bf16 values are widened to f32 here, once per block.
void gemm_pack_b(float* packed, const float* B_f32, const bf16* B_bf16, int ldb, bool trans_b, int k0,
                 int depth, int j0, int cols);

// C[0:rows, 0:cols] = alpha * (a_panel * b_panel) + beta * C, the product summed over `depth` steps.
// rows <= MR, cols <= NR; beta == 0 writes C without reading it (so old NaNs vanish).
void gemm_microkernel(int depth, const float* a_panel, const float* b_panel, float* C, int ldc, float alpha,
                      float beta, int rows, int cols);

// sum_k x[k] * y[k] over n contiguous values, y in f32 or bf16 (exactly one of y_f32 / y_bf16 non-null).
float gemm_dot(const float* x, const float* y_f32, const bf16* y_bf16, int n);

// A 4 x 4 block of those dot products: dots[r * 4 + c] = x_r . y_c for the n_x <= 4 rows of x (row stride
// x_stride) and n_y <= 4 rows of y (f32 or bf16, row stride y_stride), n contiguous values each. Every
// chunk of a row is loaded once for the four rows on the other side, so 8 loads feed 16 FMAs. Entries
// r >= n_x or c >= n_y are unspecified.
void gemm_dot_block(const float* x, long x_stride, int n_x, const float* y_f32, const bf16* y_bf16, long y_stride,
                    int n_y, int n, float dots[16]);
