// fuzz_targets.h — the body of every libFuzzer target, one function per input format, so that the Catch2
// suite (tests/test_bad_inputs.cpp) can replay saved crash inputs through exactly the same calls.
// A body returns normally when the input was accepted or rejected with a sapt_error; any other exception
// escapes (libFuzzer reports it as a crash) and a broken invariant aborts. Entry points: fuzz/fuzz_*.cpp.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "fuzz/fuzz_util.h"
#include "models/config.h"
#include "models/model.h"
#include "sapt/ask.h"
#include "sapt/builtin.h"
#include "sapt/checkpoint.h"
#include "sapt/peft.h"
#include "sapt/run_folder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/trainer.h"

// Bytes as a .safetensors file: a file safetensors_open accepts must have every tensor readable, each
// viewed byte inside the mapping (ASan checks the reads).
inline void fuzz_safetensors(const uint8_t* data, size_t size) {
    const std::string& path = fuzz_write_scratch(data, size, ".safetensors");
    try {
        SafeTensorsFile file = safetensors_open(path);
        for (const std::string& name : file.names()) {
            const SafeTensorInfo& info = file.tensors.at(name);
            if (file.data_section + info.end > file.mapping->data + file.mapping->size) std::abort();
            Tensor t = file.get(name);
            if (t.numel() != shape_numel(info.shape)) std::abort();
            const uint8_t* bytes = (const uint8_t*)t.raw();
            volatile uint8_t sum = 0;
            for (size_t i = 0; i < (size_t)t.numel() * dtype_size(t.dtype()); i++) sum += bytes[i];
        }
    } catch (const sapt_error&) {
    }
}

// The data files: the first byte picks the reader (a SuperNI split, a Long_Sequence split under the
// official label draw, labels.json, every order of orders.json, one named order), the rest is the file.
inline void fuzz_cl_benchmark(const uint8_t* data, size_t size) {
    if (size == 0) return;
    const int reader = data[0] % 5;
    const std::string& path = fuzz_write_scratch(data + 1, size - 1, ".json");
    try {
        if (reader == 0) {
            read_split_file(path, Benchmark::super_ni);
        } else if (reader == 1) {
            LoadOptions options;
            options.compat_official = true;  // the Python-random label draw over output lists
            read_split_file(path, Benchmark::long_sequence, options);
        } else if (reader == 2) {
            read_labels_file(path);
        } else if (reader == 3) {
            for (const std::string& id : list_order_ids(path)) load_order(path, id);
        } else {
            load_order(path, "superni_order1");
        }
    } catch (const sapt_error&) {
    }
}

// config.json text: the family, then that family's config (both parsers, whatever the family says).
inline void fuzz_config(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        config_model_kind(text, "config.json");
    } catch (const sapt_error&) {
    }
    try {
        t5_config_from_json(text, "config.json");
    } catch (const sapt_error&) {
    }
    try {
        LlamaConfig c = llama_config_from_json(text, "config.json");
        if (c.head_dim() <= 0) std::abort();
    } catch (const sapt_error&) {
    }
}

// Bytes as a SentencePiece .model: a model that loads must encode and decode text (its charsmap and
// tries come from the input, so this walks them with hostile offsets).
inline void fuzz_model_proto(const uint8_t* data, size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        Tokenizer tokenizer = make_tokenizer(parse_model_proto(bytes, "fuzz.model"), 3, "fuzz.model");
        for (const char* text : {"Hello world", "  a\xE2\x96\x81 b <extra_id_0> caf\xC3\xA9 \xFF\xFE", "\xE3\x80\x80x"}) {
            std::vector<std::string> pieces;
            std::vector<int> ids;
            encode(tokenizer, text, ids, &pieces);
            decode(tokenizer, ids);
        }
        std::vector<int> every_id;
        for (int id = 0; id < vocab_size(tokenizer) && id < 4096; id++) every_id.push_back(id);
        decode(tokenizer, every_id);
    } catch (const sapt_error&) {
    }
}

// The tokenizers fuzz_encode uses: a unigram and a BPE model trained in-process (NFKC charsmap, byte
// fallback), a unigram without either, and the shared T5 / LLaMA models when SAPT_SHARED (default
// ../shared) has them.
inline std::vector<Tokenizer> fuzz_encode_tokenizers() {
    const std::vector<std::string> corpus = {
        "the quick brown fox jumps over the lazy dog", "Definition: classify the sentiment. Output: positive",
        "caf\xC3\xA9 na\xC3\xAFve \xEF\xBC\xA1\xEF\xBC\xA2 \xE2\x91\xA0 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
        "numbers 12345 and   spaces\ttabs", "the dog and the fox are friends; the end."};
    std::vector<Tokenizer> tokenizers;
    tokenizers.push_back(make_tokenizer(train_unigram(corpus, 330), 0, "unigram (in-process)"));
    tokenizers.push_back(make_tokenizer(train_bpe(corpus, 340), 0, "bpe (in-process)"));
    UnigramTrainerOptions plain;
    plain.nfkc = false;
    plain.byte_fallback = false;
    tokenizers.push_back(make_tokenizer(train_unigram(corpus, 60, plain), 2, "unigram, no byte fallback"));
    const char* env = std::getenv("SAPT_SHARED");
    const std::string shared = env && *env ? env : "../shared";
    for (const auto& [file, extra] : {std::pair<std::string, int>{"/tokenizers/t5/spiece.model", 100},
                                      {"/tokenizers/llama2/tokenizer.model", 0}}) {
        try {
            tokenizers.push_back(load_tokenizer(shared + file, extra));
        } catch (const sapt_error&) {  // no shared folder: the in-process models still run
        }
    }
    return tokenizers;
}

// Bytes as text: the first byte picks the tokenizer. Every id must be in range; decoding the ids, and
// ids read from the raw bytes, and looking the pieces up must not crash. Encoding never throws.
inline void fuzz_encode(const uint8_t* data, size_t size) {
    static const std::vector<Tokenizer> tokenizers = fuzz_encode_tokenizers();
    if (size == 0) return;
    const Tokenizer& tokenizer = tokenizers[data[0] % tokenizers.size()];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    std::vector<int> ids;
    std::vector<std::string> pieces;
    encode(tokenizer, text, ids, &pieces);
    for (int id : ids) {
        if (id < 0 || id >= vocab_size(tokenizer)) std::abort();
    }
    decode(tokenizer, ids);
    std::vector<int> raw_ids;
    for (size_t i = 1; i + 1 < size; i += 2) raw_ids.push_back((data[i] | data[i + 1] << 8) % vocab_size(tokenizer));
    decode(tokenizer, raw_ids);
    for (const std::string& piece : pieces) token_to_id(tokenizer, piece);
}

// Bytes as a llama2.c .bin (v0 or v1 header): a file that loads must give weights inside the mapping
// or in copies (ASan checks the q/k row reordering and the reads below).
inline void fuzz_llama2c(const uint8_t* data, size_t size) {
    const std::string& path = fuzz_write_scratch(data, size, ".bin");
    try {
        Model model = load_pretrained_model(path);
        volatile float sum = 0;
        for (const NamedWeight& w : model_weights(model)) {
            for (float v : tensor_values(*w.tensor)) sum = sum + v;
        }
    } catch (const sapt_error&) {
    }
}

// Bytes as the loop.state JSON of a loop checkpoint: a state the reader accepts must be one run_continual
// can index without a bounds check (tasks x tasks matrix, one weights stage and one pseudo list per task,
// completed within 0..T, a data order that permutes 0..n-1), and must write and read back unchanged.
inline void fuzz_loop_state(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const LoopState loop = loop_state_from_json(text, "checkpoint.safetensors");
        const size_t T = loop.tasks.size();
        if (loop.completed < 0 || (size_t)loop.completed > T || loop.matrix.size() != T || loop.weights.size() != T ||
            loop.pseudo.size() != T || (loop.in_task && (size_t)loop.completed >= T)) {
            std::abort();
        }
        for (const auto& row : loop.matrix) {
            if (row.size() != T) std::abort();
        }
        std::vector<bool> seen(loop.position.order.size(), false);
        for (int id : loop.position.order) {
            if (id < 0 || (size_t)id >= seen.size() || seen[(size_t)id]) std::abort();
            seen[(size_t)id] = true;
        }
        if (loop.position.step < 0 || loop.position.epoch < 0 || loop.position.next_batch < 0 ||
            loop.position.micro_steps < 0) {
            std::abort();
        }
        const std::string written = loop_state_to_json(loop);
        if (loop_state_to_json(loop_state_from_json(written, "rewritten")) != written) std::abort();
    } catch (const sapt_error&) {
    }
}

// The model an adapter is read for: a tiny T5 (d_model 16, 2 heads of 8, one block per stack), built once.
inline const Model& fuzz_tiny_t5() {
    static const Model model = [] {
        T5Config c;
        c.d_model = 16;
        c.d_kv = 8;
        c.num_heads = 2;
        c.d_ff = 32;
        c.num_layers = c.num_decoder_layers = 1;
        c.vocab_size = 40;
        c.dropout_rate = 0;
        Rng rng = rng_make(5);
        WeightLoad load;
        load.where = "fuzz T5";
        load.remaining = random_t5_weights(c, rng);
        Model m;
        m.kind = ModelKind::T5;
        m.t5 = t5_from_weights(c, load, nullptr);
        return m;
    }();
    return model;
}
inline constexpr int fuzz_sals_hidden = 6;  // the SALS bottleneck the SALS reader is asked for

// Bytes as a folder handed to --import-adapters: byte 0 picks the reader (even: a PEFT LoRA adapter, odd:
// ./export's sals.safetensors), bytes 1-2 (little-endian) are the length of adapter_config.json, the rest is
// the .safetensors file. An accepted adapter has A (R, C_in) and B (C_out, R) for every adapted site of the
// model, R its config's positive r; accepted SALS parameters have one key (1, C) row per named task and the
// projector's shapes.
inline void fuzz_peft_adapter(const uint8_t* data, size_t size) {
    if (size < 3) return;
    static const std::string dir = [] {
        const std::string d = fuzz_scratch_path("_adapter");
        std::filesystem::create_directories(d);
        return d;
    }();
    const bool sals = data[0] % 2 == 1;
    const size_t config_size = std::min(size - 3, (size_t)data[1] | (size_t)data[2] << 8);
    auto write = [](const std::string& path, const uint8_t* bytes, size_t n) {
        FILE* file = std::fopen(path.c_str(), "wb");
        if (!file) std::abort();
        if (n > 0 && std::fwrite(bytes, 1, n, file) != n) std::abort();
        std::fclose(file);
    };
    write(dir + "/adapter_config.json", data + 3, config_size);
    write(dir + (sals ? "/sals.safetensors" : "/adapter_model.safetensors"), data + 3 + config_size, size - 3 - config_size);
    const Model& model = fuzz_tiny_t5();
    try {
        if (sals) {
            const SalsParameters p = read_sals_parameters(dir, model, fuzz_sals_hidden);
            const int64_t C = 16, K = (int64_t)p.tasks.size();
            if (p.keys.shape() != std::vector<int64_t>{K, C} || p.down.dim(0) != fuzz_sals_hidden) std::abort();
            if (p.targets.size() > (size_t)K) std::abort();
            for (size_t j = 0; j < p.targets.size(); j++) {
                if (p.targets[j].size() != j + 1) std::abort();
            }
        } else {
            const LoraBlock block = read_peft_adapter(dir, model, 0);
            const std::vector<AdaptedSite> sites = model_adapted_sites(model);
            if (block.rank < 1 || block.A.size() != sites.size() || block.B.size() != sites.size()) std::abort();
            for (size_t i = 0; i < sites.size(); i++) {
                if (block.A[i].shape() != std::vector<int64_t>{block.rank, sites[i].in_features}) std::abort();
                if (block.B[i].shape() != std::vector<int64_t>{sites[i].out_features, block.rank}) std::abort();
                volatile float sum = 0;
                for (float v : tensor_values(block.A[i])) sum = sum + v;
            }
        }
    } catch (const sapt_error&) {
    }
}

// The targets by name (the folder names under tests/fixtures/fuzz_regressions/ and build-fuzz/corpus/).
using FuzzBody = void (*)(const uint8_t*, size_t);
// Bytes as ./generate's --input JSONL: every accepted line has its input (an empty one is refused).
inline void fuzz_ask_jsonl(const uint8_t* data, size_t size) {
    const std::string& path = fuzz_write_scratch(data, size, ".jsonl");
    try {
        for (const AskInput& input : read_ask_jsonl(path)) {
            volatile size_t n = input.input.size() + input.definition.size();
            (void)n;
        }
    } catch (const sapt_error&) {
    }
}

// Bytes as a run folder's args.json (the settings ./generate --run, --eval-only and ./export read back).
inline void fuzz_run_settings(const uint8_t* data, size_t size) {
    static const std::string dir = [] {
        const std::string d = fuzz_scratch_path("_run");
        std::filesystem::create_directories(d);
        return d;
    }();
    FILE* file = std::fopen((dir + "/args.json").c_str(), "wb");
    if (!file) std::abort();
    if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
    std::fclose(file);
    try {
        const RunSettings settings = read_run_settings(dir);
        if (settings.sapt.lora_rank < 1) std::abort();  // an accepted rank is a rank
    } catch (const sapt_error&) {
    }
}

inline FuzzBody fuzz_body(const std::string& name) {
    if (name == "fuzz_ask_jsonl") return fuzz_ask_jsonl;
    if (name == "fuzz_run_settings") return fuzz_run_settings;
    if (name == "fuzz_peft_adapter") return fuzz_peft_adapter;
    if (name == "fuzz_safetensors") return fuzz_safetensors;
    if (name == "fuzz_cl_benchmark") return fuzz_cl_benchmark;
    if (name == "fuzz_config") return fuzz_config;
    if (name == "fuzz_model_proto") return fuzz_model_proto;
    if (name == "fuzz_encode") return fuzz_encode;
    if (name == "fuzz_llama2c") return fuzz_llama2c;
    if (name == "fuzz_loop_state") return fuzz_loop_state;
    return nullptr;
}
