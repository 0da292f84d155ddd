// ops_norm.cpp — the row-wise ops over the last axis: softmax, log_softmax, RMSNorm and LayerNorm.
// Each views its input as (N, C) rows. Softmax backward needs only the output; the norms save their
// per-row statistics (rstd, mean) from the forward so that backward does not recompute them.
// A frozen gain (requires_grad false) gets no gradient: the kernels take a null dweight.
#include "engine/ops_common.h"

static void check_rows(const char* op, const Tensor& x) {
    check_f32(op, x, "x");
    if (x.ndim() < 1 || x.dim(-1) == 0) fail(op, "x needs a non-empty last axis (got " + shape_str(x.shape()) + ")");
}

Tensor softmax(const Tensor& a) {
    check_rows("softmax", a);
    const size_t C = (size_t)a.dim(-1), N = (size_t)a.numel() / C;
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    kernels_for(a.device()).softmax_forward(out.f32(), a.f32(), N, C);
    if (needs_grad({&a})) {
        record_backward("softmax", out, [a, out, N, C]() {
            // dinp = p * (dout - sum(dout * p))
            kernels_for(a.device()).softmax_backward(a.grad(), out.grad(), out.f32(), N, C);
        });
    }
    return out;
}

Tensor log_softmax(const Tensor& a) {
    check_rows("log_softmax", a);
    const size_t C = (size_t)a.dim(-1), N = (size_t)a.numel() / C;
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    kernels_for(a.device()).log_softmax_forward(out.f32(), a.f32(), N, C);
    if (needs_grad({&a})) {
        record_backward("log_softmax", out, [a, out, N, C]() {
            // dinp = dout - exp(out) * sum(dout)
            kernels_for(a.device()).log_softmax_backward(a.grad(), out.grad(), out.f32(), N, C);
        });
    }
    return out;
}

static void check_gain(const char* op, const Tensor& x, const Tensor& w, const char* what) {
    check_f32(op, w, what);
    check_same_device(op, {&x, &w});
    if (w.ndim() != 1 || w.dim(0) != x.dim(-1)) {
        fail(op, std::string(what) + " must be (C) with C = " + std::to_string(x.dim(-1)) + " (got " +
                     shape_str(w.shape()) + " for x " + shape_str(x.shape()) + ")");
    }
}

// T5 / LLaMA: out = x / sqrt(mean(x^2) + eps) * weight (no mean subtraction, no bias).
Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps) {
    check_rows("rms_norm", x);
    check_gain("rms_norm", x, weight, "weight");
    const size_t C = (size_t)x.dim(-1), N = (size_t)x.numel() / C;
    Tensor out = tensor_empty(x.shape(), DType::F32, x.device());
    Tensor rstd = tensor_empty({(int64_t)N}, DType::F32, x.device());
    kernels_for(x.device()).rmsnorm_forward(out.f32(), rstd.f32(), x.f32(), weight.f32(), N, C, eps);
    if (needs_grad({&x, &weight})) {
        record_backward("rms_norm", out, [x, weight, out, rstd, N, C]() {
            // The kernel always writes an input gradient; a constant x gets a throwaway one.
            Tensor dx_scratch = x.requires_grad() ? Tensor{} : scratch_like(x);
            float* dx = x.requires_grad() ? x.grad() : dx_scratch.f32();
            kernels_for(x.device()).rmsnorm_backward(dx, grad_or_null(weight), out.grad(), x.f32(), weight.f32(),
                                                     rstd.f32(), N, C);
        });
    }
    return out;
}

// torch.nn.LayerNorm: out = (x - mean) / sqrt(var + eps) * weight + bias, var biased (divides by C).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps) {
    check_rows("layer_norm", x);
    check_gain("layer_norm", x, weight, "weight");
    check_gain("layer_norm", x, bias, "bias");
    const size_t C = (size_t)x.dim(-1), N = (size_t)x.numel() / C;
    Tensor out = tensor_empty(x.shape(), DType::F32, x.device());
    Tensor mean = tensor_empty({(int64_t)N}, DType::F32, x.device());
    Tensor rstd = tensor_empty({(int64_t)N}, DType::F32, x.device());
    kernels_for(x.device()).layernorm_forward(out.f32(), mean.f32(), rstd.f32(), x.f32(), weight.f32(), bias.f32(),
                                              N, C, eps);
    if (needs_grad({&x, &weight, &bias})) {
        record_backward("layer_norm", out, [x, weight, bias, out, mean, rstd, N, C]() {
            Tensor dx_scratch = x.requires_grad() ? Tensor{} : scratch_like(x);
            float* dx = x.requires_grad() ? x.grad() : dx_scratch.f32();
            kernels_for(x.device()).layernorm_backward(dx, grad_or_null(weight), grad_or_null(bias), out.grad(),
                                                       x.f32(), weight.f32(), mean.f32(), rstd.f32(), N, C);
        });
    }
    return out;
}
