// fast.h — the fast CPU kernels (namespace fast): OpenMP over rows or blocks, inner loops the compiler
// vectorises, AVX2/AVX-512 exp where exp dominates. One function per field of struct Kernels, declared from the
// fields (SAPT_KERNEL_NAMES, kernels/kernels.h, where each kernel's semantics are documented), defined in
// fast_*.cpp. The three GEMM fields are the exception: cpu_gemm* of gemm.h fill them (tests and benchmarks call
// them by that name), so fast::gemm, fast::gemm_batched and fast::gemm_bf16b are declared here and never defined.
#pragma once
#include "kernels/kernels.h"

namespace fast {

// Below this many elements an OpenMP region costs more than it saves (a few microseconds to wake threads).
constexpr size_t kParallelMin = 1 << 15;

SAPT_KERNEL_NAMES(SAPT_DECLARE_KERNEL)

}  // namespace fast
