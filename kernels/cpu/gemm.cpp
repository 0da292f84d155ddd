// gemm.cpp — the fast CPU GEMM: C = alpha op(A) op(B) + beta C for f32 A, and B in f32 or bf16.
// Large products follow Goto / BLIS: cut op(B) into KC x NC blocks and op(A) into MC x KC blocks that fit
// the caches, pack them into micro-panels, and run a register-tile micro-kernel (gemm_microkernel.cpp).
// Threads share the packed B and take rows of C block by block. Thin products (a side <= 4) skip
// packing: they run as axpys along whichever operand is contiguous, or as vector dot products; so do a few
// rows of A against a weight stored row by row (decoding), as blocks of dot products.
// At GemmPrecision::BF16 a bf16 B's products take the bf16 route: the same blocks, packed as bf16 pairs
// (gemm_bf16_pairs.cpp); the thin forms multiply a copy of A rounded to bf16.
// Nothing here checks arguments: the engine validated shapes before calling a kernel.
#include "kernels/cpu/gemm.h"

#include "engine/error.h"
#include "kernels/cpu/gemm_bf16_pairs.h"
#include "kernels/cpu/gemm_microkernel.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <omp.h>
#include <vector>

namespace {

// One product, with B either f32 or bf16 (exactly one of B / B_bf16 is non-null). bf16_products: A is
// rounded to bf16 and the blocked path packs and multiplies bf16 pairs (B_bf16 only).
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
    bool bf16_products;
};

std::atomic<GemmPrecision> gemm_precision{GemmPrecision::F32};

// Cache blocks, tuned on Zen 4 (1 MB L2 per core, 32 MB shared L3); correctness never depends on them:
//   KC: depth of one block. C is loaded and stored once per KC steps, and a B micro-panel (KC x NR,
//       64 KB with AVX-512) is re-read from L2 for every A micro-panel of the block.
//   MC: at most this many rows in a thread's packed A block, MC x KC floats (344 KB), kept in its L2.
//   NC: columns of op(B) packed at once, for the whole depth K: at most kMaxPackedB floats (16 MB),
//       shared by the threads from L3.
constexpr int kBlockK = 512;
constexpr int kBlockM = 12 * kGemmMR;
constexpr int kBlockN = 2048;
constexpr size_t kMaxPackedB = 4u << 20;

// KC in steps: bf16 pairs take half the bytes per step, so their blocks go twice as deep for the same cache
// footprint (and the same buffer sizes), halving how often C is loaded and stored per product.
int block_depth(const GemmProblem& p) { return p.bf16_products ? 2 * kBlockK : kBlockK; }

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
thread_local PackBuffer rounded_a_buffer;

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

// Few rows of A times a weight stored (N, K), x W^T for the handful of tokens of a decoding step: packing
// would read and write the whole weight to feed a few rows, so the dot products read it where it lies,
// once, 4 weight rows at a time against every 4 rows of A. Threads split the weight rows.
constexpr int kSkinnyMaxRows = 16;

bool is_skinny(const GemmProblem& p) { return !p.trans_a && p.trans_b && p.M <= kSkinnyMaxRows && p.K > 4; }

void gemm_direct_skinny(const GemmProblem& p, bool parallel) {
    int n_column_blocks = (p.N + 3) / 4;
#pragma omp parallel for schedule(static) if (parallel)
    for (int column_block = 0; column_block < n_column_blocks; ++column_block) {
        int j0 = column_block * 4, n_y = min_int(4, p.N - j0);
        size_t b_offset = (size_t)j0 * p.ldb;
        for (int i0 = 0; i0 < p.M; i0 += 4) {
            int n_x = min_int(4, p.M - i0);
            float dots[16];
            gemm_dot_block(p.A + (size_t)i0 * p.lda, p.lda, n_x, p.B ? p.B + b_offset : nullptr,
                           p.B ? nullptr : p.B_bf16 + b_offset, p.ldb, n_y, p.K, dots);
            for (int r = 0; r < n_x; ++r) {
                float* c_row = p.C + (size_t)(i0 + r) * p.ldc + j0;
                for (int c = 0; c < n_y; ++c) {
                    float value = p.alpha * dots[r * 4 + c];
                    c_row[c] = p.beta == 0.0f ? value : value + p.beta * c_row[c];
                }
            }
        }
    }
}

// Products with a side of at most 4 would fill at most 4 of a register tile's 14 (or 32) rows (columns).
bool is_thin(const GemmProblem& p) { return p.M <= 4 || p.N <= 4 || p.K <= 4; }

// ---- large products: packed blocks and the micro-kernel ---------------------------------------------

// C[ic : ic+mc, jc : jc+nc] = alpha (packed A block x packed B block) + beta C: the register tiles one by
// one, B micro-panel in the outer loop so that it stays in L1 while the A micro-panels stream past it.
// bf16 blocks live in the same float buffers: a panel of depth kc takes gemm_bf16_depth(kc) bf16 per row,
// never more than the kc floats of its f32 twin, so every block offset of the f32 layout still fits.
void multiply_packed_blocks(const GemmProblem& p, const float* packed_a, const float* packed_b, int ic,
                            int mc, int jc, int nc, int kc, float beta) {
    int panel_depth = p.bf16_products ? gemm_bf16_depth(kc) : kc;
    for (int jr = 0; jr < nc; jr += kGemmNR) {
        size_t b_offset = (size_t)(jr / kGemmNR) * panel_depth * kGemmNR;
        for (int ir = 0; ir < mc; ir += kGemmMR) {
            size_t a_offset = (size_t)(ir / kGemmMR) * panel_depth * kGemmMR;
            float* c_tile = p.C + (size_t)(ic + ir) * p.ldc + jc + jr;
            int rows = min_int(kGemmMR, mc - ir), cols = min_int(kGemmNR, nc - jr);
            if (p.bf16_products) {
                gemm_microkernel_bf16(kc, (const bf16*)packed_a + a_offset, (const bf16*)packed_b + b_offset, c_tile,
                                      p.ldc, p.alpha, beta, rows, cols);
            } else {
                gemm_microkernel(kc, packed_a + a_offset, packed_b + b_offset, c_tile, p.ldc, p.alpha, beta, rows,
                                 cols);
            }
        }
    }
}

// NC for this product: as many columns as kMaxPackedB allows at depth K, within [NR, kBlockN].
int column_block_width(const GemmProblem& p) {
    int width = (int)(kMaxPackedB / (size_t)p.K) / kGemmNR * kGemmNR;
    return width < kGemmNR ? kGemmNR : width > kBlockN ? kBlockN : width;
}

// The packed op(B)[:, jc : jc+nc] for the whole depth, as ceil(K / KC) blocks one after another; the
// block of depth pc starts at pc * (nc rounded up to NR) and holds its micro-panels (see gemm_pack_b).
struct PackedColumns {
    float* data;
    int nc_padded;
    const float* depth_block(int pc) const { return data + (size_t)pc * nc_padded; }
};

// One thread's share of packing a column block: (depth block, micro-panel) pairs dealt round-robin.
void pack_column_block(const GemmProblem& p, PackedColumns packed, int jc, int nc, int thread,
                       int team_size) {
    int n_panels = (nc + kGemmNR - 1) / kGemmNR;
    int depth = block_depth(p), n_depth_blocks = (p.K + depth - 1) / depth;
    for (int task = thread; task < n_depth_blocks * n_panels; task += team_size) {
        int pc = task / n_panels * depth, panel = task % n_panels;
        int kc = min_int(depth, p.K - pc);
        int j0 = jc + panel * kGemmNR, cols = min_int(kGemmNR, nc - panel * kGemmNR);
        float* block = packed.data + (size_t)pc * packed.nc_padded;
        if (p.bf16_products) {
            gemm_pack_b_bf16((bf16*)block + (size_t)panel * gemm_bf16_depth(kc) * kGemmNR, p.B_bf16, p.ldb,
                             p.trans_b, pc, kc, j0, cols);
        } else {
            gemm_pack_b(block + (size_t)panel * kc * kGemmNR, p.B, p.B_bf16, p.ldb, p.trans_b, pc, kc, j0, cols);
        }
    }
}

// C[row_begin : row_end, jc : jc+nc] for the whole depth: per KC block, pack these rows of op(A), then
// multiply them by the packed B block. The first depth block applies the caller's beta, later ones add.
void multiply_row_block(const GemmProblem& p, PackedColumns packed, int jc, int nc, int row_begin,
                        int row_end) {
    float* packed_a = packed_a_buffer.reserve((size_t)round_up(kBlockM, kGemmMR) * kBlockK);
    int depth = block_depth(p);
    for (int pc = 0; pc < p.K; pc += depth) {
        int kc = min_int(depth, p.K - pc);
        if (p.bf16_products) {
            gemm_pack_a_bf16((bf16*)packed_a, p.A, p.lda, p.trans_a, row_begin, row_end - row_begin, pc, kc);
        } else {
            gemm_pack_a(packed_a, p.A, p.lda, p.trans_a, row_begin, row_end - row_begin, pc, kc);
        }
        multiply_packed_blocks(p, packed_a, packed.depth_block(pc), row_begin, row_end - row_begin, jc, nc,
                               kc, pc == 0 ? p.beta : 1.0f);
    }
}

// One thread's part of the blocked algorithm, for a team of `team_size` threads (1: no sharing). For each
// column block: the team packs it together, waits at a barrier until it is whole, then threads take row
// blocks (whole register tiles, at most MC rows) from a shared counter until none is left; a thread slowed
// down by other work on the machine simply takes fewer. A second barrier keeps the packed block until
// every thread is done with it.
void gemm_blocked_part(const GemmProblem& p, PackedColumns packed, int nc_max, int n_row_blocks,
                       std::atomic<int>* next_row_block, int thread, int team_size) {
    int row_tiles = (p.M + kGemmMR - 1) / kGemmMR;
    for (int jc = 0, column_block = 0; jc < p.N; jc += nc_max, ++column_block) {
        int nc = min_int(nc_max, p.N - jc);
        pack_column_block(p, packed, jc, nc, thread, team_size);
        if (team_size > 1) {
#pragma omp barrier
        }
        for (;;) {
            int block = next_row_block[column_block].fetch_add(1);
            if (block >= n_row_blocks) break;
            int first_tile = (int)((long)row_tiles * block / n_row_blocks);
            int last_tile = (int)((long)row_tiles * (block + 1) / n_row_blocks);
            multiply_row_block(p, packed, jc, nc, first_tile * kGemmMR, min_int(p.M, last_tile * kGemmMR));
        }
        if (team_size > 1) {
#pragma omp barrier
        }
    }
}

// The blocked algorithm on `team_size` threads (1 = the calling thread alone).
void gemm_blocked_team(const GemmProblem& p, int team_size) {
    int nc_max = column_block_width(p);
    PackedColumns packed{nullptr, round_up(min_int(p.N, nc_max), kGemmNR)};
    packed.data = packed_b_buffer.reserve((size_t)p.K * packed.nc_padded);
    // Enough row blocks to keep each under MC rows and, with threads, four per thread to even out.
    int row_tiles = (p.M + kGemmMR - 1) / kGemmMR;
    int n_row_blocks = (row_tiles + kBlockM / kGemmMR - 1) / (kBlockM / kGemmMR);
    if (team_size > 1 && n_row_blocks < 4 * team_size) n_row_blocks = min_int(row_tiles, 4 * team_size);
    int n_column_blocks = (p.N + nc_max - 1) / nc_max;
    std::vector<std::atomic<int>> next_row_block(n_column_blocks);
    for (auto& counter : next_row_block) counter = 0;
    if (team_size == 1) {
        gemm_blocked_part(p, packed, nc_max, n_row_blocks, next_row_block.data(), 0, 1);
        return;
    }
#pragma omp parallel num_threads(team_size)
    gemm_blocked_part(p, packed, nc_max, n_row_blocks, next_row_block.data(), omp_get_thread_num(),
                      omp_get_num_threads());
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

// Threads share the packed B and take row blocks. When there are too few rows to go round (a short, wide
// product) they split by columns instead, each thread running the algorithm alone on its slice (packing
// its own B slice and the small A in full).
void gemm_blocked(const GemmProblem& p, bool parallel) {
    int team_size = parallel ? omp_get_max_threads() : 1;
    int row_tiles = (p.M + kGemmMR - 1) / kGemmMR;
    int col_tiles = (p.N + kGemmNR - 1) / kGemmNR;
    if (team_size == 1 || !(row_tiles < 4 * team_size && col_tiles > row_tiles)) {
        gemm_blocked_team(p, team_size);
        return;
    }
#pragma omp parallel num_threads(team_size)
    {
        int thread = omp_get_thread_num(), n_threads = omp_get_num_threads();
        int first = (int)((long)col_tiles * thread / n_threads);
        int last = (int)((long)col_tiles * (thread + 1) / n_threads);
        if (first < last) {
            gemm_blocked_team(column_slice(p, first * kGemmNR, min_int(p.N, last * kGemmNR)), 1);
        }
    }
}

// The thin forms at bf16 precision: op(A) as stored (rows x cols of it, row stride lda) is copied rounded to
// bf16 and widened back, so the f32 forms multiply exactly the values the blocked bf16 path would.
GemmProblem with_rounded_a(GemmProblem p) {
    int stored_rows = p.trans_a ? p.K : p.M, stored_cols = p.trans_a ? p.M : p.K;
    float* copy = rounded_a_buffer.reserve((size_t)stored_rows * stored_cols);
    for (int r = 0; r < stored_rows; ++r) {
        for (int c = 0; c < stored_cols; ++c) {
            uint32_t bits = (uint32_t)gemm_round_to_bf16(p.A[(size_t)r * p.lda + c]) << 16;
            std::memcpy(&copy[(size_t)r * stored_cols + c], &bits, sizeof bits);
        }
    }
    p.A = copy;
    p.lda = stored_cols;
    return p;
}

void run_gemm(GemmProblem p, bool allow_threads) {
    if (p.M <= 0 || p.N <= 0) return;
    if (p.K <= 0 || p.alpha == 0.0f) {
        scale_c(p);
        return;
    }
    bool parallel = allow_threads && 2.0 * p.M * p.N * p.K >= kParallelMinFlops;
    if (p.bf16_products && (is_skinny(p) || is_thin(p))) {
        p = with_rounded_a(p);
        p.bf16_products = false;
    }
    // Thin products: pick the form whose inner loop runs along a long, contiguous side.
    if (is_skinny(p)) {
        gemm_direct_skinny(p, parallel);
    } else if (!is_thin(p)) {
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
    run_gemm({trans_a, trans_b, M, N, K, alpha, A, lda, B, nullptr, ldb, beta, C, ldc, false}, true);
}

void cpu_gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                    const bf16* B, int ldb, float beta, float* C, int ldc) {
    bool bf16_products = gemm_precision.load(std::memory_order_relaxed) == GemmPrecision::BF16;
    run_gemm({trans_a, trans_b, M, N, K, alpha, A, lda, nullptr, B, ldb, beta, C, ldc, bf16_products}, true);
}

void cpu_set_gemm_precision(GemmPrecision precision) {
    if (precision == GemmPrecision::TF32) {
        fail("cpu_set_gemm_precision", "tf32 is a GPU tensor-core format (expected f32 or bf16 on the CPU)");
    }
    gemm_precision.store(precision);
}

GemmPrecision cpu_gemm_precision() { return gemm_precision.load(); }

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
                      ldb, beta, C + b * stride_c, ldc, false};
        run_gemm(p, !across_products);
    }
}
