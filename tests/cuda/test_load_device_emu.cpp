// test_load_device_emu.cpp — the streaming loader (models/load_device.h) onto Device::CUDA: every weight
// lands in device memory with the bytes the CPU run of the same loader gives (F32, F16 and BF16 files,
// sharded, f32 or bf16 frozen matrices, chunks smaller than a tensor), the allocator counts them, and
// running out of device memory names what was being allocated and what to change. Runs under the CPU
// emulation (make test-emu) and on a GPU (make test-cuda).
#include <catch2/catch.hpp>

#include "engine/device.h"
#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "tests/load_device_util.h"

namespace {

const std::string kLlamaDir = "tests/fixtures/models/llama_gqa_lora";

}  // namespace

TEST_CASE("A checkpoint streamed onto the device holds the CPU load's weights bit for bit", "[load-device][cuda]") {
    std::string config = read_file(kLlamaDir + "/config.json");
    for (const std::string dtype : {"F32", "F16", "BF16"}) {
        std::string dir = write_test_checkpoint("device_" + dtype, config, fixture_tensors(kLlamaDir, dtype), 2);
        for (bool bf16 : {false, true}) {
            INFO("file dtype " << dtype << ", bf16_frozen " << bf16);
            DeviceLoadOptions options;
            options.bf16_frozen = bf16;
            options.staging_bytes = 56;  // 7 elements a chunk: copies land at odd device offsets
            WeightMap extras, cpu_extras;
            options.extra_tensors = &extras;
            size_t in_use_before = cuda_memory_info().in_use;
            DeviceLoadReport report;
            Model on_device = load_pretrained_model_on(dir, Device::CUDA, options, &report);
            CHECK(cuda_memory_info().in_use >= in_use_before + report.device_bytes);

            options.extra_tensors = &cpu_extras;
            Model on_cpu = load_pretrained_model_on(dir, Device::CPU, options);
            require_same_weights(on_device, on_cpu, Device::CUDA);
            require_same_extras(extras, cpu_extras, Device::CUDA);
            // And the CPU load is the reference loader's model (tests/test_load_device.cpp checks it more).
            Model want = reference_model(dir, bf16);
            require_same_weights(on_cpu, want, Device::CPU);
        }
    }
    CHECK(device_memory_summary().find(" in use, ") != std::string::npos);
}

TEST_CASE("Running out of device memory names the allocation, the memory in use and free, and what to change",
          "[load-device][cuda]") {
    DeviceAllocLabel label("weight test.too_big (1099511627776,) f32 of checkpoint /nowhere");
    std::string message;
    try {
        tensor_empty({int64_t(1) << 40}, DType::F32, Device::CUDA);  // 4 TiB: more than any GPU or emulation
    } catch (const sapt_error& error) {
        message = error.what();
    }
    INFO(message);
    CHECK(message.find("out of GPU memory allocating weight test.too_big") != std::string::npos);
    CHECK(message.find("already in use") != std::string::npos);
    CHECK(message.find(" free of ") != std::string::npos);
    CHECK(message.find("--batch-size") != std::string::npos);
    CHECK(message.find("--grad-accum") != std::string::npos);
    CHECK(message.find("--precision bf16") != std::string::npos);
    // The allocator is still usable afterwards.
    Tensor small = tensor_zeros({4}, DType::F32, Device::CUDA);
    CHECK(tensor_values(small) == std::vector<float>(4, 0.0f));
}
