// ops_layout.cpp — reshape, transpose, permute, slice and concat. Only reshape shares memory; the others
// are one strided copy each (copy_strided: out[idx] = inp[sum idx_i * stride_i]), and their backward is the
// same index map run the other way (add_strided: dinp[sum idx_i * stride_i] += dout[idx]).
#include "engine/ops_common.h"

static int normalize_axis(const char* op, int axis, int ndim) {
    if (axis < -ndim || axis >= ndim) {
        fail(op, "axis " + std::to_string(axis) + " out of range (expected -" + std::to_string(ndim) + " <= axis < " +
                     std::to_string(ndim) + ")");
    }
    return axis < 0 ? axis + ndim : axis;
}

Tensor reshape(const Tensor& a, const std::vector<int64_t>& shape) {
    if (!a.defined()) fail("reshape", "input is undefined");
    std::vector<int64_t> resolved = shape;
    int inferred = -1;
    int64_t known = 1;
    for (size_t i = 0; i < shape.size(); i++) {
        if (shape[i] == -1) {
            if (inferred >= 0) fail("reshape", "at most one -1 allowed (got " + shape_str(shape) + ")");
            inferred = (int)i;
        } else if (shape[i] < 0) {
            fail("reshape", "negative dimension in " + shape_str(shape));
        } else {
            known *= shape[i];
        }
    }
    if (inferred >= 0 && known > 0 && a.numel() % known == 0) resolved[inferred] = a.numel() / known;
    if (shape_numel(resolved) != a.numel() || (inferred >= 0 && known == 0)) {
        fail("reshape", "cannot view " + shape_str(a.shape()) + " as " + shape_str(shape) + " (expected " +
                            std::to_string(a.numel()) + " elements)");
    }
    Tensor out;
    out.data = std::make_shared<TensorData>();
    out.data->shape = resolved;
    out.data->dtype = a.dtype();
    out.data->buffer = a.data->buffer;  // same bytes, new shape; the gradient is separate
    out.data->offset = a.data->offset;
    if (needs_grad({&a})) {
        record_backward("reshape", out, [a, out]() {
            kernels_for(a.device()).axpy(a.grad(), 1.0f, out.grad(), (size_t)a.numel());
        });
    }
    return out;
}

Tensor permute(const Tensor& a, const std::vector<int>& axes) {
    check_f32("permute", a, "a");
    const int nd = a.ndim();
    std::vector<bool> seen(nd, false);
    bool valid = (int)axes.size() == nd;
    for (size_t j = 0; valid && j < axes.size(); j++) {
        valid = axes[j] >= 0 && axes[j] < nd && !seen[axes[j]];
        if (valid) seen[axes[j]] = true;
    }
    if (!valid) {
        std::string listed;
        for (size_t j = 0; j < axes.size(); j++) listed += (j ? ", " : "") + std::to_string(axes[j]);
        fail("permute", "axes must be a permutation of 0.." + std::to_string(nd - 1) + " (got [" + listed + "] for " +
                            shape_str(a.shape()) + ")");
    }
    // Output axis j walks input axis axes[j].
    const std::vector<long> a_strides = contiguous_strides(a.shape());
    std::vector<long> out_shape(nd), read_strides(nd);
    std::vector<int64_t> out_dims(nd);
    for (int j = 0; j < nd; j++) {
        out_dims[j] = a.dim(axes[j]);
        out_shape[j] = (long)out_dims[j];
        read_strides[j] = a_strides[axes[j]];
    }
    Tensor out = tensor_empty(out_dims, DType::F32, a.device());
    kernels_for(a.device()).copy_strided(out.f32(), a.f32(), nd, out_shape.data(), read_strides.data());
    if (needs_grad({&a})) {
        record_backward("permute", out, [a, out, out_shape, read_strides]() {
            kernels_for(a.device()).add_strided(a.grad(), out.grad(), (int)out_shape.size(), out_shape.data(),
                                                read_strides.data());
        });
    }
    return out;
}

Tensor transpose(const Tensor& a, int axis0, int axis1) {
    if (!a.defined()) fail("transpose", "input is undefined");
    std::vector<int> axes(a.ndim());
    for (int i = 0; i < a.ndim(); i++) axes[i] = i;
    std::swap(axes[normalize_axis("transpose", axis0, a.ndim())], axes[normalize_axis("transpose", axis1, a.ndim())]);
    return permute(a, axes);
}

Tensor slice(const Tensor& a, int axis, int64_t start, int64_t end) {
    check_f32("slice", a, "a");
    axis = normalize_axis("slice", axis, a.ndim());
    if (start < 0 || end > a.dim(axis) || start > end) {
        fail("slice", "range [" + std::to_string(start) + ", " + std::to_string(end) + ") does not fit axis " +
                          std::to_string(axis) + " of " + shape_str(a.shape()) + " (expected 0 <= start <= end <= " +
                          std::to_string(a.dim(axis)) + ")");
    }
    std::vector<int64_t> out_dims = a.shape();
    out_dims[axis] = end - start;
    const std::vector<long> read_strides = contiguous_strides(a.shape());
    const std::vector<long> out_shape(out_dims.begin(), out_dims.end());
    const long offset = (long)start * read_strides[axis];  // the slice starts `start` rows into the axis
    Tensor out = tensor_empty(out_dims, DType::F32, a.device());
    kernels_for(a.device()).copy_strided(out.f32(), a.f32() + offset, a.ndim(), out_shape.data(), read_strides.data());
    if (needs_grad({&a})) {
        record_backward("slice", out, [a, out, out_shape, read_strides, offset]() {
            kernels_for(a.device()).add_strided(a.grad() + offset, out.grad(), (int)out_shape.size(), out_shape.data(),
                                                read_strides.data());
        });
    }
    return out;
}

Tensor concat(const std::vector<Tensor>& parts, int axis) {
    if (parts.empty()) fail("concat", "no tensors to concatenate (expected at least 1)");
    for (const Tensor& p : parts) {
        check_f32("concat", p, "every part");
        check_same_device("concat", {&parts[0], &p});
    }
    axis = normalize_axis("concat", axis, parts[0].ndim());
    std::vector<int64_t> out_dims = parts[0].shape();
    out_dims[axis] = 0;
    for (const Tensor& p : parts) {
        std::vector<int64_t> expected = parts[0].shape();
        expected[axis] = p.ndim() == parts[0].ndim() ? p.dim(axis) : -1;
        if (p.shape() != expected) {
            fail("concat", "parts must agree on every axis but " + std::to_string(axis) + " (got " +
                               shape_str(parts[0].shape()) + " and " + shape_str(p.shape()) + ")");
        }
        out_dims[axis] += p.dim(axis);
    }
    // Each part is written into its window of the output: the output's strides, offset along `axis`.
    const std::vector<long> out_strides = contiguous_strides(out_dims);
    Tensor out = tensor_zeros(out_dims, DType::F32, parts[0].device());
    const Kernels& k = kernels_for(out.device());
    std::vector<long> offsets;
    long offset = 0;
    for (const Tensor& p : parts) {
        const std::vector<long> part_shape(p.shape().begin(), p.shape().end());
        // out starts zeroed, so adding the part is writing it.
        k.add_strided(out.f32() + offset, p.f32(), p.ndim(), part_shape.data(), out_strides.data());
        offsets.push_back(offset);
        offset += (long)p.dim(axis) * out_strides[axis];
    }

    bool any_grad = false;
    for (const Tensor& p : parts) any_grad = any_grad || needs_grad({&p});
    if (any_grad) {
        record_backward("concat", out, [parts, out, out_strides, offsets]() {
            const Kernels& k = kernels_for(out.device());
            for (size_t i = 0; i < parts.size(); i++) {
                const Tensor& p = parts[i];
                if (!p.requires_grad()) continue;
                // dpart = the part's window of dout, gathered contiguous, then added.
                const std::vector<long> part_shape(p.shape().begin(), p.shape().end());
                Tensor window = tensor_empty(p.shape(), DType::F32, p.device());
                k.copy_strided(window.f32(), out.grad() + offsets[i], p.ndim(), part_shape.data(), out_strides.data());
                k.axpy(p.grad(), 1.0f, window.f32(), (size_t)p.numel());
            }
        });
    }
    return out;
}
