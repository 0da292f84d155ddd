// test_models_loading.cpp — HF checkpoint loading: sharded index, BF16 weights kept as views into the
// mapping, one error naming every missing / unexpected / misshaped tensor, config errors, and the
// PET-owned tensors handed back instead of rejected. Uses the small fixtures of tests/fixtures/models.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "engine/error.h"
#include "engine/fileio.h"
#include "models/generate.h"
#include "test_models_util.h"

namespace {

const std::string kLlamaDir = "tests/fixtures/models/llama_gqa_lora";

std::string make_temp_dir(const std::string& name) {
    std::string dir = "/tmp/sapt_test_models_" + name;
    mkdir(dir.c_str(), 0755);
    return dir;
}

std::vector<std::pair<std::string, Tensor>> all_tensors(const SafeTensorsFile& file) {
    std::vector<std::pair<std::string, Tensor>> out;
    for (const std::string& name : file.names()) out.push_back({name, file.get(name)});
    return out;
}

Tensor llama_logits(const Model& model) {
    SafeTensorsFile io = safetensors_open(kLlamaDir + "/io.safetensors");
    return llama_forward(model.llama, io.get("input_ids"), to_u8_mask(io.get("attention_mask")), Tensor{}, nullptr,
                         nullptr, false);
}

// The path of the file mapping that contains `address`, from /proc/self/maps ("" when none).
std::string mapping_of(const void* address) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    uintptr_t a = (uintptr_t)address;
    while (std::getline(maps, line)) {
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode, path;
        in >> range >> perms >> offset >> dev >> inode >> path;
        size_t dash = range.find('-');
        uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16),
                  hi = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (a >= lo && a < hi) return path;
    }
    return "";
}

}  // namespace

TEST_CASE("Weights that need no conversion are views into the memory-mapped checkpoint", "[models]") {
    Model model = load_pretrained_model(kLlamaDir);
    for (NamedWeight& w : model_weights(model)) {
        INFO(w.name);
        CHECK(mapping_of(w.tensor->raw()).find("model.safetensors") != std::string::npos);
    }
    // Training the backbone works on private copies, never on the mapping.
    set_backbone_trainable(model, true);
    for (NamedWeight& w : model_weights(model))
        CHECK(mapping_of(w.tensor->raw()).find("model.safetensors") == std::string::npos);
}

TEST_CASE("A sharded checkpoint with model.safetensors.index.json loads the same model", "[models]") {
    std::string dir = make_temp_dir("sharded");
    SafeTensorsFile whole = safetensors_open(kLlamaDir + "/model.safetensors");
    std::vector<std::pair<std::string, Tensor>> first, second;
    std::string weight_map;
    for (auto& [name, tensor] : all_tensors(whole)) {
        bool in_first = name.find("layers.1.") == std::string::npos;
        (in_first ? first : second).push_back({name, tensor});
        weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + name + "\":\"" +
                      (in_first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") + "\"";
    }
    safetensors_save(dir + "/model-00001-of-00002.safetensors", first);
    safetensors_save(dir + "/model-00002-of-00002.safetensors", second);
    atomic_write_file(dir + "/model.safetensors.index.json", "{\"metadata\":{},\"weight_map\":{" + weight_map + "}}");
    atomic_write_file(dir + "/config.json", read_file(kLlamaDir + "/config.json"));
    std::remove((dir + "/model.safetensors").c_str());

    WeightMap extras;
    Model sharded = load_pretrained_model(dir, &extras);
    CHECK(extras.size() == 8);  // 2 layers x (q, v) x (A, B)
    CHECK(tensor_values(llama_logits(sharded)) == tensor_values(llama_logits(load_pretrained_model(kLlamaDir))));
}

TEST_CASE("A BF16 checkpoint keeps its matrices in BF16 and runs close to F32", "[models]") {
    std::string dir = make_temp_dir("bf16");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (auto& [name, tensor] : all_tensors(safetensors_open(kLlamaDir + "/model.safetensors"))) {
        tensors.push_back({name, tensor_to_bf16(tensor)});
    }
    safetensors_save(dir + "/model.safetensors", tensors);
    atomic_write_file(dir + "/config.json", read_file(kLlamaDir + "/config.json"));
    Model bf16 = load_pretrained_model(dir);
    CHECK(bf16.llama.layers[0].q.dtype() == DType::BF16);
    CHECK(bf16.llama.embed.dtype() == DType::BF16);
    CHECK(bf16.llama.final_norm.dtype() == DType::F32);  // norm gains are converted for rms_norm
    Model f32 = load_pretrained_model(kLlamaDir);
    // bf16 keeps 8 bits of mantissa: the weights move by up to 2^-9 relative.
    CHECK(max_rel_err(llama_logits(bf16), llama_logits(f32)) < 3e-2);
}

// f32 -> IEEE half, round to nearest even; tiny values flush to zero (enough for test weights).
uint16_t to_f16(float value) {
    uint32_t x;
    std::memcpy(&x, &value, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exponent = (int)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mantissa = x & 0x7fffff;
    if (exponent <= 0) return sign;
    if (exponent >= 31) return (uint16_t)(sign | 0x7c00);
    uint16_t h = (uint16_t)(sign | (exponent << 10) | (mantissa >> 13));
    uint32_t rest = mantissa & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return h;
}

TEST_CASE("An F16 checkpoint is converted to F32 on load and runs close to the F32 one", "[models]") {
    // safetensors_save writes no F16, so the file is laid out here by hand: header JSON, then the data.
    std::string dir = make_temp_dir("f16");
    std::string header = "{", data;
    for (auto& [name, tensor] : all_tensors(safetensors_open(kLlamaDir + "/model.safetensors"))) {
        size_t begin = data.size();
        for (float v : tensor_values(tensor)) {
            uint16_t h = to_f16(v);
            data.append((const char*)&h, 2);
        }
        std::string shape;
        for (int64_t d : tensor.shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
        header += std::string(header.size() > 1 ? "," : "") + "\"" + name + "\":{\"dtype\":\"F16\",\"shape\":[" +
                  shape + "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
    }
    header += "}";
    header.append((8 - header.size() % 8) % 8, ' ');
    uint64_t length = header.size();
    atomic_write_file(dir + "/model.safetensors", std::string((const char*)&length, 8) + header + data);
    atomic_write_file(dir + "/config.json", read_file(kLlamaDir + "/config.json"));
    Model f16 = load_pretrained_model(dir);
    CHECK(f16.llama.layers[0].q.dtype() == DType::F32);
    CHECK(max_rel_err(llama_logits(f16), llama_logits(load_pretrained_model(kLlamaDir))) < 1e-2);
}

TEST_CASE("Missing, unexpected and misshaped tensors are all named in one error", "[models]") {
    std::string dir = make_temp_dir("broken");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (auto& [name, tensor] : all_tensors(safetensors_open(kLlamaDir + "/model.safetensors"))) {
        if (name == "model.layers.1.mlp.up_proj.weight") continue;  // missing
        if (name == "model.norm.weight") {
            tensors.push_back({name, tensor_zeros({17})});  // misshaped
            continue;
        }
        tensors.push_back({name, tensor});
    }
    tensors.push_back({"model.layers.0.self_attn.extra_bias", tensor_zeros({16})});  // unexpected
    safetensors_save(dir + "/model.safetensors", tensors);
    atomic_write_file(dir + "/config.json", read_file(kLlamaDir + "/config.json"));
    try {
        load_pretrained_model(dir);
        FAIL("a broken checkpoint loaded");
    } catch (const sapt_error& e) {
        std::string message = e.what();
        INFO(message);
        CHECK(message.find("missing tensors: model.layers.1.mlp.up_proj.weight") != std::string::npos);
        CHECK(message.find("model.norm.weight (expected (16), got (17))") != std::string::npos);
        CHECK(message.find("unexpected tensors: model.layers.0.self_attn.extra_bias") != std::string::npos);
        CHECK(message.find(dir) == 0);  // the message starts with the checkpoint path
    }
}

TEST_CASE("Unsupported or incomplete configs are refused with the field named", "[models]") {
    std::string t5 =
        "{\"model_type\":\"t5\",\"d_model\":8,\"d_kv\":2,\"d_ff\":16,\"num_heads\":4,\"num_layers\":1,"
        "\"vocab_size\":10,\"feed_forward_proj\":\"gelu\"}";
    CHECK_THROWS_WITH(t5_config_from_json(t5, "config.json"), Catch::Contains("unsupported feed_forward_proj"));
    T5Config gated = t5_config_from_json(
        "{\"d_model\":8,\"d_kv\":2,\"d_ff\":16,\"num_heads\":4,\"num_layers\":1,\"vocab_size\":10,"
        "\"feed_forward_proj\":\"gated-gelu\",\"tie_word_embeddings\":false}",
        "config.json");
    CHECK(gated.is_gated_act);
    CHECK(gated.dense_act_fn == "gelu_new");  // HF: gated-gelu means the tanh approximation
    CHECK(gated.num_decoder_layers == 1);     // defaults to num_layers
    CHECK_THROWS_WITH(llama_config_from_json("{\"model_type\":\"llama\",\"hidden_size\":8}", "config.json"),
                      Catch::Contains("missing field \"intermediate_size\""));
    CHECK_THROWS_WITH(config_model_kind("{\"model_type\":\"bert\"}", "config.json"),
                      Catch::Contains("unsupported model_type"));
    CHECK_THROWS_WITH(load_pretrained_model("/nonexistent/model"), Catch::Contains("no such file or directory"));
}

TEST_CASE("A soft prompt from the hook is prepended and attended to", "[models]") {
    Model model = load_pretrained_model(kLlamaDir);
    SafeTensorsFile io = safetensors_open(kLlamaDir + "/io.safetensors");
    Tensor ids = io.get("input_ids"), mask = to_u8_mask(io.get("attention_mask"));
    Tensor plain = llama_forward(model.llama, ids, mask, Tensor{}, nullptr, nullptr, false);
    PetHook hook;
    Tensor prompt = tensor_from({2, 3, 16}, std::vector<float>(96, 0.5f));
    hook.prompt_prefix = [&](const Tensor&) { return prompt; };
    Tensor prefixed = llama_forward(model.llama, ids, mask, Tensor{}, &hook, nullptr, false);
    CHECK(prefixed.shape() == plain.shape());    // logits only for the token positions
    CHECK(max_rel_err(prefixed, plain) > 1e-3);  // the prompt changes what the tokens see

    // Greedy decoding with the prompt in the cache equals recomputing it every step.
    Tensor prompt_ids = io.get("input_ids");
    GenerateOptions options;
    options.max_new_tokens = 6;
    options.stop_at_eos = false;
    std::vector<std::vector<int32_t>> cached = llama_generate(model.llama, prompt_ids, mask, &hook, options);
    options.use_cache = false;
    CHECK(cached == llama_generate(model.llama, prompt_ids, mask, &hook, options));
}

TEST_CASE("A T5 soft prompt lengthens the encoder output and its mask", "[models]") {
    Model model = load_pretrained_model("tests/fixtures/models/t5_gated_untied_lora");
    SafeTensorsFile io = safetensors_open("tests/fixtures/models/t5_gated_untied_lora/io.safetensors");
    Tensor ids = io.get("input_ids"), mask = to_u8_mask(io.get("attention_mask"));
    PetHook hook;
    hook.prompt_prefix = [](const Tensor& embeddings) {
        return tensor_from({embeddings.dim(0), 2, embeddings.dim(2)}, std::vector<float>(2 * 2 * 16, 0.25f));
    };
    T5EncoderOutput encoded = t5_encode(model.t5, ids, mask, &hook, T5RunOptions{});
    CHECK(encoded.states.shape() == std::vector<int64_t>{2, 11, 16});
    // Row 1 has 6 tokens and 3 padding positions; the prompt's 2 positions come first and count.
    std::vector<int32_t> want(22, 1);
    want[19] = want[20] = want[21] = 0;
    CHECK(int_values(encoded.mask) == want);
    GenerateOptions options;
    options.max_new_tokens = 5;
    options.stop_at_eos = false;
    std::vector<std::vector<int32_t>> cached = t5_generate(model.t5, ids, mask, &hook, options);
    options.use_cache = false;
    CHECK(cached == t5_generate(model.t5, ids, mask, &hook, options));
}
