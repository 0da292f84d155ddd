// checkpoint.h — reading model files into a config and a name -> tensor map with HF names:
// a Hugging Face directory (config.json + model.safetensors, or shards listed in
// model.safetensors.index.json) or a llama2.c .bin (legacy v0 or v1 header). Tensors are views into
// the memory-mapped files except where a conversion is needed (F16 -> F32, llama2.c q/k row order).
// Not here: which names a model needs (t5_weights.cpp, llama_weights.cpp).
#pragma once
#include <set>
#include <string>
#include <vector>

#include "engine/safetensors.h"

#include "models/config.h"
#include "models/weights.h"

struct Checkpoint {
    std::string where;  // the path, for messages
    ModelKind kind = ModelKind::T5;
    T5Config t5_config;        // when kind == T5
    LlamaConfig llama_config;  // when kind == Llama
    WeightMap weights;
};

// Dispatches on the path: a directory is a HF checkpoint; a file is a llama2.c .bin.
Checkpoint read_checkpoint(const std::string& path);
Checkpoint read_hf_checkpoint(const std::string& directory);
Checkpoint read_llama2c_checkpoint(const std::string& path);

// Every tensor of a HF directory's safetensors files (one file or the shards of the index).
WeightMap read_hf_weights(const std::string& directory);

// A HF directory's config.json alone: where, kind and config filled in, weights left empty.
Checkpoint read_hf_config(const std::string& directory);

// The safetensors files of a HF directory and what each contributes: model.safetensors (every tensor),
// or each shard named by model.safetensors.index.json with the names the index lists for it.
struct HfShard {
    std::string path;
    bool every_tensor = false;    // the single-file layout
    std::set<std::string> names;  // the index's names for this shard (when !every_tensor)
};
std::vector<HfShard> hf_safetensors_shards(const std::string& directory);

// The names `shard` contributes, checked against its opened file: a name the index lists must be in
// the file, and a name must not already be in `seen` (given by an earlier shard); adds them to `seen`.
std::vector<std::string> hf_shard_tensor_names(const HfShard& shard, const SafeTensorsFile& file,
                                               std::set<std::string>& seen);
