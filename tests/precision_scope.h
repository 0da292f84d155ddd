// precision_scope.h — a test that switches the CPU's GEMM precision (kernels/cpu/gemm.h) for one scope: the
// precision in force before comes back however the scope ends, a failed REQUIRE included. Shared by the
// CPU suite (test_gemm, test_sapt_fixtures) and the device suite (tests/cuda/test_cuda_end_to_end).
#pragma once
#include "kernels/cpu/gemm.h"

struct CpuGemmPrecisionScope {
    GemmPrecision saved = cpu_gemm_precision();
    explicit CpuGemmPrecisionScope(GemmPrecision p) { cpu_set_gemm_precision(p); }
    ~CpuGemmPrecisionScope() { cpu_set_gemm_precision(saved); }
};
