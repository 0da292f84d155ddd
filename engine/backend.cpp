// backend.cpp — the registry of engine/backend.h: the list of backends built into this binary, and the lookups
// that every device-dependent part of the engine goes through. Registering a backend is one line in the list
// below (inside its build flag's #ifdef); its Backend is defined in its own folder. Not here: any kernel or
// allocator.
#include "engine/backend.h"

#include <iterator>

#include "engine/error.h"

// A plain array of addresses is filled before any code runs, so even a static initializer elsewhere that makes
// a tensor finds its backend.
static const Backend* const backend_list[] = {
    &cpu_backend,
#ifdef SAPT_CUDA
    &cuda_backend,  // make CUDA=1 (kernels/cuda on a GPU) or the emulation build (make test-emu, train-emu)
#endif
};

const std::vector<const Backend*>& registered_backends() {
    static const std::vector<const Backend*> backends(std::begin(backend_list), std::end(backend_list));
    return backends;
}

const Backend* find_backend(const std::string& name) {
    for (const Backend* backend : backend_list) {
        if (name == backend->name) return backend;
    }
    return nullptr;
}

// Device names for the message of a device this build lacks: its backend cannot say, it is not linked in.
static const char* device_label(Device device) {
    switch (device) {
        case Device::CPU: return "CPU";
        case Device::CUDA: return "CUDA";
    }
    return "unknown";
}

const Backend& backend_for(Device device) {
    for (const Backend* backend : backend_list) {
        if (backend->device == device) return *backend;
    }
    const std::string label = device_label(device);
    fail("backend_for", "this build has no " + label + " backend (expected Device::CPU, got Device::" + label +
                            "; rebuild with make " + label + "=1)");
}
