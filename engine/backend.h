// backend.h — the backend registry: the one place where a Device meets its kernel table and its memory
// functions. tensor.cpp allocates, copies and picks kernels through backend_for(device); the device memory
// report, the optimizer and the conformance test walk registered_backends(). A backend is a folder of kernels
// that defines one `const Backend` and one line in engine/backend.cpp's list (docs/PORTING.md).
// Not here: the kernels themselves (kernels/kernels.h) or any knowledge of shapes and dtypes.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "engine/device.h"

struct Backend {
    const char* name;  // the --device name: "cpu", "cuda"
    Device device;     // the tensors it serves
    const Kernels* kernels;

    // ---- memory: raw bytes in the backend's own memory ("here"); host pointers are ordinary host memory ----
    // Uninitialised; throws sapt_error naming the request (and device_alloc_label()) when memory runs out.
    // Any size, 0 included, gives a distinct pointer that free accepts.
    void* (*alloc)(size_t bytes);
    void (*free)(void* ptr);
    void (*zero)(void* ptr, size_t bytes);
    void (*copy_in)(void* dst_here, const void* src_host, size_t bytes);
    // Waits for the kernels that wrote src: the host may read dst as soon as it returns.
    void (*copy_out)(void* dst_host, const void* src_here, size_t bytes);
    void (*copy_within)(void* dst_here, const void* src_here, size_t bytes);
    void (*synchronize)();  // returns when every kernel and copy queued so far has finished

    // ---- what programs report and tests assert ------------------------------------------------------------
    DeviceMemoryInfo (*memory)();  // bytes in use and cached by its allocator; free and total of the device
    DeviceTraffic (*traffic)();    // copies in and out and host waits since the process started
    // True when the device can be used on this machine; otherwise `why` says what is missing (no GPU, no driver).
    bool (*available)(std::string* why);
    // How its GEMMs form products (kernels/kernels.h); throws sapt_error for a mode the backend lacks.
    void (*set_gemm_precision)(GemmPrecision precision);
};

// The backend serving `device` in this build; throws sapt_error naming the device and the build flag when this
// build has none (a CPU-only build asked for Device::CUDA).
const Backend& backend_for(Device device);
// Every backend compiled into this binary, the CPU first.
const std::vector<const Backend*>& registered_backends();
// The registered backend whose name is `name` ("cuda"), or null: what --device parses against.
const Backend* find_backend(const std::string& name);

// The backends' own definitions (their folders), named by the list in engine/backend.cpp.
extern const Backend cpu_backend;   // kernels/cpu/cpu_backend.cpp
extern const Backend cuda_backend;  // kernels/cuda/cuda_kernels.cu, in a CUDA=1 or emulation build
