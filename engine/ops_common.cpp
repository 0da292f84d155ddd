// ops_common.cpp — the shared checks and tape helper of ops_common.h.
#include "engine/ops_common.h"

void check_dtype(const char* op, const Tensor& t, DType dtype, const char* what) {
    if (!t.defined()) fail(op, std::string(what) + " is undefined (expected a " + dtype_name(dtype) + " tensor)");
    if (t.dtype() != dtype) {
        fail(op, std::string(what) + " has the wrong element type (expected " + dtype_name(dtype) + ", got " +
                     dtype_name(t.dtype()) + ")");
    }
}

void check_f32(const char* op, const Tensor& t, const char* what) { check_dtype(op, t, DType::F32, what); }

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
    const Tensor* first = nullptr;
    for (const Tensor* t : tensors) {
        if (!t || !t->defined()) continue;
        if (!first) {
            first = t;
        } else if (t->device() != first->device()) {
            fail(op, "inputs live on different devices (expected all on one device; move them with tensor_to_device)");
        }
    }
}

void check_frozen_if_bf16(const char* op, const Tensor& t, const char* what) {
    if (t.dtype() == DType::BF16 && t.requires_grad()) {
        fail(op, std::string(what) + " is bf16 and requires a gradient (expected a frozen bf16 weight, or convert "
                                     "it with tensor_to_f32 to train it)");
    }
}

void record_backward(const char* op, const Tensor& out, std::function<void()> body) {
    out.data->requires_grad = true;
    tape_push(op, [out, body = std::move(body)]() {
        if (out.has_grad()) body();
    });
}

std::vector<long> contiguous_strides(const std::vector<int64_t>& shape) {
    std::vector<long> strides(shape.size());
    long stride = 1;
    for (int i = (int)shape.size() - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= (long)shape[i];
    }
    return strides;
}

float* grad_or_null(const Tensor& t) { return t.defined() && t.requires_grad() ? t.grad() : nullptr; }

Tensor scratch_like(const Tensor& t) { return tensor_zeros(t.shape(), DType::F32, t.device()); }

float read_scalar(const float* value, Device device) {
    float host = 0.0f;
    copy_bytes(&host, Device::CPU, value, device, sizeof(float));
    return host;
}

std::vector<int32_t> host_i32(const Tensor& t) {
    // Ids uploaded from the host kept a copy there (tensor_keep_host_copy): no copy back from the device.
    const Tensor host = t.data->host_copy ? Tensor{t.data->host_copy} : t;
    std::vector<int32_t> values((size_t)host.numel());
    copy_bytes(values.data(), Device::CPU, host.i32(), host.device(), values.size() * sizeof(int32_t));
    return values;
}
