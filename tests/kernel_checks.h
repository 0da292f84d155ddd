// kernel_checks.h — the backend conformance check, in the spirit of ggml's test-backend-ops: every field of a
// Kernels table runs next to cpu_reference_kernels on the same random inputs (several shapes, odd sizes
// included) and the outputs must agree within each kernel's tolerance, with no write outside a buffer.
// Any backend can be checked: the CPU tables with host_memory, a GPU table with its own BackendMemory.
// It does not test the reference itself: test_kernels.cpp holds hand-computed checks of the oracle.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "kernels/kernels.h"

// How the check reaches a backend's memory. host_memory serves the CPU tables (plain new/delete, memcpy);
// a GPU backend passes functions that allocate on the device and copy both ways (copy_to_host must wait
// for the kernels that wrote the memory).
struct BackendMemory {
    const char* name;
    void* (*allocate)(size_t bytes);
    void (*release)(void* ptr);
    void (*copy_to_backend)(void* backend_dst, const void* host_src, size_t bytes);
    void (*copy_to_host)(void* host_dst, const void* backend_src, size_t bytes);
};
extern const BackendMemory host_memory;

// What a run found: how many cases ran, and one message per mismatch ("kernel shape: what differs").
// Callers require cases > 0, so that a run where every case was skipped never passes.
struct BackendReport {
    long cases = 0;
    std::vector<std::string> failures;
};

// Runs every kernel of `candidate` against the reference on the same inputs. `only` limits the run to
// kernels whose field name contains it ("" = all). Returns rather than asserts, so that a test can also
// check that a deliberately broken table IS caught.
BackendReport compare_backend(const Kernels& candidate, const BackendMemory& memory = host_memory,
                              const char* only = "");
