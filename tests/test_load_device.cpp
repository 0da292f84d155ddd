// test_load_device.cpp — the streaming loader (models/load_device.h) on Device::CPU, which runs the very
// path a GPU load takes (pread into the staging buffer, convert, copy): bit-identical to
// load_pretrained_model for F32, BF16 and F16 files, whole or sharded, in f32 or with bf16 frozen
// matrices; f16 decoded exactly for all 65536 halves; the staging buffer bounded; errors as the CPU
// loader's, before any allocation. The device run is tests/cuda/test_load_device_emu.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "engine/device.h"
#include "engine/error.h"
#include "tests/load_device_util.h"
#include "tests/test_util.h"

namespace {

const std::string kLlamaDir = "tests/fixtures/models/llama_gqa_lora";    // GQA, untied head, 8 LoRA tensors
const std::string kT5Dir = "tests/fixtures/models/t5_relu_tied_full";  // tied shared embedding

// The f32 an IEEE half stands for, from the definition (value = significand * 2^exponent), independent
// of f16_to_f32's bit manipulation. NaN comes back as a quiet NaN; the caller checks NaN bits itself.
float half_reference(uint16_t half) {
    int exponent = (half >> 10) & 0x1f, mantissa = half & 0x3ff;
    double magnitude;
    if (exponent == 0) magnitude = std::ldexp((double)mantissa, -24);  // subnormal (and zero)
    else if (exponent < 31) magnitude = std::ldexp((double)(1024 + mantissa), exponent - 25);
    else magnitude = mantissa == 0 ? INFINITY : NAN;
    return (float)((half & 0x8000) ? -magnitude : magnitude);
}

uint32_t bits_of(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    return bits;
}

}  // namespace

TEST_CASE("An F32 checkpoint streamed in small chunks equals load_pretrained_model bit for bit", "[load-device]") {
    std::string dir = write_test_checkpoint("f32", read_file(kLlamaDir + "/config.json"),
                                            fixture_tensors(kLlamaDir, "F32"), 1);
    DeviceLoadOptions options;
    options.staging_bytes = 56;  // 7 elements a chunk: every tensor crosses chunk boundaries at odd places
    WeightMap extras, want_extras;
    options.extra_tensors = &extras;
    DeviceLoadReport report;
    Model got = load_pretrained_model_on(dir, Device::CPU, options, &report);
    Model want = reference_model(dir, false, &want_extras);
    require_same_weights(got, want, Device::CPU);
    CHECK(want_extras.size() == 8);  // 2 layers x (q, v) x (A, B)
    require_same_extras(extras, want_extras, Device::CPU);

    CHECK(report.tensors == (int)(model_weights(want).size() + 8));
    CHECK(report.staging_bytes == 56);
    CHECK(report.largest_tensor_bytes == 40 * 16 * 4);  // the (V, C) embedding and head
    CHECK(report.device_bytes == report.file_bytes_read);  // f32 in, f32 out
}

TEST_CASE("A tied T5 checkpoint reads its shared embedding once and skips the aliases", "[load-device]") {
    std::vector<RawTensor> tensors = fixture_tensors(kT5Dir, "F32");
    size_t file_bytes = 0, alias_bytes = 0;
    for (const RawTensor& t : tensors) file_bytes += t.bytes.size();
    for (const RawTensor& t : fixture_tensors(kT5Dir, "F32")) {
        if (t.name != "shared.weight") continue;
        RawTensor alias = t;  // some HF T5 files store the embedding under its alias names as well
        alias.name = "encoder.embed_tokens.weight";
        tensors.push_back(alias);
        alias_bytes = alias.bytes.size();
    }
    REQUIRE(alias_bytes > 0);
    std::string dir = write_test_checkpoint("t5_alias", read_file(kT5Dir + "/config.json"), tensors, 1);
    DeviceLoadReport report;
    Model got = load_pretrained_model_on(dir, Device::CPU, DeviceLoadOptions{}, &report);
    Model want = reference_model(dir, false);
    require_same_weights(got, want, Device::CPU);
    CHECK(report.file_bytes_read == file_bytes);  // the alias's bytes were never read
    CHECK(report.largest_tensor == "shared.weight");
}

TEST_CASE("A sharded checkpoint loads through its index the same weights as the single file", "[load-device]") {
    std::vector<RawTensor> tensors = fixture_tensors(kLlamaDir, "BF16");
    std::string sharded = write_test_checkpoint("sharded", read_file(kLlamaDir + "/config.json"), tensors, 3);
    std::string single = write_test_checkpoint("single", read_file(kLlamaDir + "/config.json"), tensors, 1);
    for (bool bf16 : {false, true}) {
        INFO("bf16_frozen " << bf16);
        DeviceLoadOptions options;
        options.bf16_frozen = bf16;
        options.staging_bytes = 1000;
        Model got = load_pretrained_model_on(sharded, Device::CPU, options);
        Model want = reference_model(single, bf16);
        require_same_weights(got, want, Device::CPU);
    }
    // An index naming a tensor its shard does not hold is the CPU loader's error too.
    std::string index = read_file(sharded + "/model.safetensors.index.json");
    std::string broken = index;
    broken.insert(broken.find("\"weight_map\":{") + 14, "\"model.ghost.weight\":\"model-00002-of-00003.safetensors\",");
    atomic_write_file(sharded + "/model.safetensors.index.json", broken);
    REQUIRE_THROWS_WITH(load_pretrained_model_on(sharded, Device::CPU, false),
                        Catch::Contains("model-00002-of-00003.safetensors") &&
                            Catch::Contains("model.ghost.weight listed in the index is not in this shard"));
    atomic_write_file(sharded + "/model.safetensors.index.json", index);
}

TEST_CASE("bf16 precision stores frozen matrices in bf16 as model_frozen_weights_to_bf16 rounds them",
          "[load-device]") {
    std::string config = read_file(kLlamaDir + "/config.json");
    for (const std::string dtype : {"F32", "BF16"}) {
        INFO("file dtype " << dtype);
        std::string dir = write_test_checkpoint("bf16_" + dtype, config, fixture_tensors(kLlamaDir, dtype), 2);
        DeviceLoadOptions options;
        options.bf16_frozen = true;
        options.staging_bytes = 40;
        Model got = load_pretrained_model_on(dir, Device::CPU, options);
        Model want = reference_model(dir, true);
        require_same_weights(got, want, Device::CPU);
        CHECK(got.llama.layers[0].q.dtype() == DType::BF16);
        CHECK(got.llama.embed.dtype() == DType::BF16);
        CHECK(got.llama.final_norm.dtype() == DType::F32);  // gains stay f32 for the norm kernels
        // f32 precision keeps an f32 file as it is and widens a bf16 file exactly.
        Model widened = load_pretrained_model_on(dir, Device::CPU, false);
        CHECK(widened.llama.layers[0].q.dtype() == DType::F32);
        if (dtype == "BF16") CHECK(tensor_values(widened.llama.layers[0].q) == tensor_values(want.llama.layers[0].q));
    }
}

TEST_CASE("F16 is decoded exactly: every half, subnormals, infinities and NaN", "[load-device]") {
    std::vector<RawTensor> tensors = fixture_tensors(kLlamaDir, "F16");
    RawTensor every_half{"probe.lora_every_half", "F16", {256, 256}, ""};  // a PET name: handed back in f32
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t half = (uint16_t)h;
        every_half.bytes.append((const char*)&half, 2);
    }
    tensors.push_back(every_half);
    std::string dir = write_test_checkpoint("f16", read_file(kLlamaDir + "/config.json"), tensors, 2);

    WeightMap extras;
    DeviceLoadOptions options;
    options.extra_tensors = &extras;
    options.staging_bytes = 4096;  // the probe crosses 128 chunks
    Model got = load_pretrained_model_on(dir, Device::CPU, options);
    REQUIRE(extras.count("probe.lora_every_half"));
    Tensor decoded = extras.at("probe.lora_every_half");
    REQUIRE(decoded.dtype() == DType::F32);
    int subnormals = 0, nans = 0, infinities = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float value = decoded.f32()[h], want = half_reference((uint16_t)h);
        INFO("half 0x" << std::hex << h);
        if (std::isnan(want)) {
            nans++;
            REQUIRE(std::isnan(value));
            CHECK(std::signbit(value) == ((h & 0x8000) != 0));
            CHECK(((bits_of(value) >> 13) & 0x3ff) == (h & 0x3ff));  // the payload survives
        } else {
            if (std::isinf(want)) infinities++;
            if (((h >> 10) & 0x1f) == 0 && (h & 0x3ff) != 0) subnormals++;
            REQUIRE(bits_of(value) == bits_of(want));  // exact, signed zeros included
        }
    }
    CHECK(subnormals == 2 * 1023);
    CHECK(infinities == 2);
    CHECK(nans == 2 * 1023);

    // The model's own weights: f32 as load_pretrained_model decodes them, and bf16 rounded once from there.
    Model want = reference_model(dir, false);
    require_same_weights(got, want, Device::CPU);
    Model got_bf16 = load_pretrained_model_on(dir, Device::CPU, true);
    Model want_bf16 = reference_model(dir, true);
    require_same_weights(got_bf16, want_bf16, Device::CPU);
}

TEST_CASE("A wrong checkpoint fails with load_pretrained_model's message before anything is loaded",
          "[load-device]") {
    std::string config = read_file(kLlamaDir + "/config.json");
    std::vector<RawTensor> tensors = fixture_tensors(kLlamaDir, "F32");
    std::vector<RawTensor> missing;
    for (const RawTensor& t : tensors) {
        if (t.name != "model.layers.1.mlp.up_proj.weight") missing.push_back(t);
    }
    std::string dir = write_test_checkpoint("missing", config, missing, 1);
    std::string cpu_message;
    try {
        load_pretrained_model(dir);
    } catch (const sapt_error& error) {
        cpu_message = error.what();
    }
    REQUIRE(cpu_message.find("missing tensors: model.layers.1.mlp.up_proj.weight") != std::string::npos);
    REQUIRE_THROWS_WITH(load_pretrained_model_on(dir, Device::CPU, false), cpu_message);

    // A weight stored as integers cannot be a weight.
    std::vector<RawTensor> integer = tensors;
    for (RawTensor& t : integer) {
        if (t.name == "model.norm.weight") t.dtype = "I32";
    }
    dir = write_test_checkpoint("integer", config, integer, 1);
    REQUIRE_THROWS_WITH(load_pretrained_model_on(dir, Device::CPU, false),
                        Catch::Contains("model.norm.weight") && Catch::Contains("expected a floating dtype"));

#ifndef SAPT_CUDA
    REQUIRE_THROWS_WITH(load_pretrained_model_on(kLlamaDir, Device::CUDA, true), Catch::Contains("no CUDA backend"));
#endif
}

TEST_CASE("The staging buffer is bounded by the budget and by what the largest tensor needs", "[load-device]") {
    DeviceLoadReport report;
    load_pretrained_model_on(kLlamaDir, Device::CPU, DeviceLoadOptions{}, &report);
    // 64 MiB asked, but the largest tensor has 640 elements: read and converted halves of 640 f32.
    CHECK(report.staging_bytes == 640 * 8);
    DeviceLoadOptions tight;
    tight.staging_bytes = 8;  // one element a chunk still works
    Model one_at_a_time = load_pretrained_model_on(kLlamaDir, Device::CPU, tight, &report);
    CHECK(report.staging_bytes == 8);
    Model want = reference_model(kLlamaDir, false);
    require_same_weights(one_at_a_time, want, Device::CPU);
}

TEST_CASE("A llama2.c .bin is loaded through its mapping, then converted and moved one tensor at a time",
          "[load-device]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
    for (bool bf16 : {false, true}) {
        INFO("bf16_frozen " << bf16);
        DeviceLoadReport report;
        DeviceLoadOptions options;
        options.bf16_frozen = bf16;
        Model got = load_pretrained_model_on(dir + "/stories260K.bin", Device::CPU, options, &report);
        Model want = reference_model(dir + "/stories260K.bin", bf16);
        require_same_weights(got, want, Device::CPU);
        CHECK(report.tensors == (int)model_weights(want).size());
        // f32 weights in the file: unchanged in f32, matrices halved in bf16 (the norm gains stay f32).
        if (bf16) CHECK(report.device_bytes < report.file_bytes_read);
        else CHECK(report.device_bytes == report.file_bytes_read);
    }
}

TEST_CASE("Allocation labels nest and give back the outer label", "[load-device]") {
    CHECK(device_alloc_label().empty());
    {
        DeviceAllocLabel outer("LoRA of task 3");
        CHECK(device_alloc_label() == "LoRA of task 3");
        {
            DeviceAllocLabel inner("weight model.norm.weight");
            CHECK(device_alloc_label() == "weight model.norm.weight");
        }
        CHECK(device_alloc_label() == "LoRA of task 3");
    }
    CHECK(device_alloc_label().empty());
#ifndef SAPT_CUDA
    CHECK(device_memory_summary().find("no CUDA backend") != std::string::npos);
#endif
}
