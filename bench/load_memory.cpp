// load_memory.cpp (benchmark) — the host memory of loading a big checkpoint onto the device through
// models/load_device.h's staging buffer. Device memory under the CPU emulation is host memory, so what
// the loader itself costs the host is the resident growth minus the bytes written to the device; it
// should stay within about twice the largest tensor (the staging halves), however big the model.
// Prints the peak (VmHWM, reset before the load) and final resident growth, the device bytes, the
// staging buffer, the largest tensor, and the load time. Make a model with bench/make_random_checkpoint.
// `mapped` measures the path this loader replaces instead: load_pretrained_model (views into the mapped
// shards) then model_frozen_weights_to_bf16 and model_to_device, which reads every page of the mapping.
// Usage: load_memory DIR [cpu|cuda] [bf16|f32] [mapped]   (default cuda where the build has it, bf16)
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "models/load_device.h"
#include "models/model_device.h"

namespace {

// VmRSS and VmHWM of this process, in bytes.
void resident(size_t* rss, size_t* peak) {
    std::ifstream status("/proc/self/status");
    std::string key;
    size_t kib;
    while (status >> key) {
        if (key == "VmRSS:" && status >> kib) *rss = kib * 1024;
        if (key == "VmHWM:" && status >> kib) *peak = kib * 1024;
    }
}

// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so the peak is the load's own.
bool reset_peak() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    return (bool)clear;
}

double mib(double bytes) { return bytes / 1048576.0; }

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 5) {
        std::fprintf(stderr, "usage: %s DIR [cpu|cuda] [bf16|f32] [mapped]\n", argv[0]);
        return 2;
    }
    try {
#ifdef SAPT_CUDA
        std::string device_name = argc > 2 ? argv[2] : "cuda";
#else
        std::string device_name = argc > 2 ? argv[2] : "cpu";
#endif
        std::string precision = argc > 3 ? argv[3] : "bf16";
        check_precision_name(precision, "precision");
        Device device = parse_device_option(device_name, "device");
        DeviceLoadOptions options;
        options.bf16_frozen = precision == "bf16";
        bool mapped = argc > 4 && std::string(argv[4]) == "mapped";
        if (argc > 4 && !mapped) fail("load_memory", std::string("expected `mapped` or nothing, got '") + argv[4] + "'");

        size_t rss_before = 0, peak = 0, rss_after = 0;
        bool peak_reset = reset_peak();
        resident(&rss_before, &peak);
        auto start = std::chrono::steady_clock::now();
        DeviceLoadReport report;
        Model model;
        if (mapped) {
            model = load_pretrained_model(argv[1]);
            if (options.bf16_frozen) model_frozen_weights_to_bf16(model);
            model_to_device(model, device);
            for (NamedWeight& w : model_weights(model)) {
                size_t bytes = (size_t)w.tensor->numel() * dtype_size(w.tensor->dtype());
                report.tensors++;
                report.device_bytes += bytes;
                if (bytes > report.largest_tensor_bytes) {
                    report.largest_tensor_bytes = bytes;
                    report.largest_tensor = w.name;
                }
            }
            report.file_bytes_read = report.device_bytes;  // approximately: what the copies read
        } else {
            model = load_pretrained_model_on(argv[1], device, options, &report);
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        resident(&rss_after, &peak);

        // Device bytes that are host pages: all of them under the emulation and for Device::CPU, none on a GPU.
        bool device_is_host = device == Device::CPU;
#ifdef SAPT_CUDA_EMU
        device_is_host = true;
#endif
        double device_in_host = device_is_host ? (double)report.device_bytes : 0.0;
        double peak_growth = (double)peak - (double)rss_before, final_growth = (double)rss_after - (double)rss_before;
        double staging_growth = peak_growth - device_in_host;
        std::printf("checkpoint %s onto %s, %s frozen weights, %s\n", argv[1], device_name.c_str(), precision.c_str(),
                    mapped ? "load_pretrained_model + model_to_device (mapped)" : "load_pretrained_model_on (staged)");
        std::printf("  %d tensors, %.1f MiB read from the shards in %.2f s (%.0f MiB/s)\n", report.tensors,
                    mib(report.file_bytes_read), seconds, mib(report.file_bytes_read) / seconds);
        std::printf("  largest tensor %s: %.1f MiB in the file\n", report.largest_tensor.c_str(),
                    mib(report.largest_tensor_bytes));
        std::printf("  device bytes written %.1f MiB; %s\n", mib(report.device_bytes), device_memory_summary().c_str());
        std::printf("  staging buffer %.1f MiB\n", mib(report.staging_bytes));
        std::printf("  host RSS before %.1f MiB, after %.1f MiB (+%.1f), peak during the load %.1f MiB (+%.1f)%s\n",
                    mib(rss_before), mib(rss_after), mib(final_growth), mib(peak), mib(peak_growth),
                    peak_reset ? "" : " [VmHWM could not be reset: peak includes earlier use]");
        std::printf("  host growth beyond the device bytes: peak %.1f MiB = %.2fx the largest tensor, final %.1f MiB\n",
                    mib(staging_growth), staging_growth / (double)report.largest_tensor_bytes,
                    mib(final_growth - device_in_host));
    } catch (const sapt_error& error) {
        std::fprintf(stderr, "%s\n", error.what());
        return 1;
    }
    return 0;
}
