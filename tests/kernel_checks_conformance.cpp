// kernel_checks_conformance.cpp — [kernels][conformance]: every backend registered in this binary
// (engine/backend.h) sets every kernel, runs every one of them like the reference (compare_backend) in its own
// memory, and its memory functions move, zero and count bytes as the registry promises. Linked into the CPU
// suite (the fast CPU backend), make test-emu (plus the emulated CUDA backend) and make test-cuda (plus CUDA).
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "tests/kernel_checks.h"

TEST_CASE("every registered backend sets every kernel and agrees with the reference on each",
          "[kernels][conformance]") {
    REQUIRE(kernels_missing(cpu_reference_kernels).empty());
    REQUIRE(registered_backends().size() >= 1);
    REQUIRE(registered_backends()[0] == &cpu_backend);
    for (const Backend* backend : registered_backends()) {
        DYNAMIC_SECTION("backend " << backend->name) {
            // The registry maps the device and the name back to this entry, and the table is whole.
            CHECK(&backend_for(backend->device) == backend);
            CHECK(find_backend(backend->name) == backend);
            for (const std::string& missing : kernels_missing(*backend->kernels)) {
                FAIL_CHECK("unset kernel " << missing);
            }
            REQUIRE(kernels_missing(*backend->kernels).empty());
            std::string why;
            REQUIRE(backend->available(&why));

            BackendReport report = compare_backend(*backend->kernels, *backend);
            INFO(backend->name << ": " << report.cases << " cases");
            for (const std::string& failure : report.failures) FAIL_CHECK(failure);
            CHECK(report.failures.empty());
            // Every field of struct Kernels ran at least once: a kernel without a case fails here, not silently.
            for (int i = 0; i < n_kernels; i++) {
                INFO("kernel " << kernel_names[i]);
                CHECK(report.kernels_checked.count(kernel_names[i]) == 1);
            }
            CHECK(report.cases > 300);
        }
    }
}

TEST_CASE("every registered backend's memory functions copy, zero and count bytes", "[kernels][conformance]") {
    const std::vector<float> values = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -0.125f, 9.0f};
    const size_t bytes = values.size() * sizeof(float);
    for (const Backend* backend : registered_backends()) {
        DYNAMIC_SECTION("backend " << backend->name) {
            const bool is_host = backend->device == Device::CPU;
            const DeviceMemoryInfo memory_before = backend->memory();
            const DeviceTraffic traffic_before = backend->traffic();
            void* first = backend->alloc(bytes);
            void* second = backend->alloc(bytes);
            void* empty = backend->alloc(0);  // a valid pointer of its own, which free accepts
            CHECK(first != second);
            CHECK(empty != first);
            CHECK(empty != second);

            backend->copy_in(first, values.data(), bytes);
            backend->copy_within(second, first, bytes);
            backend->zero(first, 3 * sizeof(float));
            backend->synchronize();
            std::vector<float> got_first(values.size(), -1.0f), got_second(values.size(), -1.0f);
            backend->copy_out(got_first.data(), first, bytes);
            backend->copy_out(got_second.data(), second, bytes);
            CHECK(got_second == values);
            CHECK(std::vector<float>(got_first.begin(), got_first.begin() + 3) == std::vector<float>(3, 0.0f));
            CHECK(std::vector<float>(got_first.begin() + 3, got_first.end()) ==
                  std::vector<float>(values.begin() + 3, values.end()));

            // A device counts its own memory and the bytes that crossed: one copy in, two out. The host has no
            // device memory (tensor_bytes_live counts it) and nothing crosses.
            const DeviceMemoryInfo memory_held = backend->memory();
            const DeviceTraffic traffic_after = backend->traffic();
            CHECK(memory_held.total > 0);
            if (is_host) {
                CHECK(memory_held.in_use == 0);
                CHECK(traffic_after.to_device_copies == 0);
                CHECK(traffic_after.to_host_copies == 0);
            } else {
                CHECK(memory_held.in_use >= memory_before.in_use + 2 * bytes);
                CHECK(traffic_after.to_device_copies == traffic_before.to_device_copies + 1);
                CHECK(traffic_after.to_device_bytes == traffic_before.to_device_bytes + (long long)bytes);
                CHECK(traffic_after.to_host_copies == traffic_before.to_host_copies + 2);
                CHECK(traffic_after.to_host_bytes == traffic_before.to_host_bytes + 2 * (long long)bytes);
                CHECK(traffic_after.synchronizations > traffic_before.synchronizations);
            }
            backend->free(first);
            backend->free(second);
            backend->free(empty);
            if (!is_host) CHECK(backend->memory().in_use == memory_before.in_use);
        }
    }
}

TEST_CASE("a device this build lacks is named with the flag that builds it", "[kernels][conformance]") {
    if (find_backend("cuda") != nullptr) {
        CHECK(backend_for(Device::CUDA).device == Device::CUDA);
        return;
    }
    CHECK_THROWS_WITH(backend_for(Device::CUDA), Catch::Contains("this build has no CUDA backend") &&
                                                     Catch::Contains("rebuild with make CUDA=1"));
    CHECK_THROWS_WITH(kernels_for(Device::CUDA), Catch::Contains("no CUDA backend"));
    CHECK_THROWS_WITH(tensor_zeros({2, 3}, DType::F32, Device::CUDA), Catch::Contains("no CUDA backend"));
}

TEST_CASE("the conformance test would notice an unset kernel and a kernel without cases", "[kernels][conformance]") {
    Kernels incomplete = cpu_kernels;
    incomplete.rope_backward = nullptr;
    CHECK(kernels_missing(incomplete) == std::vector<std::string>{"rope_backward"});
    CHECK(kernels_missing(cpu_kernels).empty());
    CHECK(n_kernels == 47);
    // A run that reaches only the GELU cases records exactly those kernels: the others would be reported.
    BackendReport gelu_only = compare_backend(cpu_kernels, cpu_backend, "gelu");
    CHECK(gelu_only.cases > 0);
    CHECK(gelu_only.kernels_checked == std::set<std::string>{"gelu_backward", "gelu_forward"});
}
