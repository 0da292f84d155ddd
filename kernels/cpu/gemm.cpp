// gemm.cpp — the fast CPU GEMM: C = alpha op(A) op(B) + beta C for f32 A, and B in f32 or bf16.
// Large products follow Goto / BLIS: cut op(B) into KC x NC blocks and op(A) into MC x KC blocks that fit
// the caches, pack them into micro-panels, and run a register-tile micro-kernel (gemm_microkernel.cpp).
// Threads split C by rows and share packed B blocks. Thin products (a side <= 4) skip packing: they
// run as axpys along whichever operand is contiguous, or as vector dot products.
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

// Cache blocks, tuned on Zen 4 (1 MB L2 per core, 32 MB shared L3); correctness never depends on them:
//   KC: depth of one block. C is loaded and stored once per KC steps, and a B micro-panel (KC x NR,
//       64 KB with AVX-512) is re-read from L2 for every A micro-panel of the block.
//   MC: rows of a thread's packed A block, MC x KC floats (344 KB), which stays in its core's L2.
//   NC: columns of the packed B block, KC x NC floats (4 MB, two of them), which stays in L3.
constexpr int kBlockK = 512;
constexpr int kBlockM = 12 * kGemmMR;
constexpr int kBlockN = 2048;

// Below this many flops a thread team costs more than it saves.
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

// ---- thin products: direct loops, no packing ------------------------------------------------------

// op(B)[k, j], whichever way B is stored and whatever its type.
float b_at(const GemmProblem& p, int k, int j) {
    size_t at = p.trans_b ? (size_t)j * p.ldb + k : (size_t)k * p.ldb + j;
    return p.B ? p.B[at] : bf16_bits_to_f32(p.B_bf16[at]);
}

// Row form: C[i, :] += (alpha op(A)[i, k]) op(B)[k, :], an axpy along a row of op(B) for each k. It needs
// op(B) rows contiguous; B stored (N, K) is first copied transposed (K N floats: only used with K <= 4).
// Columns are cut into chunks so that one chunk of a C row stays in L1 across the k loop.
void gemm_direct_rows(const GemmProblem& p, bool parallel) {
    const float* b_rows = p.B;  // op(B) row k at b_rows (or b_rows_bf16) + k * b_ld
    const bf16* b_rows_bf16 = p.B_bf16;
    long b_ld = p.ldb;
    if (p.trans_b) {
        float* copy = packed_b_buffer.reserve((size_t)p.K * p.N);
        for (int k = 0; k < p.K; ++k) {
            for (int j = 0; j < p.N; ++j) copy[(size_t)k * p.N + j] = b_at(p, k, j);
        }
        b_rows = copy;
        b_rows_bf16 = nullptr;
        b_ld = p.N;
    }
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
                size_t b_row = (size_t)k * b_ld;
                if (b_rows) {
                    for (int j = j0; j < j1; ++j) c_row[j] += a * b_rows[b_row + j];
                } else {
                    for (int j = j0; j < j1; ++j) c_row[j] += a * bf16_bits_to_f32(b_rows_bf16[b_row + j]);
                }
            }
        }
    }
}

// Column form, when A is stored transposed (K, M) so that its rows run along i: the row form applied to
// C^T = op(B)^T op(A)^T, accumulated in a transposed scratch copy of C (N, M) and written back at the end.
// Rows i are cut into chunks, one per task, so each task owns a slice of the scratch.
void gemm_direct_columns(const GemmProblem& p, bool parallel) {
    constexpr int kChunk = 512;
    int n_chunks = (p.M + kChunk - 1) / kChunk;
    float* c_transposed = packed_b_buffer.reserve((size_t)p.N * p.M);
#pragma omp parallel for schedule(static) if (parallel)
    for (int chunk = 0; chunk < n_chunks; ++chunk) {
        int i0 = chunk * kChunk, i1 = min_int(p.M, i0 + kChunk);
        for (int j = 0; j < p.N; ++j) {
            for (int i = i0; i < i1; ++i) c_transposed[(size_t)j * p.M + i] = 0.0f;
        }
        for (int k = 0; k < p.K; ++k) {
            const float* a_row = p.A + (size_t)k * p.lda;
            for (int j = 0; j < p.N; ++j) {
                float b = b_at(p, k, j);
                float* d = c_transposed + (size_t)j * p.M;
                for (int i = i0; i < i1; ++i) d[i] += b * a_row[i];
            }
        }
        for (int i = i0; i < i1; ++i) {
            float* c_row = p.C + (size_t)i * p.ldc;
            for (int j = 0; j < p.N; ++j) {
                float value = p.alpha * c_transposed[(size_t)j * p.M + i];
                c_row[j] = p.beta == 0.0f ? value : value + p.beta * c_row[j];
            }
        }
    }
}

// Dot form, the remaining cases (B stored (N, K) or N small; A stored (M, K) or M small):
// C[i, j] = alpha (op(A)[i, :] . op(B)[:, j]) + beta C[i, j]. The dots need op(A) rows and op(B) columns
// contiguous along k; a small operand stored the other way round is first copied transposed.
void gemm_direct_dots(const GemmProblem& p, bool parallel) {
    const float* a_rows = p.A;  // op(A) row i at a_rows + i * a_ld
    long a_ld = p.lda;
    if (p.trans_a) {
        float* copy = packed_a_buffer.reserve((size_t)p.M * p.K);
        for (int i = 0; i < p.M; ++i) {
            for (int k = 0; k < p.K; ++k) copy[(size_t)i * p.K + k] = p.A[(size_t)k * p.lda + i];
        }
        a_rows = copy;
        a_ld = p.K;
    }
    const float* b_cols = p.B;  // op(B) column j at b_cols (or b_cols_bf16) + j * b_ld
    const bf16* b_cols_bf16 = p.B_bf16;
    long b_ld = p.ldb;
    if (!p.trans_b) {
        float* copy = packed_b_buffer.reserve((size_t)p.N * p.K);
        for (int j = 0; j < p.N; ++j) {
            for (int k = 0; k < p.K; ++k) copy[(size_t)j * p.K + k] = b_at(p, k, j);
        }
        b_cols = copy;
        b_cols_bf16 = nullptr;
        b_ld = p.K;
    }
    // j outer: one column of op(B) is read once while every (few, short) row of op(A) passes by.
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
    for (int j = 0; j < p.N; ++j) {
        for (int i = 0; i < p.M; ++i) {
            float dot = gemm_dot(a_rows + (size_t)i * a_ld, b_cols ? b_cols + (size_t)j * b_ld : nullptr,
                                 b_cols ? nullptr : b_cols_bf16 + (size_t)j * b_ld, p.K);
            float* c = p.C + (size_t)i * p.ldc + j;
            *c = p.beta == 0.0f ? p.alpha * dot : p.alpha * dot + p.beta * *c;
        }
    }
}

// Products with a side of at most 4 would fill at most 4 of a register tile's 14 (or 32) rows (columns).
bool is_thin(const GemmProblem& p) { return p.M <= 4 || p.N <= 4 || p.K <= 4; }

// ---- large products: packed blocks and the micro-kernel ---------------------------------------------

// C[ic : ic+mc, jc : jc+nc] = alpha (packed A block x packed B block) + beta C: the register tiles one by
// one, B micro-panel in the outer loop so that it stays in L1 while the A micro-panels stream past it.
void multiply_packed_blocks(const GemmProblem& p, const float* packed_a, const float* packed_b, int ic,
                            int mc, int jc, int nc, int kc, float beta) {
    for (int jr = 0; jr < nc; jr += kGemmNR) {
        const float* b_panel = packed_b + (size_t)(jr / kGemmNR) * kc * kGemmNR;
        for (int ir = 0; ir < mc; ir += kGemmMR) {
            const float* a_panel = packed_a + (size_t)(ir / kGemmMR) * kc * kGemmMR;
            float* c_tile = p.C + (size_t)(ic + ir) * p.ldc + jc + jr;
            gemm_microkernel(kc, a_panel, b_panel, c_tile, p.ldc, p.alpha, beta, min_int(kGemmMR, mc - ir),
                             min_int(kGemmNR, nc - jr));
        }
    }
}

// Room for two packed B blocks: a team alternates between them (see gemm_blocked_part).
size_t packed_b_floats(const GemmProblem& p) {
    return 2 * (size_t)kBlockK * round_up(min_int(p.N, kBlockN), kGemmNR);
}

// One thread's part of the blocked algorithm: rows [row_begin, row_end) of C. Loop order (outer to
// inner): NC columns, KC depth (pack a B block), MC rows (pack an A block), then the register tiles.
// The `team_size` threads of the enclosing parallel region share the packed B blocks: each packs every
// team_size-th micro-panel, and a barrier makes the block whole before anyone multiplies by it. Blocks
// alternate between two buffers, so one barrier per block suffices: a thread can only start packing
// block n+2 (into block n's buffer) after everyone passed block n+1's barrier, i.e. finished block n.
// A team of one needs no barrier.
void gemm_blocked_part(const GemmProblem& p, float* packed_b_pair, int thread, int team_size, int row_begin,
                       int row_end) {
    float* packed_a = packed_a_buffer.reserve((size_t)round_up(min_int(p.M, kBlockM), kGemmMR) * kBlockK);
    size_t block_floats = packed_b_floats(p) / 2;
    int block_index = 0;
    for (int jc = 0; jc < p.N; jc += kBlockN) {
        int nc = min_int(kBlockN, p.N - jc);
        int n_panels = (nc + kGemmNR - 1) / kGemmNR;
        for (int pc = 0; pc < p.K; pc += kBlockK, ++block_index) {
            int kc = min_int(kBlockK, p.K - pc);
            float* packed_b = packed_b_pair + (block_index % 2) * block_floats;
            // The first depth block applies the caller's beta; later ones add onto what it wrote.
            float beta = pc == 0 ? p.beta : 1.0f;
            for (int panel = thread; panel < n_panels; panel += team_size) {
                gemm_pack_b(packed_b + (size_t)panel * kc * kGemmNR, p.B, p.B_bf16, p.ldb, p.trans_b, pc, kc,
                            jc + panel * kGemmNR, min_int(kGemmNR, nc - panel * kGemmNR));
            }
            if (team_size > 1) {
#pragma omp barrier
            }
            for (int ic = row_begin; ic < row_end; ic += kBlockM) {
                int mc = min_int(kBlockM, row_end - ic);
                gemm_pack_a(packed_a, p.A, p.lda, p.trans_a, ic, mc, pc, kc);
                multiply_packed_blocks(p, packed_a, packed_b, ic, mc, jc, nc, kc, beta);
            }
        }
    }
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

// Threads split C by rows, in whole register tiles, and share each packed B block. When there are too
// few rows to go round (a short, wide product) they split by columns instead, each thread packing its
// own B slice and the (small) A in full.
void gemm_blocked(const GemmProblem& p, bool parallel) {
    int team_size = parallel ? omp_get_max_threads() : 1;
    int row_tiles = (p.M + kGemmMR - 1) / kGemmMR;
    int col_tiles = (p.N + kGemmNR - 1) / kGemmNR;
    if (team_size == 1) {
        gemm_blocked_part(p, packed_b_buffer.reserve(packed_b_floats(p)), 0, 1, 0, p.M);
        return;
    }
    bool split_columns = row_tiles < 4 * team_size && col_tiles > row_tiles;
    float* shared_packed_b = split_columns ? nullptr : packed_b_buffer.reserve(packed_b_floats(p));
#pragma omp parallel num_threads(team_size)
    {
        int thread = omp_get_thread_num(), n_threads = omp_get_num_threads();
        int tiles = split_columns ? col_tiles : row_tiles;
        int first = (int)((long)tiles * thread / n_threads);
        int last = (int)((long)tiles * (thread + 1) / n_threads);
        if (!split_columns) {
            gemm_blocked_part(p, shared_packed_b, thread, n_threads, min_int(p.M, first * kGemmMR),
                              min_int(p.M, last * kGemmMR));
        } else if (first < last) {
            GemmProblem slice = column_slice(p, first * kGemmNR, min_int(p.N, last * kGemmNR));
            gemm_blocked_part(slice, packed_b_buffer.reserve(packed_b_floats(slice)), 0, 1, 0, slice.M);
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
    // Thin products: pick the form whose inner loop runs along a long, contiguous side.
    if (!is_thin(p)) {
        gemm_blocked(p, parallel);
    } else if (p.K <= 4 || (p.M <= 4 && !p.trans_b)) {
        gemm_direct_rows(p, parallel);
    } else if (p.N <= 4 && p.trans_a) {
        gemm_direct_columns(p, parallel);
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
