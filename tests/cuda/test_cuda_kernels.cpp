// test_cuda_kernels.cpp — what the CUDA backend adds to the conformance test (kernel_checks_conformance.cpp,
// which holds every kernel of cuda_kernels to the CPU oracle): both attention paths forced, long and wide
// attention shapes, the GEMM precision modes, the caching allocator.
// One source, two runs: on a GPU (make test-cuda) and under the CPU emulation (make test-emu).
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "tests/cuda/cuda_checks.h"

TEST_CASE("both attention paths, fused kernel and cuBLAS products, match the CPU reference", "[cuda]") {
    // The conformance test (tests/kernel_checks_conformance.cpp) runs every kernel of cuda_kernels with the
    // Auto choice (the fused kernel at these short sizes); here each path is forced.
    SECTION("fused") {
        AttentionPathScope scope(CudaAttentionPath::Fused);
        check_cuda_kernels("attention");
    }
    SECTION("gemm") {
        AttentionPathScope scope(CudaAttentionPath::Gemm);
        check_cuda_kernels("attention");
    }
    SECTION("gemm, query rows in blocks") {
        // A 1-byte budget: one query row per block, so every case runs as Tq blocks of one row each.
        AttentionPathScope scope(CudaAttentionPath::Gemm);
        ScoreBudgetScope budget(1);
        check_cuda_kernels("attention");
    }
}

// Host copies of a device array.
static std::vector<float> to_host(const float* device, size_t n) {
    std::vector<float> host(n);
    cuda_test_to_host(host.data(), device, n * sizeof(float));
    return host;
}
static void* to_device(const void* host, size_t bytes) {
    void* device = cuda_alloc(bytes);
    cuda_test_to_device(device, host, bytes);
    return device;
}

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
    cuda_free(x_dev);
    cuda_free(w_dev);
    cuda_free(c_dev);
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
    cuda_free(a_dev);
    cuda_free(b_dev);
    cuda_free(c_dev);
}

TEST_CASE("the caching allocator reuses a freed block of the same rounded size", "[cuda]") {
    void* first = cuda_alloc(1000);
    cuda_free(first);
    void* second = cuda_alloc(900);  // rounds to the same 1 KiB class
    CHECK(second == first);
    void* third = cuda_alloc(900);   // the cached block is taken: a new one
    CHECK(third != second);
    cuda_free(second);
    cuda_free(third);
    CHECK_THROWS_WITH(cuda_free(reinterpret_cast<void*>(0x1234)), Catch::Contains("not allocated by cuda_alloc"));
}

TEST_CASE("cuda_copy moves bytes both ways and cuda_zero clears them", "[cuda]") {
    std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f};
    void* device = to_device(values.data(), values.size() * sizeof(float));
    CHECK(to_host((const float*)device, values.size()) == values);
    cuda_zero(device, values.size() * sizeof(float));
    CHECK(to_host((const float*)device, values.size()) == std::vector<float>(values.size(), 0.0f));
    cuda_free(device);
}

// Largest |a - b| over two arrays, relative to the largest |b|.
static double relative_gap(const std::vector<float>& a, const std::vector<float>& b) {
    double gap = 0.0, scale = 1e-30;
    for (size_t i = 0; i < a.size(); i++) {
        gap = std::fmax(gap, std::fabs(double(a[i]) - b[i]));
        scale = std::fmax(scale, std::fabs(double(b[i])));
    }
    return gap / scale;
}

// Forward and backward of one attention shape on the device against the CPU reference: pos_bias and its
// gradient, and a padding mask on batch 1 (its keys from 3/4 of Tk on).
static void check_attention_shape(const AttentionShape& s, CudaAttentionPath path_kind) {
    AttentionPathScope path(path_kind);
    INFO((path_kind == CudaAttentionPath::Fused ? "fused kernel" : "cuBLAS products"));
    size_t q_size = size_t(s.B) * s.Tq * s.Hq * s.D, kv_size = size_t(s.B) * s.Tk * s.Hkv * s.D;
    size_t bias_size = size_t(s.Hq) * s.Tq * s.Tk, lse_size = size_t(s.B) * s.Hq * s.Tq;
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    auto random = [&](size_t n) {
        std::vector<float> values(n);
        for (float& x : values) x = dist(rng);
        return values;
    };
    std::vector<float> q = random(q_size), k = random(kv_size), v = random(kv_size), bias = random(bias_size);
    std::vector<float> dout = random(q_size);
    std::vector<uint8_t> mask(size_t(s.B) * s.Tk, 1);
    for (int key = s.Tk * 3 / 4; key < s.Tk; key++) mask[size_t(s.Tk) + key] = 0;  // batch 1 padded on the right
    std::vector<float> out(q_size), lse(lse_size), dq(q_size, 0.0f), dk(kv_size, 0.0f), dv(kv_size, 0.0f);
    std::vector<float> dbias(bias_size, 0.0f);
    cpu_reference_kernels.attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), bias.data(),
                                            mask.data(), s);
    cpu_reference_kernels.attention_backward(dq.data(), dk.data(), dv.data(), dbias.data(), dout.data(), q.data(),
                                             k.data(), v.data(), out.data(), lse.data(), bias.data(), mask.data(), s);

    void* q_dev = to_device(q.data(), q_size * sizeof(float));
    void* k_dev = to_device(k.data(), kv_size * sizeof(float));
    void* v_dev = to_device(v.data(), kv_size * sizeof(float));
    void* bias_dev = to_device(bias.data(), bias_size * sizeof(float));
    void* mask_dev = to_device(mask.data(), mask.size());
    void* dout_dev = to_device(dout.data(), q_size * sizeof(float));
    std::vector<float> zeros_q(q_size, 0.0f), zeros_kv(kv_size, 0.0f), zeros_bias(bias_size, 0.0f);
    void* out_dev = to_device(zeros_q.data(), q_size * sizeof(float));
    void* lse_dev = to_device(std::vector<float>(lse_size).data(), lse_size * sizeof(float));
    void* dq_dev = to_device(zeros_q.data(), q_size * sizeof(float));
    void* dk_dev = to_device(zeros_kv.data(), kv_size * sizeof(float));
    void* dv_dev = to_device(zeros_kv.data(), kv_size * sizeof(float));
    void* dbias_dev = to_device(zeros_bias.data(), bias_size * sizeof(float));
    cuda_kernels.attention_forward((float*)out_dev, (float*)lse_dev, (const float*)q_dev, (const float*)k_dev,
                                   (const float*)v_dev, (const float*)bias_dev, (const uint8_t*)mask_dev, s);
    cuda_kernels.attention_backward((float*)dq_dev, (float*)dk_dev, (float*)dv_dev, (float*)dbias_dev,
                                    (const float*)dout_dev, (const float*)q_dev, (const float*)k_dev,
                                    (const float*)v_dev, (const float*)out_dev, (const float*)lse_dev,
                                    (const float*)bias_dev, (const uint8_t*)mask_dev, s);
    CHECK(relative_gap(to_host((const float*)out_dev, q_size), out) < 1e-5);
    CHECK(relative_gap(to_host((const float*)lse_dev, lse_size), lse) < 1e-5);
    CHECK(relative_gap(to_host((const float*)dq_dev, q_size), dq) < 1e-4);
    CHECK(relative_gap(to_host((const float*)dk_dev, kv_size), dk) < 1e-4);
    CHECK(relative_gap(to_host((const float*)dv_dev, kv_size), dv) < 1e-4);
    CHECK(relative_gap(to_host((const float*)dbias_dev, bias_size), dbias) < 1e-4);
    for (void* p : {q_dev, k_dev, v_dev, bias_dev, mask_dev, dout_dev, out_dev, lse_dev, dq_dev, dk_dev, dv_dev,
                    dbias_dev})
        cuda_free(p);
}

TEST_CASE("attention at the largest head dimension (256, shared memory past 48 KiB) matches the reference",
          "[cuda]") {
    // compare_backend's cases stop at D = 128; D = 256 fills each lane's 8 output registers and needs the
    // dynamic shared memory opt-in on a GPU. GQA 4:2. Both paths.
    AttentionShape s{2, 5, 41, 4, 2, 256, 0.0625f, false};
    check_attention_shape(s, CudaAttentionPath::Fused);
    check_attention_shape(s, CudaAttentionPath::Gemm);

    AttentionShape too_wide = s;
    too_wide.D = 257;
    CHECK_THROWS_WITH(cuda_kernels.attention_forward(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                     too_wide),
                      Catch::Contains("head dimension out of range"));
}

TEST_CASE("attention over 1100 keys, causal with Tq < Tk and GQA, matches the reference on both paths",
          "[cuda]") {
    // Long rows: many key tiles in the fused kernel, many 32-key strides per lane in the GEMM path's softmax.
    AttentionShape s{2, 3, 1100, 4, 2, 8, 0.35f, true};
    check_attention_shape(s, CudaAttentionPath::Gemm);
    check_attention_shape(s, CudaAttentionPath::Fused);
    // And in blocks of 2 query rows (the budget holds 2 rows of 4 heads x 1100 keys): the last block is short.
    ScoreBudgetScope budget(2 * 4 * 1100 * sizeof(float));
    check_attention_shape(s, CudaAttentionPath::Gemm);
}
