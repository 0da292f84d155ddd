// load_device_util.h — what the device loader's tests share (tests/test_load_device.cpp on the CPU,
// tests/cuda/test_load_device_emu.cpp on the device): a fixture checkpoint rewritten in a chosen file
// dtype (F32, F16 or BF16), whole or split into shards with an index, by a safetensors writer made here
// (safetensors_save writes no F16); the reference model the loader must equal; a bitwise comparison.
#pragma once
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "models/load_device.h"
#include "models/model_device.h"

// One tensor as it will sit in the file: its dtype's name and its little-endian bytes.
struct RawTensor {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::string bytes;
};

// f32 -> IEEE half by truncating the mantissa; the values of the fixtures are normal halves. Any bits
// would do: the tests compare two loaders reading the same file, and decoding is checked on its own.
inline uint16_t f32_to_f16_truncated(float value) {
    uint32_t x;
    std::memcpy(&x, &value, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exponent = (int)((x >> 23) & 0xff) - 127 + 15;
    if (exponent <= 0) return sign;
    if (exponent >= 31) return (uint16_t)(sign | 0x7c00);
    return (uint16_t)(sign | (exponent << 10) | ((x & 0x7fffff) >> 13));
}

// Every tensor of `fixture_dir`/model.safetensors, stored as `dtype`.
inline std::vector<RawTensor> fixture_tensors(const std::string& fixture_dir, const std::string& dtype) {
    SafeTensorsFile file = safetensors_open(fixture_dir + "/model.safetensors");
    std::vector<RawTensor> out;
    for (const std::string& name : file.names()) {
        Tensor t = file.get(name);
        RawTensor raw{name, dtype, t.shape(), ""};
        std::vector<float> values = tensor_values(t);
        for (float v : values) {
            if (dtype == "F32") {
                raw.bytes.append((const char*)&v, 4);
            } else {
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                uint16_t half = dtype == "F16" ? f32_to_f16_truncated(v) : (uint16_t)(bits >> 16);
                raw.bytes.append((const char*)&half, 2);
            }
        }
        out.push_back(raw);
    }
    return out;
}

// header length (u64 LE), header JSON padded to 8 bytes, data: in the order given.
inline void write_raw_safetensors(const std::string& path, const std::vector<RawTensor>& tensors) {
    std::string header = "{", data;
    for (const RawTensor& t : tensors) {
        size_t begin = data.size();
        data += t.bytes;
        std::string shape;
        for (int64_t d : t.shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        header += std::string(header.size() > 1 ? "," : "") + "\"" + t.name + "\":{\"dtype\":\"" + t.dtype +
                  "\",\"shape\":[" + shape + "],\"data_offsets\":[" + std::to_string(begin) + "," +
                  std::to_string(data.size()) + "]}";
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    uint64_t length = header.size();
    atomic_write_file(path, std::string((const char*)&length, 8) + header + data);
}

// A checkpoint directory /tmp/sapt_test_load_device_<name>: config.json and the tensors in one
// model.safetensors (shards == 1) or dealt round-robin into `shards` files listed by an index.
inline std::string write_test_checkpoint(const std::string& name, const std::string& config_json,
                                         const std::vector<RawTensor>& tensors, int shards) {
    std::string dir = "/tmp/sapt_test_load_device_" + name;
    mkdir(dir.c_str(), 0755);
    std::remove((dir + "/model.safetensors").c_str());
    std::remove((dir + "/model.safetensors.index.json").c_str());
    atomic_write_file(dir + "/config.json", config_json);
    if (shards == 1) {
        write_raw_safetensors(dir + "/model.safetensors", tensors);
        return dir;
    }
    std::vector<std::vector<RawTensor>> parts(shards);
    std::string weight_map;
    for (size_t i = 0; i < tensors.size(); i++) {
        int shard = (int)(i % shards);
        parts[shard].push_back(tensors[i]);
        std::string file = "model-0000" + std::to_string(shard + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
        weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + tensors[i].name + "\":\"" + file + "\"";
    }
    for (int s = 0; s < shards; s++) {
        write_raw_safetensors(dir + "/model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) +
                                  ".safetensors",
                              parts[s]);
    }
    atomic_write_file(dir + "/model.safetensors.index.json", "{\"metadata\":{},\"weight_map\":{" + weight_map + "}}");
    return dir;
}

// What the device loader must produce, built the long way on the CPU: load_pretrained_model, then
// model_frozen_weights_to_bf16 (bf16) or every weight widened to f32; PET tensors in f32.
inline Model reference_model(const std::string& dir, bool bf16_frozen, WeightMap* extras = nullptr) {
    Model model = load_pretrained_model(dir, extras);
    if (bf16_frozen) {
        model_frozen_weights_to_bf16(model);
    } else {
        for (NamedWeight& w : model_weights(model)) *w.tensor = tensor_to_f32(*w.tensor);
    }
    if (extras) {
        for (auto& entry : *extras) entry.second = tensor_to_f32(entry.second);
    }
    return model;
}

inline std::string host_bytes(const Tensor& t) {
    Tensor host = tensor_to_device(t, Device::CPU);
    return std::string((const char*)host.raw(), (size_t)host.numel() * dtype_size(host.dtype()));
}

// Same names, shapes, dtypes and bytes; `got` frozen and on `device`.
inline void require_same_tensor(const Tensor& got, const Tensor& want, Device device) {
    REQUIRE(got.defined());
    CHECK(got.device() == device);
    CHECK(got.dtype() == want.dtype());
    CHECK(got.shape() == want.shape());
    CHECK_FALSE(got.requires_grad());
    if (got.dtype() == want.dtype() && got.shape() == want.shape()) CHECK(host_bytes(got) == host_bytes(want));
}

inline void require_same_weights(Model& got, Model& want, Device device) {
    std::vector<NamedWeight> g = model_weights(got), w = model_weights(want);
    REQUIRE(g.size() == w.size());
    for (size_t i = 0; i < g.size(); i++) {
        INFO("weight " << w[i].name);
        CHECK(g[i].name == w[i].name);
        require_same_tensor(*g[i].tensor, *w[i].tensor, device);
    }
}

inline void require_same_extras(const WeightMap& got, const WeightMap& want, Device device) {
    REQUIRE(got.size() == want.size());
    for (const auto& [name, tensor] : want) {
        INFO("extra tensor " << name);
        REQUIRE(got.count(name));
        require_same_tensor(got.at(name), tensor, device);
    }
}
