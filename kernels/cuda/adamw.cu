// adamw.cu — one AdamW step (torch.optim.AdamW) over n f32 parameters with f32 moments m and v: the
// master state stays f32 even where the model's frozen weights are bf16. One thread per parameter.
// The scalars (bias corrections, step size) are computed on the host in double (kernels/adamw_scalars.h),
// then used in f32, in the order torch 1.13's _single_tensor_adamw uses them, so the GPU matches the CPU
// reference up to f32 rounding (nvcc may fuse a multiply-add). Not here: gradient clipping (a separate
// sum_squares + scale).
#include <cmath>

#include "kernels/adamw_scalars.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, size_t n, AdamWScalars s) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        float g = grad[i];
        float p = param[i] * s.decay;  // decoupled weight decay comes first: p -= lr * wd * p
        float m_i = m[i] * s.beta1 + s.one_minus_beta1 * g;
        float v_i = v[i] * s.beta2 + s.one_minus_beta2 * g * g;
        float denom = sqrtf(v_i) / s.bias_correction2_sqrt + s.eps;
        param[i] = p + -s.step_size * m_i / denom;
        m[i] = m_i;
        v[i] = v_i;
    }
}

}  // namespace

namespace cuda {

void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int t) {
    const AdamWScalars s = adamw_scalars(lr, beta1, beta2, eps, weight_decay, t);
    launch(blocks_for(n), kBlockThreads, 0, adamw_kernel, param, grad, m, v, n, s);
}

}  // namespace cuda
