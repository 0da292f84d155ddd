// attention.cu — fused attention in the flash-attention style: scores are built tile by tile in shared
// memory and never stored as a (Tq, Tk) matrix. Forward keeps, per query row, a running max m, a running
// sum l of exp(score - m) and a running output, rescaling both when m grows (the online softmax), and
// saves lse = m + log l. Backward recomputes each probability as exp(score - lse).
// Semantics are kernels.h's, as the CPU oracle (kernels/cpu/reference_attention.cpp) reads: T5's additive
// pos_bias (Hq, Tq, Tk) shared by the batch; masked scores are exactly kMaskedScore (so a fully masked
// row is uniform over all Tk keys); causal masks key > query + (Tk - Tq); GQA maps query head h to key/
// value head h / (Hq / Hkv). Not here: tensor cores (f32 FMAs throughout) or dropout on probabilities.
// This kernel's memory does not grow with Tq Tk, but all its arithmetic runs on f32 cores, warp by warp;
// attention_gemm.cu does the same through cuBLAS products over a stored score buffer, several times faster
// at training shapes. cuda::attention_forward/backward (the table's fields, at the end) pick one.
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/attention_common.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

constexpr int kKeysPerTile = 32;         // one key per lane: a warp scores a whole tile at once
constexpr int kForwardWarps = 8;         // forward: one query row per warp, 8 rows share each K/V tile
constexpr int kBackwardWarps = 4;        // backward: 4 warps share one key tile's dK/dV accumulators
constexpr int kMaxHeadDim = 256;         // each lane keeps D / 32 output values in registers
constexpr int kMaxDimsPerLane = kMaxHeadDim / 32;

// Element (b, t, head, d) of a (B, T, heads, D) tensor.
__device__ inline size_t head_offset(int b, int t, int head, int T, int heads, int D) {
    return ((size_t(b) * T + t) * heads + head) * D;
}

// The score of (query row q_row in shared memory, key row `lane` of the K tile), or kMaskedScore.
__device__ inline float score_of(const float* q_row, const float* k_tile, int lane, int row_stride,
                                 const AttentionShape& s, const float* pos_bias, const uint8_t* key_mask, int b,
                                 int h, int query, int key) {
    if (key_is_masked(s, key_mask, b, query, key)) return kMaskedScore;
    float dot = 0.0f;
    for (int d = 0; d < s.D; d++) dot += q_row[d] * k_tile[lane * row_stride + d];
    float score = s.scale * dot;
    if (pos_bias) score += pos_bias[(size_t(h) * s.Tq + query) * s.Tk + key];
    return score;
}

// Copies keys [first_key, first_key + 32) of k and v (rows past Tk become 0) into the padded tiles.
// Row stride D + 1 puts element (j, d) of the 32 rows in 32 different banks when lane j reads column d.
__device__ inline void load_kv_tile(float* k_tile, float* v_tile, const float* k, const float* v,
                                    const AttentionShape& s, int b, int kv_head, int first_key) {
    int row_stride = s.D + 1;
    for (int i = threadIdx.x; i < kKeysPerTile * s.D; i += blockDim.x) {
        int j = i / s.D, d = i % s.D, key = first_key + j;
        bool inside = key < s.Tk;
        size_t at = head_offset(b, inside ? key : 0, kv_head, s.Tk, s.Hkv, s.D) + d;
        k_tile[j * row_stride + d] = inside ? k[at] : 0.0f;
        v_tile[j * row_stride + d] = inside ? v[at] : 0.0f;
    }
}

// grid (ceil(Tq / 8), Hq, B), block 8 warps. Shared: K and V tiles (32 x (D+1) each), the 8 query rows
// (8 x D) and each warp's 32 probabilities (8 x 32).
__global__ void attention_forward_kernel(float* out, float* lse, const float* q, const float* k, const float* v,
                                         const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    int b = blockIdx.z, h = blockIdx.y, kv_head = h / (s.Hq / s.Hkv);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row_stride = s.D + 1;
    int query = blockIdx.x * kForwardWarps + warp;
    bool active = query < s.Tq;  // inactive warps still help load tiles and meet at __syncthreads
    float* k_tile = dynamic_shared_floats();
    float* v_tile = k_tile + kKeysPerTile * row_stride;
    float* q_row = v_tile + kKeysPerTile * row_stride + warp * s.D;
    float* probs = v_tile + kKeysPerTile * row_stride + kForwardWarps * s.D + warp * kKeysPerTile;

    if (active)
        for (int d = lane; d < s.D; d += 32) q_row[d] = q[head_offset(b, query, h, s.Tq, s.Hq, s.D) + d];
    float running_max = -INFINITY, running_sum = 0.0f, acc[kMaxDimsPerLane] = {};

    for (int first_key = 0; first_key < s.Tk; first_key += kKeysPerTile) {
        __syncthreads();  // everyone is done with the previous tile
        load_kv_tile(k_tile, v_tile, k, v, s, b, kv_head, first_key);
        __syncthreads();
        if (!active) continue;
        // Causal: every key of this tile is masked, so once a real score was seen they all add exp(-huge) = 0.
        if (s.causal && first_key > query + (s.Tk - s.Tq) && running_max > kRealScoreFloor) continue;
        int key = first_key + lane;
        bool exists = key < s.Tk;  // past Tk there is no key at all (unlike a masked key, which counts)
        float score = exists ? score_of(q_row, k_tile, lane, row_stride, s, pos_bias, key_mask, b, h, query, key)
                             : -INFINITY;
        float new_max = fmaxf(running_max, warp_max(score));
        float p = exists ? expf(score - new_max) : 0.0f;
        float correction = expf(running_max - new_max);  // rescales what was summed under the old max
        running_sum = running_sum * correction + warp_sum(p);
        running_max = new_max;
        probs[lane] = p;
        __syncwarp();
        // A fixed trip count lets nvcc unroll this loop and keep acc[] in registers (a loop bounded by D
        // would index acc dynamically, which puts it in local memory).
        for (int i = 0; i < kMaxDimsPerLane; i++) {
            int d = i * 32 + lane;
            if (d >= s.D) continue;
            float total = acc[i] * correction;
            for (int j = 0; j < kKeysPerTile; j++) total += probs[j] * v_tile[j * row_stride + d];
            acc[i] = total;
        }
        __syncwarp();  // probs is rewritten by the next tile
    }
    if (!active) return;
    size_t at = head_offset(b, query, h, s.Tq, s.Hq, s.D);
    for (int i = 0; i < kMaxDimsPerLane; i++)
        if (i * 32 + lane < s.D) out[at + i * 32 + lane] = acc[i] / running_sum;
    if (lane == 0) lse[(size_t(b) * s.Hq + h) * s.Tq + query] = running_max + logf(running_sum);
}

// row_dot[b, h, q] = sum_d dout * out = sum_k dP_k P_k (the softmax backward's row term), one warp per row.
__global__ void attention_row_dot_kernel(float* row_dot, const float* dout, const float* out, AttentionShape s) {
    size_t rows = size_t(s.B) * s.Hq * s.Tq;
    size_t row = size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= rows) return;
    int lane = threadIdx.x % 32;
    int query = int(row % s.Tq), h = int(row / s.Tq % s.Hq), b = int(row / s.Tq / s.Hq);
    size_t at = head_offset(b, query, h, s.Tq, s.Hq, s.D);
    float dot = 0.0f;
    for (int d = lane; d < s.D; d += 32) dot += dout[at + d] * out[at + d];
    dot = warp_sum(dot);
    if (lane == 0) row_dot[row] = dot;
}

// grid (ceil(Tk / 32), Hkv, B), block 4 warps. The block owns one tile of 32 keys of one key/value head and
// walks every query row of every query head that reads it (GQA), so dK and dV for the tile are complete in
// shared memory and written once. dQ rows get contributions from every key tile: atomics.
// With P = exp(S - lse): dV += P^T dO; dP = dO V^T; dS = P (dP - row_dot); dQ += scale dS K;
// dK += scale dS^T Q; dpos_bias += dS. A masked score is a constant: no gradient to q, k or pos_bias.
__global__ void attention_backward_kernel(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout,
                                          const float* q, const float* k, const float* v, const float* lse,
                                          const float* row_dot, const float* pos_bias, const uint8_t* key_mask,
                                          AttentionShape s) {
    int b = blockIdx.z, kv_head = blockIdx.y, first_key = blockIdx.x * kKeysPerTile;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row_stride = s.D + 1;
    int group = s.Hq / s.Hkv;
    float* k_tile = dynamic_shared_floats();
    float* v_tile = k_tile + kKeysPerTile * row_stride;
    float* dk_tile = v_tile + kKeysPerTile * row_stride;
    float* dv_tile = dk_tile + kKeysPerTile * row_stride;
    float* q_row = dv_tile + kKeysPerTile * row_stride + warp * 2 * s.D;
    float* dout_row = q_row + s.D;
    float* dscores = dv_tile + kKeysPerTile * row_stride + kBackwardWarps * 2 * s.D + warp * kKeysPerTile;

    load_kv_tile(k_tile, v_tile, k, v, s, b, kv_head, first_key);
    for (int i = threadIdx.x; i < kKeysPerTile * row_stride; i += blockDim.x) dk_tile[i] = dv_tile[i] = 0.0f;
    __syncthreads();

    int key = first_key + lane;
    bool exists = key < s.Tk;
    for (int h = kv_head * group; h < (kv_head + 1) * group; h++) {
        for (int query = warp; query < s.Tq; query += kBackwardWarps) {
            size_t stat = (size_t(b) * s.Hq + h) * s.Tq + query;
            float row_lse = lse[stat];
            // A fully masked row has lse = kMaskedScore + log(Tk), which rounds to kMaskedScore in f32, so
            // exp(score - lse) would give 1: its probabilities are uniform, 1 / Tk.
            bool fully_masked = row_lse <= kRealScoreFloor;
            if (s.causal && first_key > query + (s.Tk - s.Tq) && !fully_masked) continue;  // all P = 0 here
            size_t at = head_offset(b, query, h, s.Tq, s.Hq, s.D);
            for (int d = lane; d < s.D; d += 32) {
                q_row[d] = q[at + d];
                dout_row[d] = dout[at + d];
            }
            __syncwarp();
            float dscore = 0.0f;
            if (exists) {
                bool masked = key_is_masked(s, key_mask, b, query, key);
                float score = score_of(q_row, k_tile, lane, row_stride, s, pos_bias, key_mask, b, h, query, key);
                float p = fully_masked ? 1.0f / float(s.Tk) : expf(score - row_lse);
                if (p != 0.0f) {
                    float dp = 0.0f;
                    for (int d = 0; d < s.D; d++) {
                        dp += dout_row[d] * v_tile[lane * row_stride + d];
                        atomicAdd(&dv_tile[lane * row_stride + d], p * dout_row[d]);  // other warps add too
                    }
                    if (!masked) dscore = p * (dp - row_dot[stat]);
                }
                if (dscore != 0.0f) {
                    for (int d = 0; d < s.D; d++) atomicAdd(&dk_tile[lane * row_stride + d], s.scale * dscore * q_row[d]);
                    if (dpos_bias) atomicAdd(&dpos_bias[(size_t(h) * s.Tq + query) * s.Tk + key], dscore);
                }
            }
            dscores[lane] = dscore;
            __syncwarp();
            // dQ[query, d] += scale sum_j dS_j K_j[d]: now the lanes split the head dimension.
            for (int d = lane; d < s.D; d += 32) {
                float total = 0.0f;
                for (int j = 0; j < kKeysPerTile; j++) total += dscores[j] * k_tile[j * row_stride + d];
                if (total != 0.0f) atomicAdd(&dq[at + d], s.scale * total);
            }
            __syncwarp();  // q_row, dout_row and dscores are rewritten by the next row
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kKeysPerTile * s.D; i += blockDim.x) {
        int j = i / s.D, d = i % s.D;
        if (first_key + j >= s.Tk) continue;
        size_t at = head_offset(b, first_key + j, kv_head, s.Tk, s.Hkv, s.D) + d;
        dk[at] += dk_tile[j * row_stride + d];
        dv[at] += dv_tile[j * row_stride + d];
    }
}

void check_head_dim(const AttentionShape& s, const char* where) {
    if (s.D < 1 || s.D > kMaxHeadDim) {
        fail(where, "head dimension out of range (expected 1 to " + std::to_string(kMaxHeadDim) + ", got " +
                    std::to_string(s.D) + ")");
    }
}

}  // namespace

namespace {

void attention_forward_fused(float* out, float* lse, const float* q, const float* k, const float* v,
                             const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    size_t shared_floats = 2 * kKeysPerTile * (s.D + 1) + kForwardWarps * s.D + kForwardWarps * kKeysPerTile;
    dim3 grid((s.Tq + kForwardWarps - 1) / kForwardWarps, s.Hq, s.B);
    launch(grid, kForwardWarps * 32, shared_floats * sizeof(float), attention_forward_kernel, out, lse, q, k, v,
           pos_bias, key_mask, s);
}

void attention_backward_fused(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout,
                              const float* q, const float* k, const float* v, const float* out, const float* lse,
                              const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    size_t rows = size_t(s.B) * s.Hq * s.Tq;
    if (rows == 0 || s.Tk == 0) return;
    DeviceScratch row_dot(rows * sizeof(float));
    cuda::attention_row_dot((float*)row_dot.ptr, dout, out, s);
    size_t shared_floats = 4 * kKeysPerTile * (s.D + 1) + kBackwardWarps * 2 * s.D + kBackwardWarps * kKeysPerTile;
    dim3 grid((s.Tk + kKeysPerTile - 1) / kKeysPerTile, s.Hkv, s.B);
    launch(grid, kBackwardWarps * 32, shared_floats * sizeof(float), attention_backward_kernel, dq, dk, dv,
           dpos_bias, dout, q, k, v, lse, (const float*)row_dot.ptr, pos_bias, key_mask, s);
}

// The path in force: SAPT_CUDA_ATTENTION at the first use, or what cuda_set_attention_path chose later.
CudaAttentionPath& path_setting() {
    static CudaAttentionPath path = [] {
        const char* env = std::getenv("SAPT_CUDA_ATTENTION");
        std::string name = env ? env : "auto";
        if (name == "auto") return CudaAttentionPath::Auto;
        if (name == "fused") return CudaAttentionPath::Fused;
        if (name == "gemm") return CudaAttentionPath::Gemm;
        fail("SAPT_CUDA_ATTENTION", "unknown attention path (expected auto, fused or gemm, got " + name + ")");
    }();
    return path;
}

// Auto: the GEMM path for long rows, the fused kernel for short ones, where the GEMM path's products are
// too small to fill the GPU. Measured on an H200 (bench/cuda_train_step --attention, B 16, 16 heads of 64,
// forward + backward): 512 x 512 GEMM path 3.6 ms vs fused 12.7; 50 x 512 cross attention 1.6 vs 1.5;
// 50 x 50 1.05 vs 0.22. The GEMM path's memory stays within its budget at any length (query blocks).
bool use_gemm_path(const AttentionShape& s) {
    switch (path_setting()) {
    case CudaAttentionPath::Fused: return false;
    case CudaAttentionPath::Gemm: return true;
    default: return size_t(s.Tq) * s.Tk >= size_t(128) * 256;
    }
}

}  // namespace

CudaAttentionPath cuda_attention_path() { return path_setting(); }
void cuda_set_attention_path(CudaAttentionPath path) { path_setting() = path; }

namespace cuda {

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    check_head_dim(s, "cuda attention_forward");
    if (use_gemm_path(s))
        attention_forward_gemm(out, lse, q, k, v, pos_bias, key_mask, s);
    else
        attention_forward_fused(out, lse, q, k, v, pos_bias, key_mask, s);
}

void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const float* pos_bias, const uint8_t* key_mask, AttentionShape s) {
    check_head_dim(s, "cuda attention_backward");
    if (use_gemm_path(s))
        attention_backward_gemm(dq, dk, dv, dpos_bias, dout, q, k, v, out, lse, pos_bias, key_mask, s);
    else
        attention_backward_fused(dq, dk, dv, dpos_bias, dout, q, k, v, out, lse, pos_bias, key_mask, s);
}

void attention_row_dot(float* row_dot, const float* dout, const float* out, const AttentionShape& s) {
    const size_t rows = size_t(s.B) * s.Hq * s.Tq, rows_per_block = kBlockThreads / 32;
    launch(unsigned((rows + rows_per_block - 1) / rows_per_block), kBlockThreads, 0, attention_row_dot_kernel,
           row_dot, dout, out, s);
}

}  // namespace cuda
