// checkpoint.cpp — HF directories: config.json, and model.safetensors or the shards named by
// model.safetensors.index.json. See checkpoint.h; the llama2.c format is in llama2c.cpp.
#include "models/checkpoint.h"

#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"

static bool is_directory(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

static void add_file_tensors(const SafeTensorsFile& file, const std::set<std::string>* only, WeightMap& out) {
    for (const std::string& name : file.names()) {
        if (only && !only->count(name)) continue;
        if (out.count(name)) fail(file.path, "tensor " + name + " appears in more than one shard");
        out[name] = file.get(name);
    }
}

WeightMap read_hf_weights(const std::string& directory) {
    std::string single = directory + "/model.safetensors";
    std::string index_path = directory + "/model.safetensors.index.json";
    WeightMap weights;
    if (is_file(single)) {
        add_file_tensors(safetensors_open(single), nullptr, weights);
        return weights;
    }
    if (!is_file(index_path)) {
        std::string hint = is_file(directory + "/pytorch_model.bin")
                               ? " (found pytorch_model.bin: convert it to safetensors first)"
                               : "";
        fail(directory, "no model.safetensors or model.safetensors.index.json" + hint);
    }
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(read_file(index_path));
    } catch (const nlohmann::json::exception& e) {
        fail(index_path, std::string("not valid JSON (") + e.what() + ")");
    }
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
        fail(index_path, "missing the \"weight_map\" object");
    }
    std::map<std::string, std::set<std::string>> names_by_shard;
    for (auto& [name, shard] : index["weight_map"].items()) {
        if (!shard.is_string()) fail(index_path, "weight_map entry " + name + " is not a file name");
        names_by_shard[shard.get<std::string>()].insert(name);
    }
    for (auto& [shard, names] : names_by_shard) {
        SafeTensorsFile file = safetensors_open(directory + "/" + shard);
        for (const std::string& name : names) {
            if (!file.has(name)) fail(file.path, "tensor " + name + " listed in the index is not in this shard");
        }
        add_file_tensors(file, &names, weights);
    }
    return weights;
}

Checkpoint read_hf_checkpoint(const std::string& directory) {
    std::string config_path = directory + "/config.json";
    std::string text = read_file(config_path);
    Checkpoint c;
    c.where = directory;
    c.kind = config_model_kind(text, config_path);
    if (c.kind == ModelKind::T5) {
        c.t5_config = t5_config_from_json(text, config_path);
    } else {
        c.llama_config = llama_config_from_json(text, config_path);
    }
    c.weights = read_hf_weights(directory);
    return c;
}

Checkpoint read_checkpoint(const std::string& path) {
    if (is_directory(path)) return read_hf_checkpoint(path);
    if (is_file(path)) return read_llama2c_checkpoint(path);
    fail(path, "no such file or directory (expected a HF checkpoint directory or a llama2.c .bin)");
}
