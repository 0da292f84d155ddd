// load_device.h — loading a Hugging Face checkpoint straight onto a device (the GPU) in the dtype it will
// run in. Every tensor is read from its shard with pread, one bounded chunk at a time, into a host staging
// buffer, converted there (F32 / F16 / BF16 to F32 or BF16) and copied to its device buffer; so the host
// holds the staging buffer and nothing else, whatever the model's size (a 13B model never sits in host
// memory). Not here: llama2.c .bin files, which go through load_pretrained_model's mapping and then move
// tensor by tensor; the GEMM precision of the CPU (model_apply_precision sets it).
#pragma once
#include <cstddef>
#include <string>

#include "models/model.h"

struct DeviceLoadOptions {
    // Frozen 2-D weights (projections, embeddings, relative-position tables) stored in bf16, rounded to
    // nearest even: the rule of model_frozen_weights_to_bf16. Everything else, and every weight when
    // false, is stored in f32 (a bf16 or f16 checkpoint is widened exactly).
    bool bf16_frozen = false;
    // The host staging budget: read and converted halves of a chunk together. Tensors larger than it
    // travel in several chunks. Capped at what the largest tensor needs, so a small model stays small.
    size_t staging_bytes = size_t(64) << 20;
    // PET tensors found in the checkpoint (see is_pet_tensor_name) go here, in f32 on the device;
    // dropped when null.
    WeightMap* extra_tensors = nullptr;
};

// What a load did, for logs and the memory benchmark.
struct DeviceLoadReport {
    int tensors = 0;                  // tensors uploaded
    size_t file_bytes_read = 0;       // bytes read from the shards (aliases and ignored buffers are skipped)
    size_t device_bytes = 0;          // bytes of the uploaded tensors in their target dtypes
    size_t staging_bytes = 0;         // the host staging buffer actually allocated
    size_t largest_tensor_bytes = 0;  // the largest tensor read, in its file dtype
    std::string largest_tensor;       // its name
};

// Loads `path` onto `device`: a HF directory (config.json + model.safetensors, or the shards listed in
// model.safetensors.index.json; tensors in F32, F16 or BF16) through the staging buffer, a llama2.c .bin
// through load_pretrained_model then tensor by tensor. Names and shapes are checked for the whole model
// before any device memory is allocated (the same errors as load_pretrained_model). Every device
// allocation is labelled with the tensor's name, so running out of GPU memory names the weight.
// Device::CPU runs the same path (the copy is a memcpy). Every backbone weight is frozen.
Model load_pretrained_model_on(const std::string& path, Device device, const DeviceLoadOptions& options,
                               DeviceLoadReport* report = nullptr);

// The common call: load_pretrained_model_on(path, device, {bf16_frozen}).
Model load_pretrained_model_on(const std::string& path, Device device, bool bf16_frozen);
