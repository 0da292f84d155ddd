// norms.cu — RMSNorm (T5, LLaMA) and LayerNorm over the last axis of (N, C), forward and backward, with
// f32 accumulation. One warp per row: the 32 lanes stride over the C channels (coalesced), and a warp
// reduction (shuffles, no shared memory, no __syncthreads) gives every lane the row's sum.
// The weight gradients sum over rows, a different direction: a second, column-wise kernel computes them
// without atomics (so they are deterministic). Not here: fused residual adds or bf16 variants.
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

constexpr int kRowsPerBlock = kBlockThreads / 32;  // one warp per row

// The row this warp works on, or N when the warp has no row (the whole warp then skips together).
__device__ inline size_t warp_row(size_t N) {
    size_t row = size_t(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32;
    return row < N ? row : N;
}

// out = weight * (x * rstd), rstd = 1 / sqrt(mean(x^2) + eps): HF T5LayerNorm / LlamaRMSNorm's order.
__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* weight,
                                       size_t N, size_t C, float eps) {
    size_t row = warp_row(N);
    if (row == N) return;
    int lane = threadIdx.x % 32;
    const float* x = inp + row * C;
    float squares = 0.0f;
    for (size_t c = lane; c < C; c += 32) squares += x[c] * x[c];
    float r = rsqrtf(warp_sum(squares) / float(C) + eps);
    for (size_t c = lane; c < C; c += 32) out[row * C + c] = weight[c] * (x[c] * r);
    if (lane == 0) rstd[row] = r;
}

// dx_j = r w_j dy_j - (r^3 / C) x_j sum_c dy_c w_c x_c
__global__ void rmsnorm_backward_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                        const float* rstd, size_t N, size_t C) {
    size_t row = warp_row(N);
    if (row == N) return;
    int lane = threadIdx.x % 32;
    const float* x = inp + row * C;
    const float* dy = dout + row * C;
    float dot = 0.0f;
    for (size_t c = lane; c < C; c += 32) dot += dy[c] * weight[c] * x[c];
    dot = warp_sum(dot);
    float r = rstd[row];
    float coefficient = r * r * r / float(C) * dot;
    for (size_t c = lane; c < C; c += 32) dinp[row * C + c] += r * weight[c] * dy[c] - coefficient * x[c];
}

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp,
                                         const float* weight, const float* bias, size_t N, size_t C, float eps) {
    size_t row = warp_row(N);
    if (row == N) return;
    int lane = threadIdx.x % 32;
    const float* x = inp + row * C;
    float total = 0.0f;
    for (size_t c = lane; c < C; c += 32) total += x[c];
    float mu = warp_sum(total) / float(C);
    // Two passes (mean first, then squared deviations): E[x^2] - E[x]^2 would cancel catastrophically.
    float squares = 0.0f;
    for (size_t c = lane; c < C; c += 32) squares += (x[c] - mu) * (x[c] - mu);
    float r = rsqrtf(warp_sum(squares) / float(C) + eps);  // biased variance, as torch.nn.LayerNorm
    for (size_t c = lane; c < C; c += 32) out[row * C + c] = (x[c] - mu) * r * weight[c] + bias[c];
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = r;
    }
}

// With xhat = (x - mean) r and dxhat = dy w: dx = r (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
__global__ void layernorm_backward_kernel(float* dinp, const float* dout, const float* inp, const float* weight,
                                          const float* mean, const float* rstd, size_t N, size_t C) {
    size_t row = warp_row(N);
    if (row == N) return;
    int lane = threadIdx.x % 32;
    const float* x = inp + row * C;
    const float* dy = dout + row * C;
    float mu = mean[row], r = rstd[row];
    float dxhat_total = 0.0f, dxhat_xhat_total = 0.0f;
    for (size_t c = lane; c < C; c += 32) {
        float dxhat = dy[c] * weight[c];
        dxhat_total += dxhat;
        dxhat_xhat_total += dxhat * (x[c] - mu) * r;
    }
    float dxhat_mean = warp_sum(dxhat_total) / float(C);
    float dxhat_xhat_mean = warp_sum(dxhat_xhat_total) / float(C);
    for (size_t c = lane; c < C; c += 32) {
        float xhat = (x[c] - mu) * r;
        dinp[row * C + c] += r * (dy[c] * weight[c] - dxhat_mean - xhat * dxhat_xhat_mean);
    }
}

// dweight[c] += sum_n dy[n, c] xhat[n, c] and dbias[c] += sum_n dy[n, c], where xhat = (x - mean) rstd
// (LayerNorm) or x rstd (RMSNorm, mean == null). Same (32 columns x 8 row groups) tiling as sum_rows.
constexpr int kColumnsPerBlock = 32, kRowGroups = 8;

__global__ void norm_weight_grad_kernel(float* dweight, float* dbias, const float* dout, const float* inp,
                                        const float* mean, const float* rstd, size_t N, size_t C) {
    __shared__ float partial_weight[kRowGroups][kColumnsPerBlock + 1];
    __shared__ float partial_bias[kRowGroups][kColumnsPerBlock + 1];
    size_t col = size_t(blockIdx.x) * kColumnsPerBlock + threadIdx.x;
    float weight_total = 0.0f, bias_total = 0.0f;
    if (col < C) {
        for (size_t n = threadIdx.y; n < N; n += kRowGroups) {
            float dy = dout[n * C + col];
            float xhat = (inp[n * C + col] - (mean ? mean[n] : 0.0f)) * rstd[n];
            weight_total += dy * xhat;
            bias_total += dy;
        }
    }
    partial_weight[threadIdx.y][threadIdx.x] = weight_total;
    partial_bias[threadIdx.y][threadIdx.x] = bias_total;
    __syncthreads();
    if (threadIdx.y == 0 && col < C) {
        for (int g = 1; g < kRowGroups; g++) {
            weight_total += partial_weight[g][threadIdx.x];
            bias_total += partial_bias[g][threadIdx.x];
        }
        if (dweight) dweight[col] += weight_total;
        if (dbias) dbias[col] += bias_total;
    }
}

unsigned row_blocks(size_t N) { return unsigned((N + kRowsPerBlock - 1) / kRowsPerBlock); }

void norm_weight_grads(float* dweight, float* dbias, const float* dout, const float* inp, const float* mean,
                       const float* rstd, size_t N, size_t C) {
    if (!dweight && !dbias) return;
    unsigned tiles = unsigned((C + kColumnsPerBlock - 1) / kColumnsPerBlock);
    launch(tiles, dim3(kColumnsPerBlock, kRowGroups), 0, norm_weight_grad_kernel, dweight, dbias, dout, inp,
           mean, rstd, N, C);
}

}  // namespace

namespace cuda {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, size_t N, size_t C,
                     float eps) {
    launch(row_blocks(N), kBlockThreads, 0, rmsnorm_forward_kernel, out, rstd, inp, weight, N, C, eps);
}
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, rmsnorm_backward_kernel, dinp, dout, inp, weight, rstd, N, C);
    norm_weight_grads(dweight, nullptr, dout, inp, nullptr, rstd, N, C);
}
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, size_t N, size_t C, float eps) {
    launch(row_blocks(N), kBlockThreads, 0, layernorm_forward_kernel, out, mean, rstd, inp, weight, bias, N, C,
           eps);
}
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, layernorm_backward_kernel, dinp, dout, inp, weight, mean, rstd, N, C);
    norm_weight_grads(dweight, dbias, dout, inp, mean, rstd, N, C);
}

}  // namespace cuda
