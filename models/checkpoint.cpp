// checkpoint.cpp — HF directories: config.json, and model.safetensors or the shards named by
// model.safetensors.index.json. See checkpoint.h; the llama2.c format is in llama2c.cpp.
#include "models/checkpoint.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/fileio.h"

static bool is_directory(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The file a shard name of the index stands for. The index is data from elsewhere (a download): a name must be
// a plain file name in the checkpoint folder, and a symlink must stay inside it, or else in the blob store of
// the Hugging Face hub cache, whose snapshots/<revision>/ folders hold links to ../../blobs/<hash>.
static std::string shard_file(const std::string& directory, const std::string& index_path, const std::string& shard) {
    const std::string entry = "weight_map entry \"" + shard.substr(0, 200) + "\"";
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos) {
        fail(index_path, entry + " leaves the checkpoint folder (expected a file name such as "
                                 "model-00001-of-00002.safetensors, without '/' or '..')");
    }
    const std::string path = directory + "/" + shard;
    std::error_code error;
    const std::filesystem::path folder = std::filesystem::canonical(directory, error);
    const std::filesystem::path target = std::filesystem::canonical(path, error);
    if (error) return path;  // a missing shard: safetensors_open names it
    const bool in_folder = target.parent_path() == folder;
    const bool in_hub_blobs = folder.parent_path().filename() == "snapshots" &&
                              target.parent_path() == folder.parent_path().parent_path() / "blobs";
    if (!in_folder && !in_hub_blobs) {
        fail(index_path, entry + " is a link out of the checkpoint folder (to " + target.string() +
                             "; expected a file inside " + folder.string() + ")");
    }
    return path;
}

std::vector<HfShard> hf_safetensors_shards(const std::string& directory) {
    std::string single = directory + "/model.safetensors";
    std::string index_path = directory + "/model.safetensors.index.json";
    if (is_file(single)) {
        HfShard shard;
        shard.path = single;
        shard.every_tensor = true;
        return {shard};
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
    std::vector<HfShard> shards;
    for (auto& [file, names] : names_by_shard) {
        HfShard shard;
        shard.path = shard_file(directory, index_path, file);
        shard.names = names;
        shards.push_back(shard);
    }
    return shards;
}

std::vector<std::string> hf_shard_tensor_names(const HfShard& shard, const SafeTensorsFile& file,
                                               std::set<std::string>& seen) {
    std::vector<std::string> names;
    if (shard.every_tensor) {
        names = file.names();
    } else {
        for (const std::string& name : shard.names) {
            if (!file.has(name)) fail(file.path, "tensor " + name + " listed in the index is not in this shard");
            names.push_back(name);
        }
    }
    for (const std::string& name : names) {
        if (!seen.insert(name).second) fail(file.path, "tensor " + name + " appears in more than one shard");
    }
    return names;
}

WeightMap read_hf_weights(const std::string& directory) {
    WeightMap weights;
    std::set<std::string> seen;
    for (const HfShard& shard : hf_safetensors_shards(directory)) {
        SafeTensorsFile file = safetensors_open(shard.path);
        for (const std::string& name : hf_shard_tensor_names(shard, file, seen)) weights[name] = file.get(name);
    }
    return weights;
}

Checkpoint read_hf_config(const std::string& directory) {
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
    return c;
}

Checkpoint read_hf_checkpoint(const std::string& directory) {
    Checkpoint c = read_hf_config(directory);
    c.weights = read_hf_weights(directory);
    return c;
}

Checkpoint read_checkpoint(const std::string& path) {
    if (is_directory(path)) return read_hf_checkpoint(path);
    if (is_file(path)) return read_llama2c_checkpoint(path);
    fail(path, "no such file or directory (expected a HF checkpoint directory or a llama2.c .bin)");
}
