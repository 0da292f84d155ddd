// adamw.cu — one AdamW step (torch.optim.AdamW) over n f32 parameters with f32 moments m and v: the
// master state stays f32 even where the model's frozen weights are bf16. One thread per parameter.
// The scalars (bias corrections, step size) are computed on the host in double, then used in f32, in the
// order torch 1.13's _single_tensor_adamw uses them, so the GPU matches the CPU reference up to f32
// rounding (nvcc may fuse a multiply-add). Not here: gradient clipping (a separate sum_squares + scale).
#include <cmath>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, size_t n, float decay,
                             float beta1, float one_minus_beta1, float beta2, float one_minus_beta2, float eps,
                             float step_size, float bias_correction2_sqrt) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        float g = grad[i];
        float p = param[i] * decay;  // decoupled weight decay comes first: p -= lr * wd * p
        float m_i = m[i] * beta1 + one_minus_beta1 * g;
        float v_i = v[i] * beta2 + one_minus_beta2 * g * g;
        float denom = sqrtf(v_i) / bias_correction2_sqrt + eps;
        param[i] = p + -step_size * m_i / denom;
        m[i] = m_i;
        v[i] = v_i;
    }
}

}  // namespace

namespace cuda {

void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int t) {
    // 1 - beta is formed in double, as torch does with its Python floats, and only then rounded to f32.
    float decay = float(1.0 - lr * weight_decay);
    float step_size = float(lr / (1.0 - std::pow(beta1, t)));
    float bias_correction2_sqrt = float(std::sqrt(1.0 - std::pow(beta2, t)));
    launch(blocks_for(n), kBlockThreads, 0, adamw_kernel, param, grad, m, v, n, decay, float(beta1),
           float(1.0 - beta1), float(beta2), float(1.0 - beta2), float(eps), step_size, bias_correction2_sqrt);
}

}  // namespace cuda
