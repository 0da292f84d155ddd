// gemm.cpp — the fast CPU GEMM: C = alpha op(A) op(B) + beta C for f32 A, and B in f32 or bf16.
// Large products follow Goto / BLIS: cut op(B) into KC x NC blocks and op(A) into MC x KC blocks that fit
// the caches, pack them into micro-panels, and run a register-tile micro-kernel (gemm_microkernel.cpp).
// Threads take disjoint slices of C. Tiny products (a side <= 4, or few flops) skip packing entirely.
// Nothing here checks arguments: the engine validated shapes before calling a kernel.
#include "kernels/cpu/gemm.h"

#include "kernels/cpu/gemm_microkernel.h"

#include <cstdlib>
#include <cstring>
#include <omp.h>

namespace {

// One product, with B either f32 or bf16 (exactly one of B / B_bf16 is non-null).
struct GemmProblem {
    bool trans_a, trans_b;
    int M, N, K;
    float alpha;
    const float* A;
    int lda;
    const float* B;
    const bf16* B_bf16;
    int ldb;
    float beta;
    float* C;
    int ldc;
};

// Cache blocks (Zen 4 / Skylake-class sizes; correctness never depends on them):
//   KC: depth of one block; a B micro-panel KC x NR (32 KB with AVX-512) is re-read from L1/L2 by every
//       micro-kernel call of one block row, and C is loaded and stored once per KC steps.
//   MC: rows of the packed A block, MC x KC floats (~330 KB), which stays in the core's L2.
//   NC: columns of the packed B block, KC x NC floats (2 MB), which stays in L3.
constexpr int kBlockK = 384;
constexpr int kBlockM = 24 * kGemmMR;
constexpr int kBlockN = 2048;

// Below this many multiply-adds a thread team costs more than it saves.
constexpr double kParallelMinFlops = 1 << 20;

// Packing space, grown on demand and kept per thread: allocating (and page-faulting) megabytes on every
// call would cost as much as packing them.
struct PackBuffer {
    float* data = nullptr;
    size_t capacity = 0;
    ~PackBuffer() { std::free(data); }
    float* reserve(size_t n_floats) {
        if (n_floats > capacity) {
            std::free(data);
            size_t bytes = (n_floats * sizeof(float) + 63) / 64 * 64;  // aligned_alloc wants a multiple
            data = static_cast<float*>(std::aligned_alloc(64, bytes));
            capacity = n_floats;
        }
        return data;
    }
};
thread_local PackBuffer packed_a_buffer;
thread_local PackBuffer packed_b_buffer;

int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }
int min_int(int a, int b) { return a < b ? a : b; }

float bf16_bits_to_f32(bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// C = beta C over (M, N), with beta == 0 writing zeros (old NaNs must not survive).
void scale_c(const GemmProblem& p) {
    for (int i = 0; i < p.M; ++i) {
        float* c_row = p.C + (size_t)i * p.ldc;
        if (p.beta == 0.0f) {
            for (int j = 0; j < p.N; ++j) c_row[j] = 0.0f;
        } else if (p.beta != 1.0f) {
            for (int j = 0; j < p.N; ++j) c_row[j] *= p.beta;
        }
    }
}

// ---- tiny products: direct loops, no packing ------------------------------------------------------

// sum_k x[k * x_step] * y[k * y_step], y in f32 or bf16. Sixteen partial sums let the compiler vectorize
// the contiguous case (float addition is not associative, so it will not reorder a single sum itself).
float strided_dot(const float* x, long x_step, const float* y, const bf16* y_bf16, long y_step, int n) {
    float partial[16] = {};
    int k = 0;
    if (x_step == 1 && y_step == 1) {
        for (; k + 16 <= n; k += 16) {
            for (int l = 0; l < 16; ++l) {
                float y_value = y ? y[k + l] : bf16_bits_to_f32(y_bf16[k + l]);
                partial[l] += x[k + l] * y_value;
            }
        }
    }
    for (; k < n; ++k) {
        float y_value = y ? y[k * y_step] : bf16_bits_to_f32(y_bf16[k * y_step]);
        partial[k % 16] += x[k * x_step] * y_value;
    }
    float total = 0.0f;
    for (int l = 0; l < 16; ++l) total += partial[l];
    return total;
}

// Row form, when B's rows are contiguous: C[i, :] += (alpha op(A)[i, k]) B[k, :] for each k.
// Columns are cut into chunks so that one chunk of a C row stays in L1 across the k loop.
void gemm_direct_rows(const GemmProblem& p, bool parallel) {
    constexpr int kChunk = 512;
    int n_chunks = (p.N + kChunk - 1) / kChunk;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int i = 0; i < p.M; ++i) {
        for (int chunk = 0; chunk < n_chunks; ++chunk) {
            int j0 = chunk * kChunk, j1 = min_int(p.N, j0 + kChunk);
            float* c_row = p.C + (size_t)i * p.ldc;
            for (int j = j0; j < j1; ++j) c_row[j] = p.beta == 0.0f ? 0.0f : p.beta * c_row[j];
            for (int k = 0; k < p.K; ++k) {
                float a = p.alpha * (p.trans_a ? p.A[(size_t)k * p.lda + i] : p.A[(size_t)i * p.lda + k]);
                size_t b_row = (size_t)k * p.ldb;
                if (p.B) {
                    for (int j = j0; j < j1; ++j) c_row[j] += a * p.B[b_row + j];
                } else {
                    for (int j = j0; j < j1; ++j) c_row[j] += a * bf16_bits_to_f32(p.B_bf16[b_row + j]);
                }
            }
        }
    }
}

// Dot form, every other case: C[i, j] = alpha (op(A)[i, :] . op(B)[:, j]) + beta C[i, j]. Contiguous
// when A is not transposed and B is (x W^T with W (N, K), the shape of a Linear layer).
void gemm_direct_dots(const GemmProblem& p, bool parallel) {
    long a_step = p.trans_a ? p.lda : 1;
    long b_step = p.trans_b ? 1 : p.ldb;
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int i = 0; i < p.M; ++i) {
        for (int j = 0; j < p.N; ++j) {
            const float* a_row = p.trans_a ? p.A + i : p.A + (size_t)i * p.lda;
            size_t b_col = p.trans_b ? (size_t)j * p.ldb : (size_t)j;
            float dot = strided_dot(a_row, a_step, p.B ? p.B + b_col : nullptr,
                                    p.B ? nullptr : p.B_bf16 + b_col, b_step, p.K);
            float* c = p.C + (size_t)i * p.ldc + j;
            *c = p.beta == 0.0f ? p.alpha * dot : p.alpha * dot + p.beta * *c;
        }
    }
}

bool is_tiny(const GemmProblem& p) {
    return p.M <= 4 || p.N <= 4 || p.K <= 4 || (double)p.M * p.N * p.K <= 32.0 * 32 * 32;
}

// ---- large products: packed blocks and the micro-kernel ---------------------------------------------

// The whole blocked algorithm on one thread. Loop order (outer to inner): NC columns of C, KC depth
// (pack B block), MC rows (pack A block), NR micro-panels of B, MR micro-panels of A.
void gemm_blocked_serial(const GemmProblem& p) {
    float* packed_b = packed_b_buffer.reserve((size_t)kBlockK * round_up(min_int(p.N, kBlockN), kGemmNR));
    float* packed_a = packed_a_buffer.reserve((size_t)round_up(min_int(p.M, kBlockM), kGemmMR) * kBlockK);
    for (int jc = 0; jc < p.N; jc += kBlockN) {
        int nc = min_int(kBlockN, p.N - jc);
        for (int pc = 0; pc < p.K; pc += kBlockK) {
            int kc = min_int(kBlockK, p.K - pc);
            // The first depth block applies the caller's beta; later ones add onto what it wrote.
            float beta = pc == 0 ? p.beta : 1.0f;
            gemm_pack_b(packed_b, p.B, p.B_bf16, p.ldb, p.trans_b, pc, kc, jc, nc);
            for (int ic = 0; ic < p.M; ic += kBlockM) {
                int mc = min_int(kBlockM, p.M - ic);
                gemm_pack_a(packed_a, p.A, p.lda, p.trans_a, ic, mc, pc, kc);
                for (int jr = 0; jr < nc; jr += kGemmNR) {
                    const float* b_panel = packed_b + (size_t)(jr / kGemmNR) * kc * kGemmNR;
                    for (int ir = 0; ir < mc; ir += kGemmMR) {
                        const float* a_panel = packed_a + (size_t)(ir / kGemmMR) * kc * kGemmMR;
                        float* c_tile = p.C + (size_t)(ic + ir) * p.ldc + jc + jr;
                        gemm_microkernel(kc, a_panel, b_panel, c_tile, p.ldc, p.alpha, beta,
                                         min_int(kGemmMR, mc - ir), min_int(kGemmNR, nc - jr));
                    }
                }
            }
        }
    }
}

// Rows [i0, i1) of the product: the same problem with A and C moved down.
GemmProblem row_slice(GemmProblem p, int i0, int i1) {
    p.A += p.trans_a ? (size_t)i0 : (size_t)i0 * p.lda;
    p.C += (size_t)i0 * p.ldc;
    p.M = i1 - i0;
    return p;
}

// Columns [j0, j1) of the product: the same problem with B and C moved right.
GemmProblem column_slice(GemmProblem p, int j0, int j1) {
    size_t offset = p.trans_b ? (size_t)j0 * p.ldb : (size_t)j0;
    if (p.B) p.B += offset;
    if (p.B_bf16) p.B_bf16 += offset;
    p.C += j0;
    p.N = j1 - j0;
    return p;
}

// Each thread computes its own slice of C, cut along the side with more register tiles, in whole tiles.
// Slices share nothing, so there are no barriers; the price is that every thread packs the other operand
// in full, which is small next to its share of the multiply-adds once M or N reaches a few hundred.
void gemm_blocked(const GemmProblem& p, bool parallel) {
    int row_tiles = (p.M + kGemmMR - 1) / kGemmMR;
    int col_tiles = (p.N + kGemmNR - 1) / kGemmNR;
    bool split_rows = row_tiles >= col_tiles;
#pragma omp parallel if (parallel)
    {
        int n_threads = omp_get_num_threads(), thread = omp_get_thread_num();
        int tiles = split_rows ? row_tiles : col_tiles;
        int first = (int)((long)tiles * thread / n_threads);
        int last = (int)((long)tiles * (thread + 1) / n_threads);
        if (first < last) {
            if (split_rows) {
                gemm_blocked_serial(row_slice(p, first * kGemmMR, min_int(p.M, last * kGemmMR)));
            } else {
                gemm_blocked_serial(column_slice(p, first * kGemmNR, min_int(p.N, last * kGemmNR)));
            }
        }
    }
}

void run_gemm(const GemmProblem& p, bool allow_threads) {
    if (p.M <= 0 || p.N <= 0) return;
    if (p.K <= 0 || p.alpha == 0.0f) {
        scale_c(p);
        return;
    }
    bool parallel = allow_threads && 2.0 * p.M * p.N * p.K >= kParallelMinFlops;
    if (!is_tiny(p)) {
        gemm_blocked(p, parallel);
    } else if (!p.trans_b && p.N >= 16) {
        gemm_direct_rows(p, parallel);
    } else {
        gemm_direct_dots(p, parallel);
    }
}

}  // namespace

void cpu_gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc) {
    run_gemm({trans_a, trans_b, M, N, K, alpha, A, lda, B, nullptr, ldb, beta, C, ldc}, true);
}

void cpu_gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                    const bf16* B, int ldb, float beta, float* C, int ldc) {
    run_gemm({trans_a, trans_b, M, N, K, alpha, A, lda, nullptr, B, ldb, beta, C, ldc}, true);
}

// Many products (attention heads, batches): when there are enough of them, give whole products to
// threads, each run single-threaded; a few large ones instead use all threads one after another.
void cpu_gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                      long stride_a, const float* B, int ldb, long stride_b, float beta, float* C, int ldc,
                      long stride_c, int batch) {
    double flops_per_product = 2.0 * M * N * K;
    bool across_products = batch >= 4 * omp_get_max_threads() || flops_per_product < 4 * kParallelMinFlops;
#pragma omp parallel for schedule(dynamic) if (across_products && batch > 1)
    for (int b = 0; b < batch; ++b) {
        GemmProblem p{trans_a, trans_b, M, N, K, alpha, A + b * stride_a, lda, B + b * stride_b, nullptr,
                      ldb, beta, C + b * stride_c, ldc};
        run_gemm(p, !across_products);
    }
}
