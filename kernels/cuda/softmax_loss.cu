// softmax_loss.cu — softmax and log-softmax over the last axis of (N, C), the fused cross-entropy over
// logits (N, V) and the KL divergence. One block per row: rows can be a whole vocabulary (V = 32k), too
// long for one warp. The row's max and sum of exponentials come from ONE pass (the online softmax: when
// a larger value shows up, rescale the running sum), so the logits are read once for the statistics.
// The cross-entropy never materialises (N, V) probabilities: backward recomputes exp(logit - lse).
#include <vector>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

constexpr int32_t kIgnoreIndex = -100;  // torch.nn.CrossEntropyLoss's default ignore_index
constexpr unsigned kMaxRowBlocks = 65535;

struct RowStats {
    float max, sum_exp;  // sum_exp = sum_c exp(x_c - max)
};

// The online softmax statistics of x (C) over the whole block (every thread must call it).
__device__ RowStats row_stats(const float* x, size_t C) {
    float running_max = -INFINITY, running_sum = 0.0f;
    for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
        if (x[c] > running_max) {
            running_sum = running_sum * expf(running_max - x[c]) + 1.0f;
            running_max = x[c];
        } else {
            running_sum += expf(x[c] - running_max);
        }
    }
    float row_max = block_max(running_max);
    // A thread that saw no element has running_sum 0: its term is 0 whatever the exponent says.
    float mine = running_sum > 0.0f ? running_sum * expf(running_max - row_max) : 0.0f;
    return RowStats{row_max, block_sum(mine)};
}

__global__ void softmax_forward_kernel(float* out, const float* inp, size_t N, size_t C, bool log_output) {
    for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
        const float* x = inp + row * C;
        RowStats stats = row_stats(x, C);
        float log_total = stats.max + logf(stats.sum_exp);
        for (size_t c = threadIdx.x; c < C; c += blockDim.x) {
            out[row * C + c] = log_output ? x[c] - log_total : expf(x[c] - stats.max) / stats.sum_exp;
        }
    }
}

// dx_c = y_c (dy_c - sum_j dy_j y_j)
__global__ void softmax_backward_kernel(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
        const float* dy = dout + row * C;
        const float* y = out + row * C;
        float dot = 0.0f;
        for (size_t c = threadIdx.x; c < C; c += blockDim.x) dot += dy[c] * y[c];
        dot = block_sum(dot);
        for (size_t c = threadIdx.x; c < C; c += blockDim.x) dinp[row * C + c] += y[c] * (dy[c] - dot);
    }
}

// y = x - lse, so dx_c = dy_c - exp(y_c) sum_j dy_j
__global__ void log_softmax_backward_kernel(float* dinp, const float* dout, const float* out, size_t N,
                                            size_t C) {
    for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
        const float* dy = dout + row * C;
        float dy_total = 0.0f;
        for (size_t c = threadIdx.x; c < C; c += blockDim.x) dy_total += dy[c];
        dy_total = block_sum(dy_total);
        for (size_t c = threadIdx.x; c < C; c += blockDim.x)
            dinp[row * C + c] += dy[c] - expf(out[row * C + c]) * dy_total;
    }
}

// losses[n] = lse - logit[target]; lse is written for ignored rows too (as the CPU reference does).
__global__ void cross_entropy_forward_kernel(float* losses, float* lse, int* counted, const float* logits,
                                             const int32_t* targets, size_t N, size_t V) {
    for (size_t row = blockIdx.x; row < N; row += gridDim.x) {
        const float* x = logits + row * V;
        RowStats stats = row_stats(x, V);
        if (threadIdx.x != 0) continue;
        float row_lse = stats.max + logf(stats.sum_exp);
        lse[row] = row_lse;
        int32_t target = targets[row];
        losses[row] = target == kIgnoreIndex ? 0.0f : row_lse - x[target];
        if (target != kIgnoreIndex) atomicAdd(counted, 1);
    }
}

// dlogits += dloss_per_row (softmax - onehot), recomputing softmax = exp(logit - lse) element by element.
__global__ void cross_entropy_backward_kernel(float* dlogits, const float* logits, const float* lse,
                                              const int32_t* targets, float dloss_per_row, size_t N, size_t V) {
    for (size_t i = global_thread(); i < N * V; i += grid_threads()) {
        size_t row = i / V;
        int32_t target = targets[row];
        if (target == kIgnoreIndex) continue;
        float p = expf(logits[i] - lse[row]);
        float onehot = size_t(target) == i % V ? 1.0f : 0.0f;
        dlogits[i] += dloss_per_row * (p - onehot);
    }
}

// sum t (log t - logp), terms with t == 0 counting 0 (torch's xlogy); one double partial per block.
__global__ void kl_div_forward_kernel(double* partial, const float* logp, const float* target, size_t n) {
    double total = 0.0;
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        if (target[i] != 0.0f) total += double(target[i]) * (log(double(target[i])) - double(logp[i]));
    }
    total = block_sum(total);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void kl_div_backward_kernel(float* dlogp, const float* target, float scale, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) dlogp[i] += -target[i] * scale;
}

unsigned row_blocks(size_t N) { return unsigned(N < kMaxRowBlocks ? N : kMaxRowBlocks); }

}  // namespace

namespace cuda {

void softmax_forward(float* out, const float* inp, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, softmax_forward_kernel, out, inp, N, C, false);
}
void softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, softmax_backward_kernel, dinp, dout, out, N, C);
}
void log_softmax_forward(float* out, const float* inp, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, softmax_forward_kernel, out, inp, N, C, true);
}
void log_softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    launch(row_blocks(N), kBlockThreads, 0, log_softmax_backward_kernel, dinp, dout, out, N, C);
}

long cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, size_t N,
                           size_t V) {
    DeviceScratch counted(sizeof(int));
    cudaCheck(cudaMemsetAsync(counted.ptr, 0, sizeof(int), cuda_stream()));
    launch(row_blocks(N), kBlockThreads, 0, cross_entropy_forward_kernel, losses, lse, (int*)counted.ptr,
           logits, targets, N, V);
    int count = 0;
    copy_to_host(&count, counted.ptr, sizeof(int));
    return count;
}
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            float dloss_per_row, size_t N, size_t V) {
    launch(blocks_for(N * V), kBlockThreads, 0, cross_entropy_backward_kernel, dlogits, logits, lse, targets,
           dloss_per_row, N, V);
}

double kl_div_forward(const float* logp, const float* target, size_t N, size_t C) {
    size_t n = N * C;
    if (n == 0) return 0.0;
    unsigned blocks = blocks_for(n);
    if (blocks > 256) blocks = 256;
    DeviceScratch partial(blocks * sizeof(double));
    launch(blocks, kBlockThreads, 0, kl_div_forward_kernel, (double*)partial.ptr, logp, target, n);
    std::vector<double> host(blocks);
    copy_to_host(host.data(), partial.ptr, blocks * sizeof(double));
    double total = 0.0;
    for (double value : host) total += value;
    return total;
}
void kl_div_backward(float* dlogp, const float* target, float scale, size_t N, size_t C) {
    launch(blocks_for(N * C), kBlockThreads, 0, kl_div_backward_kernel, dlogp, target, scale, N * C);
}

}  // namespace cuda
