// kernel_checks.cpp — compare_backend (kernel_checks.h): the entry point that runs every group of cases.
// The cases live in kernel_checks_dense/rows/attention.cpp; the test over every registered backend in
// kernel_checks_conformance.cpp.
#include "tests/kernel_checks_harness.h"

BackendReport compare_backend(const Kernels& candidate, const Backend& memory, const char* only) {
    CheckRun run{candidate, memory, only ? only : "", std::mt19937(20240610), BackendReport()};
    check_dense_kernels(run);
    check_row_kernels(run);
    check_attention_kernels(run);
    return run.report;
}
