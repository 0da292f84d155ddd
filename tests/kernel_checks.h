// kernel_checks.h — the backend conformance check, in the spirit of ggml's test-backend-ops: every field of a
// Kernels table runs next to cpu_reference_kernels on the same random inputs (several shapes, odd sizes
// included) and the outputs must agree within each kernel's tolerance, with no write outside a buffer.
// The candidate's buffers live in a registered backend's memory (engine/backend.h), reached through its alloc,
// copy_in and copy_out. It does not test the reference itself: test_kernels.cpp holds hand-computed checks.
#pragma once
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "kernels/kernels.h"

// What a run found: how many cases ran, which kernels they exercised (field names), and one message per
// mismatch ("kernel shape: what differs"). Callers require cases > 0, so that a run where every case was
// skipped never passes.
struct BackendReport {
    long cases = 0;
    std::set<std::string> kernels_checked;
    std::vector<std::string> failures;
};

// Runs every kernel of `candidate` against the reference on the same inputs. `only` limits the run to
// kernels whose field name contains it ("" = all). Returns rather than asserts, so that a test can also
// check that a deliberately broken table IS caught.
// `memory` is the backend whose memory the candidate's kernels read and write: cpu_backend for a CPU table.
BackendReport compare_backend(const Kernels& candidate, const Backend& memory = cpu_backend, const char* only = "");
