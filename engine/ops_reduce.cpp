// ops_reduce.cpp — sum, mean and sum over one axis. Whole-tensor sums accumulate in double (the
// kernel's sum) so that a loss summed over many elements is not at the mercy of f32 rounding order.
// Backward of a sum spreads dout back to every element it summed.
#include "engine/ops_common.h"

// da += g at every element (the gradient of a sum, times the constant `factor`).
static void spread_scalar_grad(const Tensor& a, const Tensor& out, float factor) {
    const Kernels& k = kernels_for(a.device());
    const size_t n = (size_t)a.numel();
    Tensor filled = tensor_empty(a.shape(), DType::F32, a.device());
    k.fill(filled.f32(), factor * read_scalar(out.grad(), out.device()), n);
    k.axpy(a.grad(), 1.0f, filled.f32(), n);
}

Tensor sum(const Tensor& a) {
    check_f32("sum", a, "a");
    const Kernels& k = kernels_for(a.device());
    Tensor out = tensor_empty({1}, DType::F32, a.device());
    k.fill(out.f32(), (float)k.sum(a.f32(), (size_t)a.numel()), 1);
    if (needs_grad({&a})) {
        record_backward("sum", out, [a, out]() { spread_scalar_grad(a, out, 1.0f); });
    }
    return out;
}

Tensor mean(const Tensor& a) {
    check_f32("mean", a, "a");
    if (a.numel() == 0) fail("mean", "mean of an empty tensor (got shape " + shape_str(a.shape()) + ")");
    const Kernels& k = kernels_for(a.device());
    const double n = (double)a.numel();
    Tensor out = tensor_empty({1}, DType::F32, a.device());
    k.fill(out.f32(), (float)(k.sum(a.f32(), (size_t)a.numel()) / n), 1);
    if (needs_grad({&a})) {
        record_backward("mean", out, [a, out, n]() { spread_scalar_grad(a, out, (float)(1.0 / n)); });
    }
    return out;
}

Tensor sum_axis(const Tensor& a, int axis) {
    check_f32("sum_axis", a, "a");
    const int nd = a.ndim();
    if (axis < -nd || axis >= nd) {
        fail("sum_axis", "axis " + std::to_string(axis) + " out of range for shape " + shape_str(a.shape()));
    }
    if (axis < 0) axis += nd;
    // View a as (outer, L, inner): out (outer, inner) sums the L rows of each outer block.
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= a.dim(i);
    for (int i = axis + 1; i < nd; i++) inner *= a.dim(i);
    const int64_t L = a.dim(axis);
    std::vector<int64_t> out_shape;
    for (int i = 0; i < nd; i++) {
        if (i != axis) out_shape.push_back(a.dim(i));
    }
    Tensor out = tensor_zeros(out_shape, DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    for (int64_t o = 0; o < outer; o++) k.sum_rows(out.f32() + o * inner, a.f32() + o * L * inner, (size_t)L, (size_t)inner);

    if (needs_grad({&a})) {
        record_backward("sum_axis", out, [a, out, outer, L, inner]() {
            const Kernels& k = kernels_for(a.device());
            // Each of the L rows of a block received the block's dout row.
            for (int64_t o = 0; o < outer; o++) {
                float* da = a.grad() + o * L * inner;
                k.add_row(da, da, out.grad() + o * inner, (size_t)L, (size_t)inner);
            }
        });
    }
    return out;
}
