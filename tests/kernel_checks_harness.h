// kernel_checks_harness.h — the machinery behind compare_backend (kernel_checks.h): twin buffers (one copy for
// the reference on the host, one in the candidate's memory fenced by sentinel guards), random inputs, and the
// comparisons. Only the kernel_checks_*.cpp files include it; it knows nothing about any particular kernel.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/kernel_checks.h"

// State of one compare_backend run: the candidate, how to reach its memory, the random stream, the count.
struct CheckRun {
    const Kernels& candidate;
    const Backend& memory;
    std::string only;  // field-name filter, "" = every kernel
    std::mt19937 rng;
    BackendReport report;

    // True when the kernel `field` is selected; counts it as one case.
    bool begin_case(const char* field) {
        if (!only.empty() && std::string(field).find(only) == std::string::npos) return false;
        report.cases++;
        report.kernels_checked.insert(field);
        return true;
    }
    void fail(const std::string& message) { report.failures.push_back(message); }
};

// Bytes written before and after every candidate buffer; any change to them is an out-of-bounds write.
constexpr size_t kGuardBytes = 64;
constexpr unsigned char kGuardByte = 0xA5;

// One array handed to both backends: `host` is the reference's copy, `backend` the candidate's.
// Both start with the same bytes, so kernels that add into their output are checked as such.
struct Twin {
    const Backend* memory = nullptr;
    size_t bytes = 0;
    std::vector<unsigned char> host;
    unsigned char* backend = nullptr;  // kGuardBytes + bytes + kGuardBytes

    Twin(const Backend& mem, const void* data, size_t nbytes) : memory(&mem), bytes(nbytes), host(nbytes) {
        if (nbytes) std::memcpy(host.data(), data, nbytes);
        std::vector<unsigned char> fenced(nbytes + 2 * kGuardBytes, kGuardByte);
        if (nbytes) std::memcpy(fenced.data() + kGuardBytes, data, nbytes);
        backend = static_cast<unsigned char*>(mem.alloc(fenced.size()));
        mem.copy_in(backend, fenced.data(), fenced.size());
    }
    Twin(const Twin&) = delete;
    Twin& operator=(const Twin&) = delete;
    ~Twin() { memory->free(backend); }

    template <typename T>
    T* ref() {
        return reinterpret_cast<T*>(host.data());
    }
    template <typename T>
    T* dev() {
        return reinterpret_cast<T*>(backend + kGuardBytes);
    }

    // The candidate's bytes, after checking that its guards are intact.
    std::vector<unsigned char> fetch(CheckRun& run, const std::string& label) const {
        std::vector<unsigned char> fenced(bytes + 2 * kGuardBytes);
        memory->copy_out(fenced.data(), backend, fenced.size());
        size_t damaged = 0;
        for (size_t i = 0; i < kGuardBytes; i++) {
            damaged += fenced[i] != kGuardByte;
            damaged += fenced[kGuardBytes + bytes + i] != kGuardByte;
        }
        if (damaged)
            run.fail(label + ": " + std::to_string(damaged) + " guard bytes overwritten (a write outside the buffer)");
        return std::vector<unsigned char>(fenced.begin() + kGuardBytes, fenced.begin() + kGuardBytes + bytes);
    }
};

inline std::vector<float> random_floats(CheckRun& run, size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> values(n);
    for (float& x : values) x = dist(run.rng);
    return values;
}

inline std::vector<int32_t> random_ints(CheckRun& run, size_t n, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> dist(lo, hi);
    std::vector<int32_t> values(n);
    for (int32_t& x : values) x = dist(run.rng);
    return values;
}

// 0/1 bytes, each 1 with probability `keep`.
inline std::vector<uint8_t> random_mask(CheckRun& run, size_t n, double keep) {
    std::bernoulli_distribution dist(keep);
    std::vector<uint8_t> values(n);
    for (uint8_t& x : values) x = dist(run.rng) ? 1 : 0;
    return values;
}

// A Twin holding `values` (returned by guaranteed copy elision: Twin itself is neither copied nor moved).
template <typename T>
inline Twin twin(CheckRun& run, const std::vector<T>& values) {
    return Twin(run.memory, values.data(), values.size() * sizeof(T));
}

// Tolerances: an element passes when |cand - ref| <= atol * max|ref| + rtol * |ref|. atol is relative to
// the buffer's largest magnitude, so that entries near zero in a sum with cancellation are judged on the
// buffer's scale. Non-finite references must be matched exactly (same inf, or NaN for NaN).
struct Tolerance {
    double rtol, atol;
};
constexpr Tolerance kExact = {0.0, 0.0};
constexpr Tolerance kTight = {1e-6, 1e-7};      // one or two f32 roundings
constexpr Tolerance kReduction = {1e-5, 2e-6};  // a sum over a row, f32 against the reference's double
constexpr Tolerance kLoose = {1e-4, 1e-5};      // exp/log/tanh approximations, long dot products

inline void expect_close_floats(CheckRun& run, const float* ref, const float* cand, size_t n, Tolerance tol,
                                const std::string& label) {
    double max_ref = 0.0;
    for (size_t i = 0; i < n; i++)
        if (std::isfinite(ref[i])) max_ref = std::fmax(max_ref, std::fabs(ref[i]));
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double r = ref[i], c = cand[i];
        double excess;
        if (!std::isfinite(r) || !std::isfinite(c)) {
            bool same = (std::isnan(r) && std::isnan(c)) || r == c;
            excess = same ? -1.0 : INFINITY;
        } else {
            excess = std::fabs(c - r) - (tol.atol * max_ref + tol.rtol * std::fabs(r));
        }
        if (excess > 0) bad++;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad == 0) return;
    std::ostringstream message;
    message << label << ": " << bad << " of " << n << " elements out of tolerance (rtol " << tol.rtol << ", atol "
            << tol.atol << " x max|ref| " << max_ref << "); worst at " << worst << ": reference " << ref[worst]
            << ", candidate " << cand[worst];
    run.fail(message.str());
}

// Compares a float Twin: the reference's host copy against the candidate's.
inline void expect_close(CheckRun& run, Twin& t, Tolerance tol, const std::string& label) {
    std::vector<unsigned char> cand = t.fetch(run, label);
    expect_close_floats(run, t.ref<float>(), reinterpret_cast<const float*>(cand.data()), t.bytes / sizeof(float), tol,
                        label);
}

// Compares any Twin byte for byte (integer outputs, bf16 conversions).
inline void expect_identical(CheckRun& run, Twin& t, const std::string& label) {
    std::vector<unsigned char> cand = t.fetch(run, label);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < t.bytes; i++)
        if (cand[i] != t.host[i] && bad++ == 0) first = i;
    if (bad) {
        run.fail(label + ": " + std::to_string(bad) + " of " + std::to_string(t.bytes) +
                 " bytes differ, first at byte " + std::to_string(first));
    }
}

// Scalars (sums, losses): `allowed` is the absolute error the caller derives from the magnitudes summed.
inline void expect_close_scalar(CheckRun& run, double ref, double cand, double allowed, const std::string& label) {
    if (std::fabs(cand - ref) <= allowed) return;
    std::ostringstream message;
    message << label << ": reference " << ref << ", candidate " << cand << ", allowed error " << allowed;
    run.fail(message.str());
}

inline void expect_same_count(CheckRun& run, long ref, long cand, const std::string& label) {
    if (cand != ref) run.fail(label + ": reference " + std::to_string(ref) + ", candidate " + std::to_string(cand));
}

// "name dims..." for the failure messages.
inline std::string label_of(const char* field, std::initializer_list<long> dims) {
    std::string label = field;
    for (long d : dims) label += " " + std::to_string(d);
    return label;
}

// The groups of cases, one file each.
void check_dense_kernels(CheckRun& run);      // kernel_checks_dense.cpp
void check_row_kernels(CheckRun& run);        // kernel_checks_rows.cpp
void check_attention_kernels(CheckRun& run);  // kernel_checks_attention.cpp
