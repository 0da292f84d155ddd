// make_random_checkpoint.cpp (tool) — writes a LLaMA-shaped Hugging Face checkpoint of random bf16
// weights, sharded with model.safetensors.index.json, for measuring the device loader on a model too big
// to copy around (bench/load_memory.cpp). Each tensor is generated and written on its own, so the tool
// holds one tensor in memory, never a shard. Default: hidden 2048, FFN 5504, 18 layers, vocab 32000, an
// untied head: 1.04B parameters, 2.1 GB in 4 shards. Values uniform in +-0.05, norm gains 1.
// Usage: make_random_checkpoint DIR [hidden intermediate layers vocab shards]
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "engine/error.h"
#include "engine/fileio.h"

namespace {

struct Planned {
    std::string name;
    std::vector<int64_t> shape;
    bool gain;  // a norm gain: all ones
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

// LlamaForCausalLM's state dict in its own order.
std::vector<Planned> llama_tensors(int64_t C, int64_t F, int layers, int64_t V) {
    std::vector<Planned> out = {{"model.embed_tokens.weight", {V, C}, false}};
    for (int i = 0; i < layers; i++) {
        std::string p = "model.layers." + std::to_string(i);
        out.push_back({p + ".input_layernorm.weight", {C}, true});
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "o_proj"})
            out.push_back({p + ".self_attn." + proj + ".weight", {C, C}, false});
        out.push_back({p + ".post_attention_layernorm.weight", {C}, true});
        out.push_back({p + ".mlp.gate_proj.weight", {F, C}, false});
        out.push_back({p + ".mlp.up_proj.weight", {F, C}, false});
        out.push_back({p + ".mlp.down_proj.weight", {C, F}, false});
    }
    out.push_back({"model.norm.weight", {C}, true});
    out.push_back({"lm_head.weight", {V, C}, false});
    return out;
}

// xorshift64*: fast and good enough for weights nobody reads.
struct Random {
    uint64_t state;
    uint64_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 2685821657736338717ull;
    }
};

uint16_t random_bf16(Random& random) {
    float value = ((float)(random.next() >> 40) / 16777216.0f - 0.5f) * 0.1f;  // uniform in [-0.05, 0.05)
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    return (uint16_t)(bits >> 16);  // truncation: any bf16 will do
}

std::string shard_name(int shard, int shards) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", shard + 1, shards);
    return name;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 && argc != 7) {
        std::fprintf(stderr, "usage: %s DIR [hidden intermediate layers vocab shards]\n", argv[0]);
        return 2;
    }
    try {
        std::string dir = argv[1];
        int64_t C = argc == 7 ? std::atoll(argv[2]) : 2048, F = argc == 7 ? std::atoll(argv[3]) : 5504;
        int layers = argc == 7 ? std::atoi(argv[4]) : 18, shards = argc == 7 ? std::atoi(argv[6]) : 4;
        int64_t V = argc == 7 ? std::atoll(argv[5]) : 32000;
        if (C <= 0 || F <= 0 || layers <= 0 || V <= 0 || shards <= 0 || C % 16 != 0) {
            fail("make_random_checkpoint", "sizes must be positive and hidden a multiple of 16 (16 heads)");
        }
        if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) fail(dir, "cannot create the directory");

        std::vector<Planned> tensors = llama_tensors(C, F, layers, V);
        int64_t total_bytes = 0;
        for (const Planned& t : tensors) total_bytes += t.numel() * 2;
        // Deal tensors to shards in order, starting a new shard once one holds its share of the bytes.
        std::vector<std::vector<const Planned*>> by_shard(shards);
        int64_t filled = 0;
        int shard = 0;
        for (const Planned& t : tensors) {
            if (shard + 1 < shards && filled >= total_bytes / shards * (shard + 1)) shard++;
            by_shard[shard].push_back(&t);
            filled += t.numel() * 2;
        }

        Random random{0x9e3779b97f4a7c15ull};
        std::string weight_map;
        int64_t params = 0;
        for (int s = 0; s < shards; s++) {
            std::string header = "{", file = shard_name(s, shards);
            int64_t offset = 0;
            for (const Planned* t : by_shard[s]) {
                std::string shape;
                for (int64_t d : t->shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
                header += std::string(header.size() > 1 ? "," : "") + "\"" + t->name + "\":{\"dtype\":\"BF16\",\"shape\":[" +
                          shape + "],\"data_offsets\":[" + std::to_string(offset) + "," +
                          std::to_string(offset + t->numel() * 2) + "]}";
                offset += t->numel() * 2;
                weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + t->name + "\":\"" + file + "\"";
            }
            header += "}";
            header.append((8 - header.size() % 8) % 8, ' ');
            uint64_t length = header.size();
            AtomicWriter writer(dir + "/" + file);
            writer.write(&length, 8);
            writer.write(header.data(), header.size());
            std::vector<uint16_t> values;
            for (const Planned* t : by_shard[s]) {
                values.resize((size_t)t->numel());
                for (uint16_t& v : values) v = t->gain ? 0x3f80 : random_bf16(random);  // 0x3f80 = 1.0
                writer.write(values.data(), values.size() * 2);
                params += t->numel();
            }
            writer.commit();
            std::printf("wrote %s (%.1f MiB)\n", file.c_str(), (double)offset / 1048576.0);
        }
        atomic_write_file(dir + "/model.safetensors.index.json",
                          "{\"metadata\":{\"total_size\":" + std::to_string(total_bytes) + "},\"weight_map\":{" +
                              weight_map + "}}");
        atomic_write_file(dir + "/config.json",
                          "{\"model_type\":\"llama\",\"hidden_size\":" + std::to_string(C) +
                              ",\"intermediate_size\":" + std::to_string(F) +
                              ",\"num_attention_heads\":16,\"num_key_value_heads\":16,\"num_hidden_layers\":" +
                              std::to_string(layers) + ",\"vocab_size\":" + std::to_string(V) +
                              ",\"rms_norm_eps\":1e-06,\"hidden_act\":\"silu\",\"tie_word_embeddings\":false}");
        std::printf("%s: %lld parameters (%.2fB), %.1f MiB of bf16 in %d shards\n", dir.c_str(), (long long)params,
                    params / 1e9, total_bytes / 1048576.0, shards);
    } catch (const sapt_error& error) {
        std::fprintf(stderr, "%s\n", error.what());
        return 1;
    }
    return 0;
}
