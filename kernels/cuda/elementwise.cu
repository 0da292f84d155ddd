// elementwise.cu — the CUDA kernels where each output element depends on a few input elements at the same
// (or a broadcast) position: conversions, add/mul/scale, row broadcasts, activations, dropout, and the
// strided copy that implements transpose/permute/slice. One thread per element in a grid-stride loop:
// consecutive threads touch consecutive addresses, so every warp reads and writes whole cache lines.
// Not here: anything that sums over elements (reductions.cu) or works row by row (norms.cu).
#include <string>

#include "engine/error.h"
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

// GELU tanh approximation constants, as HF "gelu_new" and the CPU reference.
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

__global__ void bf16_to_f32_kernel(float* out, const bf16* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = bf16_to_float(inp[i]);
}
__global__ void f32_to_bf16_kernel(bf16* out, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = float_to_bf16(inp[i]);
}
__global__ void add_kernel(float* out, const float* a, const float* b, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = a[i] + b[i];
}
__global__ void mul_kernel(float* out, const float* a, const float* b, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = a[i] * b[i];
}
__global__ void scale_kernel(float* out, const float* a, float s, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = a[i] * s;
}
__global__ void axpy_kernel(float* y, float alpha, const float* x, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) y[i] += alpha * x[i];
}
__global__ void fill_kernel(float* out, float value, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = value;
}
// out (rows, cols) = a (rows, cols) op row (cols): the row index is just i / cols.
__global__ void add_row_kernel(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    for (size_t i = global_thread(); i < rows * cols; i += grid_threads()) out[i] = a[i] + row[i % cols];
}
__global__ void mul_row_kernel(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    for (size_t i = global_thread(); i < rows * cols; i += grid_threads()) out[i] = a[i] * row[i % cols];
}

// ---- activations: forward and backward side by side ---------------------------------------------------
__global__ void relu_forward_kernel(float* out, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}
__global__ void relu_backward_kernel(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) dinp[i] += inp[i] > 0.0f ? dout[i] : 0.0f;
}
__global__ void gelu_forward_kernel(float* out, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(kGeluScale * (x + kGeluCubic * x * x * x)));
    }
}
// d/dx [0.5 x (1 + tanh u)] = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx
__global__ void gelu_backward_kernel(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        float x = inp[i];
        float tanh_u = tanhf(kGeluScale * (x + kGeluCubic * x * x * x));
        float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + tanh_u) + 0.5f * x * (1.0f - tanh_u * tanh_u) * du_dx);
    }
}
__global__ void silu_forward_kernel(float* out, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = inp[i] / (1.0f + expf(-inp[i]));
}
// d/dx [x sigmoid(x)] = sigmoid (1 + x (1 - sigmoid))
__global__ void silu_backward_kernel(float* dinp, const float* dout, const float* inp, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) {
        float sigmoid = 1.0f / (1.0f + expf(-inp[i]));
        dinp[i] += dout[i] * sigmoid * (1.0f + inp[i] * (1.0f - sigmoid));
    }
}
__global__ void dropout_kernel(float* out, const float* inp, const uint8_t* keep, float keep_scale, size_t n) {
    for (size_t i = global_thread(); i < n; i += grid_threads()) out[i] = keep[i] ? inp[i] * keep_scale : 0.0f;
}

// ---- strided copies ---------------------------------------------------------------------------------
// The layout travels by value in the kernel's arguments (constant memory), so no device copy is needed.
constexpr int kMaxStridedDims = 8;
struct StridedLayout {
    int ndim;
    long shape[kMaxStridedDims];
    long strides[kMaxStridedDims];
    long total;
};

// The input offset of output element `flat` (row-major over shape).
__device__ inline long strided_offset(const StridedLayout& layout, long flat) {
    long offset = 0;
    for (int d = layout.ndim - 1; d >= 0; d--) {
        offset += (flat % layout.shape[d]) * layout.strides[d];
        flat /= layout.shape[d];
    }
    return offset;
}
__global__ void copy_strided_kernel(float* out, const float* inp, StridedLayout layout) {
    for (long i = long(global_thread()); i < layout.total; i += long(grid_threads()))
        out[i] = inp[strided_offset(layout, i)];
}
// Several output positions may map to one input (a broadcast read has stride 0): atomics make the sum right.
__global__ void add_strided_kernel(float* dinp, const float* dout, StridedLayout layout) {
    for (long i = long(global_thread()); i < layout.total; i += long(grid_threads()))
        atomicAdd(&dinp[strided_offset(layout, i)], dout[i]);
}

// Drops size-1 dimensions and merges neighbours that are contiguous with each other (stride[d] ==
// stride[d+1] * shape[d+1]): a permute of a 6-d tensor usually needs 3 dims or fewer, and fewer dims
// means fewer divisions per element.
StridedLayout make_layout(int ndim, const long* shape, const long* strides, const char* where) {
    StridedLayout layout{};
    layout.total = 1;
    for (int d = 0; d < ndim; d++) layout.total *= shape[d];
    long merged_shape[64], merged_strides[64];
    int n = 0;
    for (int d = 0; d < ndim && d < 64; d++) {
        if (shape[d] == 1) continue;
        if (n > 0 && merged_strides[n - 1] == strides[d] * shape[d]) {
            merged_shape[n - 1] *= shape[d];
            merged_strides[n - 1] = strides[d];
        } else {
            merged_shape[n] = shape[d];
            merged_strides[n] = strides[d];
            n++;
        }
    }
    if (n > kMaxStridedDims || ndim > 64) {
        fail(where, "too many non-mergeable dimensions (expected at most " + std::to_string(kMaxStridedDims) +
                    ", got " + std::to_string(n) + ")");
    }
    layout.ndim = n;
    for (int d = 0; d < n; d++) {
        layout.shape[d] = merged_shape[d];
        layout.strides[d] = merged_strides[d];
    }
    return layout;
}

}  // namespace

namespace cuda {

void bf16_to_f32(float* out, const bf16* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, bf16_to_f32_kernel, out, inp, n);
}
void f32_to_bf16(bf16* out, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, f32_to_bf16_kernel, out, inp, n);
}
void add(float* out, const float* a, const float* b, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, add_kernel, out, a, b, n);
}
void mul(float* out, const float* a, const float* b, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, mul_kernel, out, a, b, n);
}
void scale(float* out, const float* a, float s, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, scale_kernel, out, a, s, n);
}
void axpy(float* y, float alpha, const float* x, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, axpy_kernel, y, alpha, x, n);
}
void fill(float* out, float value, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, fill_kernel, out, value, n);
}
void add_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    launch(blocks_for(rows * cols), kBlockThreads, 0, add_row_kernel, out, a, row, rows, cols);
}
void mul_row(float* out, const float* a, const float* row, size_t rows, size_t cols) {
    launch(blocks_for(rows * cols), kBlockThreads, 0, mul_row_kernel, out, a, row, rows, cols);
}
void relu_forward(float* out, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, relu_forward_kernel, out, inp, n);
}
void relu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, relu_backward_kernel, dinp, dout, inp, n);
}
void gelu_forward(float* out, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, gelu_forward_kernel, out, inp, n);
}
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, gelu_backward_kernel, dinp, dout, inp, n);
}
void silu_forward(float* out, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, silu_forward_kernel, out, inp, n);
}
void silu_backward(float* dinp, const float* dout, const float* inp, size_t n) {
    launch(blocks_for(n), kBlockThreads, 0, silu_backward_kernel, dinp, dout, inp, n);
}
void dropout_forward(float* out, const float* inp, const uint8_t* keep, float p, size_t n) {
    float keep_scale = 1.0f / (1.0f - p);  // computed once in f32, as torch and the CPU reference do
    launch(blocks_for(n), kBlockThreads, 0, dropout_kernel, out, inp, keep, keep_scale, n);
}
void copy_strided(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides) {
    StridedLayout layout = make_layout(ndim, shape, inp_strides, "cuda copy_strided");
    launch(blocks_for(size_t(layout.total)), kBlockThreads, 0, copy_strided_kernel, out, inp, layout);
}
void add_strided(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides) {
    StridedLayout layout = make_layout(ndim, shape, inp_strides, "cuda add_strided");
    launch(blocks_for(size_t(layout.total)), kBlockThreads, 0, add_strided_kernel, dinp, dout, layout);
}

}  // namespace cuda
