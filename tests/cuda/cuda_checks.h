// cuda_checks.h — what the GPU suite (tests/cuda) and the emulation suite (tests/emu) share: the
// BackendMemory that lets compare_backend (tests/kernel_checks.h) reach device memory through
// engine/device.h, and the check that runs the whole conformance table and reports each mismatch.
// Under the emulation device memory is host memory, so both suites run the very same path.
#pragma once
#include <catch2/catch.hpp>

#include "engine/device.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/kernel_checks.h"

inline void* cuda_test_allocate(size_t bytes) { return device_alloc(bytes); }
inline void cuda_test_release(void* ptr) { device_free(ptr); }
inline void cuda_test_to_device(void* dst, const void* src, size_t bytes) {
    device_copy(dst, Device::CUDA, src, Device::CPU, bytes);
}
// device_copy to the host waits for the stream, so the kernels that wrote `src` have finished.
inline void cuda_test_to_host(void* dst, const void* src, size_t bytes) {
    device_copy(dst, Device::CPU, src, Device::CUDA, bytes);
}
const BackendMemory cuda_test_memory = {"cuda device", cuda_test_allocate, cuda_test_release, cuda_test_to_device,
                                        cuda_test_to_host};

// Runs compare_backend on cuda_kernels for the kernels whose name contains `only`; every mismatch is one
// failed CHECK with its message, and a run that executed no case fails.
inline void check_cuda_kernels(const char* only) {
    BackendReport report = compare_backend(cuda_kernels, cuda_test_memory, only);
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
