// ops_sapt.cpp — the ops SAPT's LoRA mix needs beyond the general ones: detach (cut the gradient path, as
// torch.no_grad() does in the official code), scale_column_groups (each task's R columns times that
// example's selection weight) and linear_stacked (all tasks' LoRA matrices in one product, the current
// task's gradient alone). Built from backend kernels, so they run on any device.
#include "engine/ops_common.h"

Tensor detach(const Tensor& a) {
    if (!a.defined()) fail("detach", "tensor is undefined (expected a tensor)");
    auto data = std::make_shared<TensorData>();
    data->shape = a.shape();
    data->dtype = a.dtype();
    data->buffer = a.data->buffer;  // shared: same numbers, no copy
    data->offset = a.data->offset;
    data->name = a.name();
    return Tensor{data};  // requires_grad false and no gradient buffer: the tape never reaches `a` through it
}

Tensor scale_column_groups(const Tensor& h, const Tensor& w, int group_size, float s) {
    check_f32("scale_column_groups", h, "h");
    check_f32("scale_column_groups", w, "w");
    check_same_device("scale_column_groups", {&h, &w});
    if (h.ndim() < 2 || w.ndim() != 2 || group_size <= 0 || w.dim(0) != h.dim(0) ||
        h.dim(-1) != w.dim(1) * group_size) {
        fail("scale_column_groups", "expected h (B, ..., K*G) and w (B, K) with G = " + std::to_string(group_size) +
                                        " (got h " + shape_str(h.shape()) + ", w " + shape_str(w.shape()) + ")");
    }
    const int64_t B = h.dim(0), K = w.dim(1), G = group_size;
    const size_t cols = (size_t)(K * G);
    const size_t per_example = (size_t)(h.numel() / B);  // rows * cols
    const size_t rows = per_example / cols;
    const Kernels& k = kernels_for(h.device());
    // The (B, K*G) column multipliers s * w[b, k]: w with each weight repeated G times (a copy whose
    // stride along the repeat is 0), then scaled — where w lives, so nothing crosses to the host.
    const Tensor m = tensor_empty({B, (int64_t)cols}, DType::F32, h.device());
    const long repeat_shape[3] = {(long)B, (long)K, (long)G}, repeat_strides[3] = {(long)K, 1, 0};
    k.copy_strided(m.f32(), w.f32(), 3, repeat_shape, repeat_strides);
    k.scale(m.f32(), m.f32(), s, (size_t)(B * cols));

    Tensor out = tensor_empty(h.shape(), DType::F32, h.device());
    for (int64_t b = 0; b < B; b++) {
        k.mul_row(out.f32() + b * per_example, h.f32() + b * per_example, m.f32() + b * cols, rows, cols);
    }
    if (needs_grad({&h, &w})) {
        record_backward("scale_column_groups", out, [h, w, out, m, B, K, G, s, cols, rows, per_example]() {
            const Kernels& k = kernels_for(h.device());
            const float* dout = out.grad();
            // dh = dout * multipliers (the forward's own scaling).
            if (h.requires_grad()) {
                Tensor dh = tensor_empty(h.shape(), DType::F32, h.device());
                for (int64_t b = 0; b < B; b++) {
                    k.mul_row(dh.f32() + b * per_example, dout + b * per_example, m.f32() + b * cols, rows, cols);
                }
                k.axpy(h.grad(), 1.0f, dh.f32(), (size_t)h.numel());
            }
            // dw[b, k] = s * sum over rows and the group's G columns of dout * h.
            if (w.requires_grad()) {
                Tensor product = tensor_empty(h.shape(), DType::F32, h.device());
                k.mul(product.f32(), dout, h.f32(), (size_t)h.numel());
                Tensor column_sums = tensor_zeros({B, (int64_t)cols}, DType::F32, h.device());
                for (int64_t b = 0; b < B; b++) {
                    k.sum_rows(column_sums.f32() + b * cols, product.f32() + b * per_example, rows, cols);
                }
                // dw[b, k] = sum over the group's columns of s * column_sums: the group axis moved to the
                // front (G, B*K) so that sum_rows adds the G scaled sums of each (b, k) in column order.
                k.scale(column_sums.f32(), column_sums.f32(), s, (size_t)(B * cols));
                Tensor by_group = tensor_empty({G, B * K}, DType::F32, h.device());
                const long group_shape[2] = {(long)G, (long)(B * K)}, group_strides[2] = {1, (long)G};
                k.copy_strided(by_group.f32(), column_sums.f32(), 2, group_shape, group_strides);
                Tensor dw = tensor_zeros({B, K}, DType::F32, h.device());
                k.sum_rows(dw.f32(), by_group.f32(), (size_t)G, (size_t)(B * K));
                k.axpy(w.grad(), 1.0f, dw.f32(), (size_t)(B * K));
            }
        });
    }
    return out;
}

Tensor linear_stacked(const Tensor& x, const Tensor& trained, const Tensor& frozen, int axis) {
    check_f32("linear_stacked", x, "x");
    check_f32("linear_stacked", trained, "trained");
    check_f32("linear_stacked", frozen, "frozen");
    check_same_device("linear_stacked", {&x, &trained, &frozen});
    if (frozen.requires_grad()) fail("linear_stacked", "frozen must not require a gradient (it gets none)");
    if ((axis != 0 && axis != 1) || trained.ndim() != 2 || frozen.ndim() != 2 ||
        trained.dim(1 - axis) != frozen.dim(1 - axis)) {
        fail("linear_stacked", "expected two (out, in) weights stacked along axis 0 or 1, sharing the other (got "
                               "trained " + shape_str(trained.shape()) + ", frozen " + shape_str(frozen.shape()) +
                               ", axis " + std::to_string(axis) + ")");
    }
    Tensor weight;
    {
        NoGradScope no_grad;  // the stacked copy is a constant of this op; gradients go to `trained` below
        weight = concat({trained, frozen}, axis);
    }
    const int64_t out_width = weight.dim(0), in_width = weight.dim(1);
    if (x.ndim() < 1 || x.dim(-1) != in_width) {
        fail("linear_stacked", "x must end in the weights' input width " + std::to_string(in_width) + " (got " +
                                   shape_str(x.shape()) + ")");
    }
    const int M = (int)(x.numel() / in_width), N = (int)out_width, K = (int)in_width;
    std::vector<int64_t> out_shape(x.shape().begin(), x.shape().end() - 1);
    out_shape.push_back(out_width);
    Tensor out = tensor_empty(out_shape, DType::F32, x.device());
    const Kernels& k = kernels_for(x.device());
    k.gemm(false, true, M, N, K, 1.0f, x.f32(), K, weight.f32(), K, 0.0f, out.f32(), N);

    if (needs_grad({&x, &trained})) {
        record_backward("linear_stacked", out, [x, trained, weight, out, axis, M, N, K]() {
            const Kernels& k = kernels_for(x.device());
            const float* dout = out.grad();  // (M, N)
            // dx (M, K) += dout W: through every stacked task, trained or frozen.
            if (x.requires_grad()) k.gemm(false, false, M, K, N, 1.0f, dout, N, weight.f32(), K, 1.0f, x.grad(), K);
            if (!trained.requires_grad()) return;
            const int rows = (int)trained.dim(0), cols = (int)trained.dim(1);
            if (axis == 0) {
                // trained is W's first `rows` rows: d(trained) (rows, K) += dout[:, :rows]^T x.
                k.gemm(true, false, rows, K, M, 1.0f, dout, N, x.f32(), K, 1.0f, trained.grad(), K);
            } else {
                // trained is W's first `cols` columns: d(trained) (N, cols) += dout^T x[:, :cols].
                k.gemm(true, false, N, cols, M, 1.0f, dout, N, x.f32(), K, 1.0f, trained.grad(), cols);
            }
        });
    }
    return out;
}
