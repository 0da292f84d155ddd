// kernel_checks.cpp — compare_backend (kernel_checks.h): the entry point that runs every group of cases, and
// host_memory, the BackendMemory of the CPU tables. The cases live in kernel_checks_dense/rows/attention.cpp.
#include <cstring>

#include "tests/kernel_checks_harness.h"

static void* host_allocate(size_t bytes) { return ::operator new(bytes); }
static void host_release(void* ptr) { ::operator delete(ptr); }
static void host_copy(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }

const BackendMemory host_memory = {"host", host_allocate, host_release, host_copy, host_copy};

BackendReport compare_backend(const Kernels& candidate, const BackendMemory& memory, const char* only) {
    CheckRun run{candidate, memory, only ? only : "", std::mt19937(20240610), BackendReport()};
    check_dense_kernels(run);
    check_row_kernels(run);
    check_attention_kernels(run);
    return run.report;
}
