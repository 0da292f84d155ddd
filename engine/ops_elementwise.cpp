// ops_elementwise.cpp — add, sub, mul, scale and per-example weighting (SAPT's task mixing).
// Broadcasting is limited to what the models use: b either has a's shape or is one row (C) repeated over
// every leading position of a (..., C). A broadcast input's gradient is the sum of the gradients of all
// the positions it was repeated to (sum_rows).
#include <algorithm>

#include "engine/ops_common.h"

// True when b is a row broadcast over a; throws when b fits neither rule.
static bool check_broadcast(const char* op, const Tensor& a, const Tensor& b) {
    check_f32(op, a, "a");
    check_f32(op, b, "b");
    check_same_device(op, {&a, &b});
    if (a.shape() == b.shape()) return false;
    if (b.ndim() == 1 && a.ndim() >= 1 && b.dim(0) == a.dim(-1)) return true;
    fail(op, "b must have a's shape or be one row of a's last axis (got a " + shape_str(a.shape()) + ", b " +
                 shape_str(b.shape()) + ")");
}

Tensor add(const Tensor& a, const Tensor& b) {
    const bool row = check_broadcast("add", a, b);
    const size_t n = (size_t)a.numel(), cols = (size_t)b.numel(), rows = row ? n / std::max<size_t>(cols, 1) : 1;
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    if (row) k.add_row(out.f32(), a.f32(), b.f32(), rows, cols);
    else k.add(out.f32(), a.f32(), b.f32(), n);

    if (needs_grad({&a, &b})) {
        record_backward("add", out, [a, b, out, row, n, rows, cols]() {
            const Kernels& k = kernels_for(a.device());
            // out = a + b: both inputs receive dout unchanged (summed over rows for a broadcast b).
            if (a.requires_grad()) k.axpy(a.grad(), 1.0f, out.grad(), n);
            if (b.requires_grad()) {
                if (row) k.sum_rows(b.grad(), out.grad(), rows, cols);
                else k.axpy(b.grad(), 1.0f, out.grad(), n);
            }
        });
    }
    return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
    const bool row = check_broadcast("sub", a, b);
    const size_t n = (size_t)a.numel(), cols = (size_t)b.numel(), rows = row ? n / std::max<size_t>(cols, 1) : 1;
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    // a - b = a + (-b): the backend has no subtraction, and negating b costs one pass.
    Tensor minus_b = tensor_empty(b.shape(), DType::F32, b.device());
    k.scale(minus_b.f32(), b.f32(), -1.0f, (size_t)b.numel());
    if (row) k.add_row(out.f32(), a.f32(), minus_b.f32(), rows, cols);
    else k.add(out.f32(), a.f32(), minus_b.f32(), n);

    if (needs_grad({&a, &b})) {
        record_backward("sub", out, [a, b, out, row, n, rows, cols]() {
            const Kernels& k = kernels_for(a.device());
            if (a.requires_grad()) k.axpy(a.grad(), 1.0f, out.grad(), n);
            if (b.requires_grad()) {
                if (row) {
                    Tensor row_sums = tensor_zeros({(int64_t)cols}, DType::F32, b.device());
                    k.sum_rows(row_sums.f32(), out.grad(), rows, cols);
                    k.axpy(b.grad(), -1.0f, row_sums.f32(), cols);
                } else {
                    k.axpy(b.grad(), -1.0f, out.grad(), n);
                }
            }
        });
    }
    return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
    const bool row = check_broadcast("mul", a, b);
    const size_t n = (size_t)a.numel(), cols = (size_t)b.numel(), rows = row ? n / std::max<size_t>(cols, 1) : 1;
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    if (row) k.mul_row(out.f32(), a.f32(), b.f32(), rows, cols);
    else k.mul(out.f32(), a.f32(), b.f32(), n);

    if (needs_grad({&a, &b})) {
        record_backward("mul", out, [a, b, out, row, n, rows, cols]() {
            const Kernels& k = kernels_for(a.device());
            Tensor product = tensor_empty(a.shape(), DType::F32, a.device());
            // da = dout * b
            if (a.requires_grad()) {
                if (row) k.mul_row(product.f32(), out.grad(), b.f32(), rows, cols);
                else k.mul(product.f32(), out.grad(), b.f32(), n);
                k.axpy(a.grad(), 1.0f, product.f32(), n);
            }
            // db = dout * a (summed over rows for a broadcast b)
            if (b.requires_grad()) {
                k.mul(product.f32(), out.grad(), a.f32(), n);
                if (row) k.sum_rows(b.grad(), product.f32(), rows, cols);
                else k.axpy(b.grad(), 1.0f, product.f32(), n);
            }
        });
    }
    return out;
}

Tensor scale(const Tensor& a, float s) {
    check_f32("scale", a, "a");
    const size_t n = (size_t)a.numel();
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    kernels_for(a.device()).scale(out.f32(), a.f32(), s, n);
    if (needs_grad({&a})) {
        record_backward("scale", out, [a, out, s, n]() {
            kernels_for(a.device()).axpy(a.grad(), s, out.grad(), n);  // da = s * dout
        });
    }
    return out;
}

Tensor mul_per_batch(const Tensor& a, const Tensor& w) {
    check_f32("mul_per_batch", a, "a");
    check_f32("mul_per_batch", w, "w");
    check_same_device("mul_per_batch", {&a, &w});
    if (a.ndim() < 1 || w.numel() != a.dim(0) || w.ndim() < 1 || w.dim(0) != a.dim(0) || a.ndim() < w.ndim()) {
        fail("mul_per_batch", "w must hold one weight per example: (B) or (B, 1, 1) (got a " + shape_str(a.shape()) +
                                  ", w " + shape_str(w.shape()) + ")");
    }
    const int64_t B = a.dim(0);
    const size_t per_example = B == 0 ? 0 : (size_t)(a.numel() / B);  // T * C
    // B weights are read on the host: a handful of floats, and each example is then one scale call.
    const std::vector<float> weights = tensor_values(w);
    Tensor out = tensor_empty(a.shape(), DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    for (int64_t b = 0; b < B; b++) {
        k.scale(out.f32() + b * per_example, a.f32() + b * per_example, weights[b], per_example);
    }

    if (needs_grad({&a, &w})) {
        record_backward("mul_per_batch", out, [a, w, out, weights, B, per_example]() {
            const Kernels& k = kernels_for(a.device());
            const float* dout = out.grad();
            // out[b] = w[b] * a[b]  =>  da[b] = w[b] * dout[b],  dw[b] = sum(dout[b] * a[b]).
            if (a.requires_grad()) {
                for (int64_t b = 0; b < B; b++) k.axpy(a.grad() + b * per_example, weights[b], dout + b * per_example, per_example);
            }
            if (w.requires_grad()) {
                Tensor product = tensor_empty(a.shape(), DType::F32, a.device());
                k.mul(product.f32(), dout, a.f32(), (size_t)a.numel());
                std::vector<float> dw(B);
                for (int64_t b = 0; b < B; b++) dw[b] = (float)k.sum(product.f32() + b * per_example, per_example);
                Tensor dw_on_device = tensor_to_device(tensor_from({B}, dw), w.device());
                k.axpy(w.grad(), 1.0f, dw_on_device.f32(), (size_t)B);
            }
        });
    }
    return out;
}
