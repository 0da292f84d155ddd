// test_device_guard.cpp — the emulation keeps device memory out of the host's reach, as a GPU does: a host
// line that reads a device pointer outside a kernel or a copy faults (and the emulator says so), while
// kernels, copies and the emulated cuBLAS reach it. This is what makes `make test-emu` catch host code that
// would crash on a real GPU. Built only by make test-emu.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/device.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_common.h"

namespace {

__global__ void double_in_place(float* data, int n) {
    int i = int(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) data[i] *= 2.0f;
}

// Runs `body` in a child process with stderr captured; returns (exited normally with 0, what it printed).
std::pair<bool, std::string> run_in_child(void (*body)(float*), float* device) {
    int pipe_fds[2];
    REQUIRE(pipe(pipe_fds) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        dup2(pipe_fds[1], 2);
        if (FILE* null = std::fopen("/dev/null", "w")) dup2(fileno(null), 1);  // the test framework's fatal report
        body(device);
        _exit(0);
    }
    close(pipe_fds[1]);
    std::string printed;
    char buffer[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buffer, sizeof buffer)) > 0) printed.append(buffer, (size_t)n);
    close(pipe_fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    return {WIFEXITED(status) && WEXITSTATUS(status) == 0, printed};
}

void read_on_the_host(float* device) {
    volatile float value = device[3];
    (void)value;
}

void read_through_a_copy(float* device) {
    float value = 0;
    cuda_copy(&value, Device::CPU, device + 3, Device::CUDA, sizeof value);
    if (value != 6.0f) _exit(3);
}

}  // namespace

TEST_CASE("emulated device memory: a host read outside kernels and copies faults, and is named", "[cuda-emu][guard]") {
    const char* guard = std::getenv("SAPT_EMU_GUARD");
    if (guard && std::strcmp(guard, "0") == 0) {
        WARN("SKIPPED: SAPT_EMU_GUARD=0 turns the guard off");
        return;
    }
    const int n = 64;
    std::vector<float> host(n);
    for (int i = 0; i < n; i++) host[i] = float(i);
    float* device = (float*)cuda_alloc(n * sizeof(float));
    cuda_copy(device, Device::CUDA, host.data(), Device::CPU, n * sizeof(float));
    launch(1, 64, 0, double_in_place, device, n);  // a kernel reaches it

    const auto [read_ok, message] = run_in_child(read_on_the_host, device);
    CHECK_FALSE(read_ok);
    CHECK(message.find("host code touched device memory") != std::string::npos);

    const auto [copy_ok, copy_message] = run_in_child(read_through_a_copy, device);
    INFO(copy_message);
    CHECK(copy_ok);
    {
        EmuDeviceAccess open;  // what a kernel or the emulated cuBLAS holds while it runs
        CHECK(device[5] == 10.0f);
    }
    cuda_free(device);
}
