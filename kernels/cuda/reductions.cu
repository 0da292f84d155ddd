// reductions.cu — sums: over every element (sum, sum_squares: double, returned to the host) and over the
// rows of a matrix (sum_rows, the gradient of a broadcast bias). Both are deterministic: a fixed grid,
// a fixed reduction tree, no atomics, so a training run gives the same bits every time.
// Not here: row-wise sums that feed a normalisation (norms.cu, softmax_loss.cu).
#include <vector>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace {

// Block of (32, 8) threads over a tile of 32 columns: lane x owns column tile*32 + x, and the 8 rows of
// threads split the rows (y, y + 8, ...). Reading row-major (rows, cols), a warp (fixed y) reads 32
// neighbouring floats: one cache line. Then the 8 partial sums of a column meet in shared memory.
constexpr int kColumnsPerBlock = 32, kRowGroups = 8;

__global__ void sum_rows_kernel(float* drow, const float* dout, size_t rows, size_t cols) {
    __shared__ float partial[kRowGroups][kColumnsPerBlock + 1];  // +1: no bank conflicts on the column read
    size_t col = size_t(blockIdx.x) * kColumnsPerBlock + threadIdx.x;
    float total = 0.0f;
    if (col < cols)
        for (size_t r = threadIdx.y; r < rows; r += kRowGroups) total += dout[r * cols + col];
    partial[threadIdx.y][threadIdx.x] = total;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        for (int g = 1; g < kRowGroups; g++) total += partial[g][threadIdx.x];
        drow[col] += total;
    }
}

// Each block writes the double sum of its grid-stride share; the host adds the blocks' partial sums.
__global__ void sum_kernel(double* partial, const float* x, size_t n, bool squares) {
    double total = 0.0;
    for (size_t i = global_thread(); i < n; i += grid_threads()) total += squares ? double(x[i]) * x[i] : x[i];
    total = block_sum(total);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// One block adds the partial sums in index order: the same bits every run.
__global__ void add_partials_kernel(double* out, const double* partial, unsigned n_partial) {
    double total = 0.0;
    for (unsigned i = threadIdx.x; i < n_partial; i += blockDim.x) total += partial[i];
    total = block_sum(total);
    if (threadIdx.x == 0) *out = total;
}

unsigned reduction_blocks(size_t n) {
    unsigned blocks = blocks_for(n);
    return blocks > 256 ? 256 : blocks;  // 256 blocks fill a GPU; fewer partials to add
}

double sum_on_device(const float* x, size_t n, bool squares) {
    if (n == 0) return 0.0;
    unsigned blocks = reduction_blocks(n);
    DeviceScratch partial(blocks * sizeof(double));
    launch(blocks, kBlockThreads, 0, sum_kernel, (double*)partial.ptr, x, n, squares);
    std::vector<double> host(blocks);
    copy_to_host(host.data(), partial.ptr, blocks * sizeof(double));
    double total = 0.0;
    for (double value : host) total += value;
    return total;
}

}  // namespace

namespace cuda {

void sum_rows(float* drow, const float* dout, size_t rows, size_t cols) {
    unsigned tiles = unsigned((cols + kColumnsPerBlock - 1) / kColumnsPerBlock);
    launch(tiles, dim3(kColumnsPerBlock, kRowGroups), 0, sum_rows_kernel, drow, dout, rows, cols);
}
double sum(const float* x, size_t n) { return sum_on_device(x, n, false); }
void sum_squares_to(double* out, const float* x, size_t n) {
    if (n == 0) {
        launch(1, kBlockThreads, 0, add_partials_kernel, out, (const double*)nullptr, 0u);
        return;
    }
    unsigned blocks = reduction_blocks(n);
    DeviceScratch partial(blocks * sizeof(double));
    launch(blocks, kBlockThreads, 0, sum_kernel, (double*)partial.ptr, x, n, true);
    launch(1, kBlockThreads, 0, add_partials_kernel, out, (const double*)partial.ptr, blocks);
}
double sum_squares(const float* x, size_t n) { return sum_on_device(x, n, true); }

}  // namespace cuda
