// tensor.cpp — buffers, tensors, construction and conversion (see tensor.h). A buffer's bytes come from the
// backend of its device (engine/backend.h: 64-byte aligned heap blocks on the CPU, the caching allocator on a
// GPU), and kernels_for asks the same registry. No op and no autograd here.
#include "engine/tensor.h"

#include <atomic>
#include <cstring>

#include "engine/backend.h"
#include "engine/device.h"
#include "engine/error.h"

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::F32: return 4;
        case DType::BF16: return 2;
        case DType::I32: return 4;
        case DType::U8: return 1;
    }
    fail("dtype_size", "unknown dtype");
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32: return "f32";
        case DType::BF16: return "bf16";
        case DType::I32: return "i32";
        case DType::U8: return "u8";
    }
    return "unknown";
}

const Kernels& kernels_for(Device device) { return *backend_for(device).kernels; }

// ---- buffers -------------------------------------------------------------------------------------------

// The requested sizes (not the allocator's rounding), per device: index 0 host, 1 GPU.
static std::atomic<size_t> bytes_live[2], bytes_peak[2];

static int device_index(Device device) { return device == Device::CPU ? 0 : 1; }

static void count_alloc(Device device, size_t bytes) {
    const int d = device_index(device);
    const size_t now = bytes_live[d].fetch_add(bytes) + bytes;
    size_t peak = bytes_peak[d].load();
    while (now > peak && !bytes_peak[d].compare_exchange_weak(peak, now)) {
    }
}

size_t tensor_bytes_live(Device device) { return bytes_live[device_index(device)].load(); }
size_t tensor_bytes_peak(Device device) { return bytes_peak[device_index(device)].load(); }
void tensor_bytes_reset_peak(Device device) {
    bytes_peak[device_index(device)].store(bytes_live[device_index(device)].load());
}

// Allocates without clearing: most op outputs are overwritten in full right away.
static std::shared_ptr<Buffer> buffer_alloc_uninitialized(size_t bytes, Device device) {
    const Backend& backend = backend_for(device);
    auto buffer = std::make_shared<Buffer>();
    buffer->bytes = bytes;
    buffer->device = device;
    buffer->data = backend.alloc(bytes);
    count_alloc(device, bytes);
    const int d = device_index(device);
    void (*release)(void*) = backend.free;
    buffer->owner = std::shared_ptr<void>(buffer->data, [bytes, d, release](void* p) {
        bytes_live[d].fetch_sub(bytes);
        release(p);
    });
    return buffer;
}

std::shared_ptr<Buffer> buffer_alloc(size_t bytes, Device device) {
    auto buffer = buffer_alloc_uninitialized(bytes, device);
    backend_for(device).zero(buffer->data, bytes);
    return buffer;
}

std::shared_ptr<Buffer> buffer_wrap(void* data, size_t bytes, std::shared_ptr<void> owner) {
    auto buffer = std::make_shared<Buffer>();
    buffer->data = data;
    buffer->bytes = bytes;
    buffer->device = Device::CPU;
    buffer->owner = std::move(owner);
    return buffer;
}

// Host memory is where every backend copies in from and out to; two different devices meet through it.
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
    if (bytes == 0) return;
    if (dst_dev == Device::CPU && src_dev == Device::CPU) {
        std::memcpy(dst, src, bytes);
    } else if (src_dev == Device::CPU) {
        backend_for(dst_dev).copy_in(dst, src, bytes);
    } else if (dst_dev == Device::CPU) {
        backend_for(src_dev).copy_out(dst, src, bytes);
    } else if (dst_dev == src_dev) {
        backend_for(dst_dev).copy_within(dst, src, bytes);
    } else {
        std::vector<unsigned char> staging(bytes);
        backend_for(src_dev).copy_out(staging.data(), src, bytes);
        backend_for(dst_dev).copy_in(dst, staging.data(), bytes);
    }
}

// ---- the Tensor handle ---------------------------------------------------------------------------------

int64_t shape_numel(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); i++) {
        if (i > 0) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + ")";
}

int64_t Tensor::dim(int i) const {
    int n = ndim();
    if (i < -n || i >= n) {
        fail("Tensor::dim", "axis " + std::to_string(i) + " out of range for shape " + shape_str(shape()));
    }
    return data->shape[i < 0 ? i + n : i];
}

int64_t Tensor::numel() const { return shape_numel(data->shape); }

static void check_dtype(const Tensor& t, DType expected) {
    if (t.dtype() != expected) {
        std::string who = t.name().empty() ? "tensor" : "tensor '" + t.name() + "'";
        fail(who, std::string("wrong element type (expected ") + dtype_name(expected) + ", got " +
                      dtype_name(t.dtype()) + ")");
    }
}

float* Tensor::f32() const { check_dtype(*this, DType::F32); return (float*)raw(); }
bf16* Tensor::bf16_data() const { check_dtype(*this, DType::BF16); return (bf16*)raw(); }
int32_t* Tensor::i32() const { check_dtype(*this, DType::I32); return (int32_t*)raw(); }
uint8_t* Tensor::u8() const { check_dtype(*this, DType::U8); return (uint8_t*)raw(); }

float* Tensor::grad() const {
    if (!data->grad) data->grad = buffer_alloc((size_t)numel() * sizeof(float), device());
    return (float*)data->grad->data;
}

void Tensor::zero_grad() const {
    if (data->grad) kernels_for(device()).fill((float*)data->grad->data, 0.0f, (size_t)numel());
}

// ---- construction --------------------------------------------------------------------------------------

static void check_shape(const char* where, const std::vector<int64_t>& shape) {
    for (int64_t d : shape) {
        if (d < 0) fail(where, "negative dimension in shape " + shape_str(shape));
    }
}

static Tensor tensor_on(const std::vector<int64_t>& shape, DType dtype, std::shared_ptr<Buffer> buffer) {
    Tensor t;
    t.data = std::make_shared<TensorData>();
    t.data->shape = shape;
    t.data->dtype = dtype;
    t.data->buffer = std::move(buffer);
    return t;
}

Tensor tensor_empty(const std::vector<int64_t>& shape, DType dtype, Device device) {
    check_shape("tensor_empty", shape);
    size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
    return tensor_on(shape, dtype, buffer_alloc_uninitialized(bytes, device));
}

Tensor tensor_zeros(const std::vector<int64_t>& shape, DType dtype, Device device) {
    check_shape("tensor_zeros", shape);
    size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
    return tensor_on(shape, dtype, buffer_alloc(bytes, device));
}

Tensor tensor_full(const std::vector<int64_t>& shape, float value) {
    Tensor t = tensor_empty(shape);
    cpu_kernels.fill(t.f32(), value, (size_t)t.numel());
    return t;
}

Tensor tensor_from(const std::vector<int64_t>& shape, const std::vector<float>& values) {
    check_shape("tensor_from", shape);
    if ((int64_t)values.size() != shape_numel(shape)) {
        fail("tensor_from", "value count does not match shape " + shape_str(shape) + " (expected " +
                                std::to_string(shape_numel(shape)) + ", got " + std::to_string(values.size()) + ")");
    }
    Tensor t = tensor_empty(shape);
    std::memcpy(t.raw(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor tensor_from_i32(const std::vector<int64_t>& shape, const std::vector<int32_t>& values) {
    check_shape("tensor_from_i32", shape);
    if ((int64_t)values.size() != shape_numel(shape)) {
        fail("tensor_from_i32", "value count does not match shape " + shape_str(shape) + " (expected " +
                                    std::to_string(shape_numel(shape)) + ", got " + std::to_string(values.size()) + ")");
    }
    Tensor t = tensor_empty(shape, DType::I32);
    std::memcpy(t.raw(), values.data(), values.size() * sizeof(int32_t));
    return t;
}

Tensor tensor_view(const std::vector<int64_t>& shape, DType dtype, void* data, std::shared_ptr<void> owner) {
    check_shape("tensor_view", shape);
    size_t bytes = (size_t)shape_numel(shape) * dtype_size(dtype);
    return tensor_on(shape, dtype, buffer_wrap(data, bytes, std::move(owner)));
}

Tensor tensor_clone(const Tensor& t) {
    Tensor copy = tensor_empty(t.shape(), t.dtype(), t.device());
    copy_bytes(copy.raw(), copy.device(), t.raw(), t.device(), (size_t)t.numel() * dtype_size(t.dtype()));
    copy.data->name = t.name();
    return copy;
}

Tensor tensor_to_f32(const Tensor& t) {
    if (t.dtype() == DType::F32) return t;
    if (t.dtype() != DType::BF16) {
        fail("tensor_to_f32", std::string("only bf16 converts to f32 (got ") + dtype_name(t.dtype()) + ")");
    }
    Tensor out = tensor_empty(t.shape(), DType::F32, t.device());
    kernels_for(t.device()).bf16_to_f32(out.f32(), t.bf16_data(), (size_t)t.numel());
    out.data->name = t.name();
    return out;
}

Tensor tensor_to_bf16(const Tensor& t) {
    if (t.dtype() == DType::BF16) return t;
    if (t.dtype() != DType::F32) {
        fail("tensor_to_bf16", std::string("only f32 converts to bf16 (got ") + dtype_name(t.dtype()) + ")");
    }
    Tensor out = tensor_empty(t.shape(), DType::BF16, t.device());
    kernels_for(t.device()).f32_to_bf16(out.bf16_data(), t.f32(), (size_t)t.numel());
    out.data->name = t.name();
    return out;
}

// The copy is a new leaf: it keeps the name and requires_grad (a parameter moved to the GPU stays
// trainable) but not the gradient.
Tensor tensor_to_device(const Tensor& t, Device device) {
    if (t.device() == device) return t;
    if (device == Device::CPU && t.data->host_copy) return Tensor{t.data->host_copy};
    Tensor out = tensor_empty(t.shape(), t.dtype(), device);
    copy_bytes(out.raw(), device, t.raw(), t.device(), (size_t)t.numel() * dtype_size(t.dtype()));
    out.data->name = t.name();
    out.data->requires_grad = t.requires_grad();
    if (t.device() == Device::CPU) tensor_keep_host_copy(out, t);
    return out;
}

void tensor_keep_host_copy(const Tensor& device_ids, const Tensor& host_ids) {
    if (device_ids.device() == Device::CPU || host_ids.device() != Device::CPU) return;
    if (device_ids.dtype() != DType::I32 && device_ids.dtype() != DType::U8) return;
    // A copy of its own: the caller may reuse or change its host tensor afterwards.
    device_ids.data->host_copy = tensor_clone(host_ids).data;
}

std::vector<float> tensor_values(const Tensor& t) {
    Tensor host = tensor_to_device(t, Device::CPU);
    size_t n = (size_t)host.numel();
    std::vector<float> values(n);
    switch (host.dtype()) {
        case DType::F32: std::memcpy(values.data(), host.raw(), n * sizeof(float)); break;
        case DType::BF16: cpu_kernels.bf16_to_f32(values.data(), host.bf16_data(), n); break;
        case DType::I32: {
            const int32_t* ints = host.i32();
            for (size_t i = 0; i < n; i++) values[i] = (float)ints[i];
            break;
        }
        case DType::U8: {
            const uint8_t* bytes = host.u8();
            for (size_t i = 0; i < n; i++) values[i] = (float)bytes[i];
            break;
        }
    }
    return values;
}
