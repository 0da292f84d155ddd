// test_cuda_kernels.cpp — the CUDA backend against the CPU oracle: every kernel of cuda_kernels on random
// shapes (odd ones included), forward and backward, with guard bytes around every device buffer
// (compare_backend, tests/kernel_checks.h); the GEMM precision modes; the caching allocator.
// One source, two runs: on a GPU (make test-cuda) and under the CPU emulation (make test-emu).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "tests/cuda/cuda_checks.h"

TEST_CASE("every CUDA kernel matches the CPU reference", "[cuda]") {
    // Names are substrings of Kernels field names: "add" also runs add_row and add_strided, and so on.
    const char* groups[] = {"bf16_to_f32", "f32_to_bf16", "gemm", "add", "mul", "scale", "axpy", "fill", "sum",
                            "relu", "gelu", "silu", "dropout", "copy_strided", "softmax", "rmsnorm", "layernorm",
                            "embedding", "rope", "maxpool", "attention", "cross_entropy", "kl_div", "adamw"};
    for (const char* group : groups) {
        DYNAMIC_SECTION(group) { check_cuda_kernels(group); }
    }
}

// Host copies of a device array.
static std::vector<float> to_host(const float* device, size_t n) {
    std::vector<float> host(n);
    cuda_test_to_host(host.data(), device, n * sizeof(float));
    return host;
}
static void* to_device(const void* host, size_t bytes) {
    void* device = device_alloc(bytes);
    cuda_test_to_device(device, host, bytes);
    return device;
}

// Restores the precision in force when the test ends, even when a check fails.
struct PrecisionScope {
    GemmPrecision saved = cuda_gemm_precision();
    explicit PrecisionScope(GemmPrecision p) { cuda_set_gemm_precision(p); }
    ~PrecisionScope() { cuda_set_gemm_precision(saved); }
};

TEST_CASE("bf16 GEMM mode equals an f32 GEMM of bf16-rounded activations", "[cuda]") {
    // x W^T with x (M, K) f32 and W (N, K) bf16: the tensor-core path rounds x to bf16 and sums in f32,
    // so the reference is the CPU gemm_bf16b applied to a bf16-rounded copy of x.
    const int M = 37, N = 29, K = 70;
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> x(M * K), w_f32(N * K), rounded(M * K), expected(M * N), c(M * N, 0.0f);
    for (float& value : x) value = dist(rng);
    for (float& value : w_f32) value = dist(rng);
    std::vector<bf16> w(N * K), x_bf16(M * K);
    cpu_reference_kernels.f32_to_bf16(w.data(), w_f32.data(), w.size());
    cpu_reference_kernels.f32_to_bf16(x_bf16.data(), x.data(), x.size());
    cpu_reference_kernels.bf16_to_f32(rounded.data(), x_bf16.data(), x.size());
    cpu_reference_kernels.gemm_bf16b(false, true, M, N, K, 1.0f, rounded.data(), K, w.data(), K, 0.0f,
                                     expected.data(), N);

    PrecisionScope scope(GemmPrecision::BF16);
    void* x_dev = to_device(x.data(), x.size() * sizeof(float));
    void* w_dev = to_device(w.data(), w.size() * sizeof(bf16));
    void* c_dev = to_device(c.data(), c.size() * sizeof(float));
    cuda_kernels.gemm_bf16b(false, true, M, N, K, 1.0f, (const float*)x_dev, K, (const bf16*)w_dev, K, 0.0f,
                            (float*)c_dev, N);
    std::vector<float> got = to_host((const float*)c_dev, c.size());
    for (size_t i = 0; i < got.size(); i++) REQUIRE(std::fabs(got[i] - expected[i]) <= 1e-4f);
    // And the rounding matters: the unrounded product differs by more than the tolerance somewhere.
    std::vector<float> exact(M * N);
    cpu_reference_kernels.gemm_bf16b(false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, exact.data(), N);
    float largest_gap = 0.0f;
    for (size_t i = 0; i < exact.size(); i++) largest_gap = std::fmax(largest_gap, std::fabs(exact[i] - expected[i]));
    CHECK(largest_gap > 1e-3f);
    device_free(x_dev);
    device_free(w_dev);
    device_free(c_dev);
}

TEST_CASE("tf32 GEMM mode stays within tf32 rounding of the f32 product", "[cuda]") {
    const int M = 64, N = 48, K = 256;
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> a(M * K), b(K * N), expected(M * N), c(M * N, 0.0f);
    for (float& value : a) value = dist(rng);
    for (float& value : b) value = dist(rng);
    cpu_reference_kernels.gemm(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, expected.data(), N);

    PrecisionScope scope(GemmPrecision::TF32);
    void* a_dev = to_device(a.data(), a.size() * sizeof(float));
    void* b_dev = to_device(b.data(), b.size() * sizeof(float));
    void* c_dev = to_device(c.data(), c.size() * sizeof(float));
    cuda_kernels.gemm(false, false, M, N, K, 1.0f, (const float*)a_dev, K, (const float*)b_dev, N, 0.0f,
                      (float*)c_dev, N);
    std::vector<float> got = to_host((const float*)c_dev, c.size());
    // tf32 keeps 10 mantissa bits: each product is off by up to ~2^-10 relative; K = 256 terms of size <= 1.
    for (size_t i = 0; i < got.size(); i++) REQUIRE(std::fabs(got[i] - expected[i]) <= 0.05f);
    device_free(a_dev);
    device_free(b_dev);
    device_free(c_dev);
}

TEST_CASE("the caching allocator reuses a freed block of the same rounded size", "[cuda]") {
    void* first = device_alloc(1000);
    device_free(first);
    void* second = device_alloc(900);  // rounds to the same 1 KiB class
    CHECK(second == first);
    void* third = device_alloc(900);   // the cached block is taken: a new one
    CHECK(third != second);
    device_free(second);
    device_free(third);
    CHECK_THROWS_WITH(device_free(reinterpret_cast<void*>(0x1234)), Catch::Contains("not allocated by device_alloc"));
}

TEST_CASE("device_copy moves bytes both ways and device_zero clears them", "[cuda]") {
    std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f};
    void* device = to_device(values.data(), values.size() * sizeof(float));
    CHECK(to_host((const float*)device, values.size()) == values);
    device_zero(device, values.size() * sizeof(float));
    CHECK(to_host((const float*)device, values.size()) == std::vector<float>(values.size(), 0.0f));
    device_free(device);
}
