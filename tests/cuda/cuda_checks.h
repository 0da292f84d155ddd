// cuda_checks.h — what the GPU suite (tests/cuda) and the emulation suite (tests/emu) share: copies to and
// from device memory, the conformance check of cuda_kernels limited to some kernels (compare_backend,
// tests/kernel_checks.h, in cuda_backend's memory), and scopes for the backend's settings.
// Under the emulation device memory is host memory, so both suites run the very same path.
#pragma once
#include <catch2/catch.hpp>

#include "engine/backend.h"
#include "engine/device.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/kernel_checks.h"

inline void cuda_test_to_device(void* dst, const void* src, size_t bytes) {
    cuda_copy(dst, Device::CUDA, src, Device::CPU, bytes);
}
// cuda_copy to the host waits for the stream, so the kernels that wrote `src` have finished.
inline void cuda_test_to_host(void* dst, const void* src, size_t bytes) {
    cuda_copy(dst, Device::CPU, src, Device::CUDA, bytes);
}
// Runs compare_backend on cuda_kernels for the kernels whose name contains `only` (the whole table runs in the
// conformance test, tests/kernel_checks_conformance.cpp); every mismatch is one failed CHECK with its
// message, and a run that executed no case fails.
inline void check_cuda_kernels(const char* only) {
    BackendReport report = compare_backend(cuda_kernels, cuda_backend, only);
    INFO("kernels matching \"" << only << "\": " << report.cases << " cases");
    REQUIRE(report.cases > 0);
    for (const std::string& failure : report.failures) FAIL_CHECK(failure);
}

// Settings of the CUDA backend for one scope: each puts back what was in force however the scope ends, a
// failed REQUIRE included. The GEMM precision (SAPT_CUDA_GEMM), the attention path (SAPT_CUDA_ATTENTION)
// and the GEMM attention path's score budget (SAPT_CUDA_ATTENTION_MIB).
struct PrecisionScope {
    GemmPrecision saved = cuda_gemm_precision();
    explicit PrecisionScope(GemmPrecision p) { cuda_set_gemm_precision(p); }
    ~PrecisionScope() { cuda_set_gemm_precision(saved); }
};
struct AttentionPathScope {
    CudaAttentionPath saved = cuda_attention_path();
    explicit AttentionPathScope(CudaAttentionPath p) { cuda_set_attention_path(p); }
    ~AttentionPathScope() { cuda_set_attention_path(saved); }
};
struct ScoreBudgetScope {
    size_t saved = cuda_attention_score_budget();
    explicit ScoreBudgetScope(size_t bytes) { cuda_set_attention_score_budget(bytes); }
    ~ScoreBudgetScope() { cuda_set_attention_score_budget(saved); }
};
