// test_emulator.cpp — the CPU emulation of the CUDA execution model (kernels/cuda/cuda_primitives.h) does
// what the CUDA programming guide promises: threads of a block meet at __syncthreads and share __shared__
// memory, lanes of a warp exchange registers through shuffles and votes, blocks cover the grid, and a
// barrier that only part of a block reaches is reported instead of hanging. Built only by make test-emu.
#include <catch2/catch.hpp>

#include <vector>

#include "engine/error.h"
#include "kernels/cuda/cuda_common.h"

// Each block reverses its 64 elements through shared memory: correct only if every write lands before
// any read, i.e. if __syncthreads really waits for the whole block.
__global__ void reverse_in_blocks(float* data) {
    __shared__ float tile[64];
    int i = threadIdx.x;
    float* block_data = data + blockIdx.x * 64;
    tile[i] = block_data[i];
    __syncthreads();
    block_data[i] = tile[63 - i];
}

TEST_CASE("__syncthreads orders shared-memory writes before reads", "[cuda-emu]") {
    std::vector<float> data(3 * 64);
    for (size_t i = 0; i < data.size(); i++) data[i] = float(i);
    launch(3, 64, 0, reverse_in_blocks, data.data());
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 64; i++) REQUIRE(data[b * 64 + i] == float(b * 64 + 63 - i));
}

__global__ void warp_primitives(float* sums, unsigned* ballots, float* from_lane_3, int* any_big, int* all_small) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float value = float(threadIdx.x);
    float total = warp_sum(value);
    unsigned odd_lanes = __ballot_sync(0xffffffffu, lane % 2);
    float third = __shfl_sync(0xffffffffu, value, 3);
    int big = __any_sync(0xffffffffu, threadIdx.x == 40);
    int small = __all_sync(0xffffffffu, lane < 32);
    if (lane == 0) {
        sums[warp] = total;
        ballots[warp] = odd_lanes;
        from_lane_3[warp] = third;
        any_big[warp] = big;
        all_small[warp] = small;
    }
}

TEST_CASE("warp shuffles and votes exchange values among the 32 lanes of each warp", "[cuda-emu]") {
    std::vector<float> sums(2), third(2);
    std::vector<unsigned> ballots(2);
    std::vector<int> any_big(2), all_small(2);
    launch(1, 64, 0, warp_primitives, sums.data(), ballots.data(), third.data(), any_big.data(), all_small.data());
    CHECK(sums[0] == float(31 * 32 / 2));                 // 0 + ... + 31
    CHECK(sums[1] == float(31 * 32 / 2 + 32 * 32));       // 32 + ... + 63
    CHECK(ballots[0] == 0xAAAAAAAAu);
    CHECK(third[0] == 3.0f);
    CHECK(third[1] == 35.0f);
    CHECK(any_big[0] == 0);
    CHECK(any_big[1] == 1);                               // thread 40 lives in warp 1
    CHECK(all_small[0] == 1);
}

__global__ void block_reductions(float* sum_out, float* max_out) {
    float value = float(threadIdx.x + blockIdx.x);
    float total = block_sum(value);
    float best = block_max(value);
    if (threadIdx.x == 0) {
        sum_out[blockIdx.x] = total;
        max_out[blockIdx.x] = best;
    }
}

TEST_CASE("block reductions combine every warp's partial result", "[cuda-emu]") {
    std::vector<float> sums(2), maxes(2);
    launch(2, 256, 0, block_reductions, sums.data(), maxes.data());
    CHECK(sums[0] == float(255 * 256 / 2));
    CHECK(sums[1] == float(255 * 256 / 2 + 256));
    CHECK(maxes[0] == 255.0f);
    CHECK(maxes[1] == 256.0f);
}

__global__ void grid_coordinates(int* seen) {
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
    seen[y * (gridDim.x * blockDim.x) + x] += 1 + int(blockIdx.z);
}

TEST_CASE("a 3-d grid of 2-d blocks visits every thread exactly once", "[cuda-emu]") {
    std::vector<int> seen(8 * 6, 0);
    launch(dim3(2, 3, 2), dim3(4, 2), 0, grid_coordinates, seen.data());
    for (int count : seen) REQUIRE(count == 3);  // z = 0 adds 1, z = 1 adds 2
}

__global__ void dynamic_shared_rotate(float* data, int n) {
    float* buffer = dynamic_shared_floats();
    buffer[threadIdx.x] = data[threadIdx.x];
    __syncthreads();
    data[threadIdx.x] = buffer[(threadIdx.x + 1) % n];
}

TEST_CASE("dynamic shared memory has the size given at launch", "[cuda-emu]") {
    std::vector<float> data = {1, 2, 3, 4, 5};
    launch(1, 5, 5 * sizeof(float), dynamic_shared_rotate, data.data(), 5);
    CHECK(data == std::vector<float>({2, 3, 4, 5, 1}));
}

// Lane 0 waits at the block barrier while lanes 1..31 wait in a shuffle for lane 0: on a GPU this hangs
// (or worse); the emulator names the problem.
__global__ void divergent_barrier(float* out) {
    float value = 1.0f;
    if (threadIdx.x == 0) __syncthreads();
    else value = warp_sum(value);
    out[threadIdx.x] = value;
}

TEST_CASE("a barrier reached by only part of a warp is reported as a deadlock", "[cuda-emu]") {
    std::vector<float> out(32);
    CHECK_THROWS_WITH(launch(1, 32, 0, divergent_barrier, out.data()), Catch::Contains("deadlocked"));
    // The emulator recovers: the next launch runs normally.
    std::vector<float> data(64);
    launch(1, 64, 0, reverse_in_blocks, data.data());
}

// Thread i reads what thread i - 1 wrote, with no barrier in between: a race. It "works" whenever thread
// i - 1 happens to run first, so the emulator must not always run threads in index order.
__global__ void shift_without_barrier(float* data) {
    __shared__ float tile[32];
    int i = threadIdx.x;
    tile[i] = float(blockIdx.x * 100 + i);
    data[blockIdx.x * 32 + i] = i > 0 ? tile[i - 1] : -1.0f;
}

TEST_CASE("a missing barrier shows up because thread order is not fixed", "[cuda-emu]") {
    std::vector<float> data(2 * 32);
    launch(2, 32, 0, shift_without_barrier, data.data());
    int wrong = 0;
    for (int b = 0; b < 2; b++)
        for (int i = 1; i < 32; i++) wrong += data[b * 32 + i] != float(b * 100 + i - 1);
    CHECK(wrong > 0);
}
