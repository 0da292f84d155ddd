// ops_activation.cpp — pointwise nonlinearities (ReLU, tanh-GELU, SiLU) and inverted dropout.
// Activation backward kernels recompute f'(x) from the saved input, so nothing but x is kept.
// Dropout draws its keep mask on the host from the engine RNG (rng.h): every backend then drops the same
// elements for the same seed, and backward reuses the very mask the forward used.
#include "engine/ops_common.h"
#include "engine/rng.h"

typedef void (*ActivationForward)(float* out, const float* inp, size_t n);
typedef void (*ActivationBackward)(float* dinp, const float* dout, const float* inp, size_t n);

// The kernels come from x's device table; x stays on that device, so backward may call them later.
static Tensor activation(const char* op, const Tensor& x, ActivationForward forward, ActivationBackward backward_kernel) {
    check_f32(op, x, "x");
    const size_t n = (size_t)x.numel();
    Tensor out = tensor_empty(x.shape(), DType::F32, x.device());
    forward(out.f32(), x.f32(), n);
    if (needs_grad({&x})) {
        record_backward(op, out, [x, out, n, backward_kernel]() {
            backward_kernel(x.grad(), out.grad(), x.f32(), n);  // dinp += dout * f'(x)
        });
    }
    return out;
}

Tensor relu(const Tensor& x) {
    const Kernels& k = kernels_for(x.defined() ? x.device() : Device::CPU);
    return activation("relu", x, k.relu_forward, k.relu_backward);
}

Tensor gelu_tanh(const Tensor& x) {
    const Kernels& k = kernels_for(x.defined() ? x.device() : Device::CPU);
    return activation("gelu_tanh", x, k.gelu_forward, k.gelu_backward);
}

Tensor silu(const Tensor& x) {
    const Kernels& k = kernels_for(x.defined() ? x.device() : Device::CPU);
    return activation("silu", x, k.silu_forward, k.silu_backward);
}

// keep[i] = 1 with probability 1 - p, drawn in element order from the global generator.
static std::vector<uint8_t> dropout_mask(size_t n, float p) {
    std::vector<uint8_t> keep(n);
    Rng& rng = global_rng();
    for (size_t i = 0; i < n; i++) keep[i] = rng_uniform(rng) >= p ? 1 : 0;
    return keep;
}

Tensor dropout(const Tensor& x, float p, bool training) {
    check_f32("dropout", x, "x");
    if (!(p >= 0.0f && p < 1.0f)) fail("dropout", "probability out of range (expected 0 <= p < 1, got " + std::to_string(p) + ")");
    if (!training || p == 0.0f) return x;
    const size_t n = (size_t)x.numel();
    const std::vector<uint8_t> keep_host = dropout_mask(n, p);
    Tensor keep = tensor_empty(x.shape(), DType::U8, x.device());
    copy_bytes(keep.u8(), keep.device(), keep_host.data(), Device::CPU, n);
    Tensor out = tensor_empty(x.shape(), DType::F32, x.device());
    const Kernels& k = kernels_for(x.device());
    k.dropout_forward(out.f32(), x.f32(), keep.u8(), p, n);  // out = x * keep / (1 - p)
    if (needs_grad({&x})) {
        record_backward("dropout", out, [x, out, keep, p, n]() {
            // The same mask and scale apply to the gradient: dx = dout * keep / (1 - p).
            const Kernels& k = kernels_for(x.device());
            Tensor dx = tensor_empty(x.shape(), DType::F32, x.device());
            k.dropout_forward(dx.f32(), out.grad(), keep.u8(), p, n);
            k.axpy(x.grad(), 1.0f, dx.f32(), n);
        });
    }
    return out;
}
