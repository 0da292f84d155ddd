// test_models_llama2c.cpp — the llama2.c loader and LLaMA generation on karpathy's stories260K
// (shared/models/stories260K, legacy v0 file, GQA 8/4 heads, shared classifier): first logits and the
// 256-token greedy story of reference_greedy_t0.json, the v1 header giving the same model, and the KV
// cache giving the same tokens as full recomputation on a left-padded batch.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/fileio.h"
#include "models/checkpoint.h"
#include "models/generate.h"
#include "test_models_util.h"
#include "tests/test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

std::vector<int32_t> flatten(const std::vector<std::vector<int32_t>>& rows) {
    std::vector<int32_t> flat;
    for (auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
    return flat;
}

Tensor ones_mask(int64_t B, int64_t T) {
    Tensor m = tensor_empty({B, T}, DType::U8);
    for (int64_t i = 0; i < B * T; i++) m.u8()[i] = 1;
    return m;
}

// Rewrites a legacy v0 stories260K file as a v1 file (magic, version 1, header, shared-classifier byte,
// 256-byte header, norms first): the same floats in v1's order.
void write_v1_copy(const std::string& v0_path, const std::string& v1_path) {
    std::string bytes = read_file(v0_path);
    int32_t h[7];
    std::memcpy(h, bytes.data(), sizeof(h));
    int64_t C = h[0], F = h[1], L = h[2], H = h[3], Hkv = h[4], V = h[5] < 0 ? -h[5] : h[5], S = h[6];
    int64_t D = C / H, kv = Hkv * D;
    const char* p = bytes.data() + 28;
    auto take = [&](int64_t floats) {
        std::string s(p, (size_t)floats * 4);
        p += floats * 4;
        return s;
    };
    std::string embed = take(V * C), attn_norm = take(L * C), wq = take(L * C * C), wk = take(L * kv * C),
                wv = take(L * kv * C), wo = take(L * C * C), ffn_norm = take(L * C), w1 = take(L * F * C),
                w2 = take(L * C * F), w3 = take(L * F * C), norm = take(C);
    take(S * D);  // RoPE tables, absent from v1
    std::string out(256, '\0');
    uint32_t magic = 0x616b3432;
    int32_t version = 1;
    std::memcpy(&out[0], &magic, 4);
    std::memcpy(&out[4], &version, 4);
    std::memcpy(&out[8], h, sizeof(h));
    out[8 + sizeof(h)] = h[5] > 0 ? 1 : 0;
    out += attn_norm + ffn_norm + norm + embed + wq + wk + wv + wo + w1 + w2 + w3;
    atomic_write_file(v1_path, out);
}

}  // namespace

TEST_CASE("stories260K: first logits and the 256-token greedy story match llama2.c", "[models]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
    nlohmann::json ref = nlohmann::json::parse(read_file(dir + "/reference_greedy_t0.json"));
    std::vector<int32_t> tokens = ref["tokens_including_leading_bos"].get<std::vector<int32_t>>();
    Model model = load_pretrained_model(dir + "/stories260K.bin");
    REQUIRE(model.kind == ModelKind::Llama);
    const LlamaModel& m = model.llama;
    CHECK(m.config.num_key_value_heads == 4);
    CHECK_FALSE(m.lm_head.defined());  // shared classifier

    // Logits of the first three positions (reference rounded to 5 decimals).
    Tensor ids = tensor_from_i32({1, 3}, {tokens[0], tokens[1], tokens[2]});
    std::vector<float> logits = tensor_values(llama_forward(m, ids, Tensor{}, Tensor{}, nullptr, nullptr, false));
    std::vector<std::vector<float>> want = ref["logits_first_3_positions"].get<std::vector<std::vector<float>>>();
    double worst = 0.0;
    for (int t = 0; t < 3; t++) {
        REQUIRE(want[t].size() == 512);
        for (int v = 0; v < 512; v++) worst = std::max(worst, (double)std::fabs(logits[t * 512 + v] - want[t][v]));
    }
    WARN("stories260K first-3-position logits: max abs err = " << worst);
    CHECK(worst <= 1e-4);

    GenerateOptions options;
    options.max_new_tokens = 256;
    options.stop_at_eos = false;  // run.c stops only at BOS, which this story never produces
    std::vector<int32_t> produced =
        flatten(llama_generate(m, tensor_from_i32({1, 1}, {1}), ones_mask(1, 1), nullptr, options));
    std::vector<int32_t> expected(tokens.begin() + 1, tokens.end());
    CHECK(produced == expected);

    Tokenizer tokenizer = load_tokenizer(dir + "/tok512.model");
    CHECK(decode(tokenizer, std::vector<int>(produced.begin(), produced.end())) == ref["text"].get<std::string>());
}

TEST_CASE("A llama2.c v1 file loads to the same model as its v0 twin", "[models]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
    std::string v1_path = "/tmp/sapt_test_stories260K_v1.bin";
    write_v1_copy(dir + "/stories260K.bin", v1_path);
    Model v0 = load_pretrained_model(dir + "/stories260K.bin");
    Model v1 = load_pretrained_model(v1_path);
    std::remove(v1_path.c_str());
    Tensor ids = tensor_from_i32({1, 4}, {1, 403, 407, 261});
    std::vector<float> a = tensor_values(llama_forward(v0.llama, ids, Tensor{}, Tensor{}, nullptr, nullptr, false));
    std::vector<float> b = tensor_values(llama_forward(v1.llama, ids, Tensor{}, Tensor{}, nullptr, nullptr, false));
    CHECK(a == b);
}

TEST_CASE("A truncated llama2.c file is refused with the sizes", "[models]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
    std::string bytes = read_file(dir + "/stories260K.bin");
    std::string path = "/tmp/sapt_test_stories260K_short.bin";
    atomic_write_file(path, bytes.substr(0, bytes.size() - 4));
    CHECK_THROWS_WITH(load_pretrained_model(path), Catch::Contains("size does not match the header"));
    std::remove(path.c_str());
}

TEST_CASE("LLaMA greedy decoding with the KV cache equals full recomputation on a left-padded batch", "[models]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
    Model model = load_pretrained_model(dir + "/stories260K.bin");
    // Row 0 is left-padded by 3 (pad id 0 with mask 0), row 1 is full.
    Tensor ids = tensor_from_i32({2, 5}, {0, 0, 0, 1, 403, 1, 403, 407, 261, 378});
    Tensor mask = tensor_empty({2, 5}, DType::U8);
    const uint8_t m[10] = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    std::memcpy(mask.u8(), m, 10);
    GenerateOptions options;
    options.max_new_tokens = 40;
    options.stop_at_eos = false;
    std::vector<int32_t> cached = flatten(llama_generate(model.llama, ids, mask, nullptr, options));
    options.use_cache = false;
    std::vector<int32_t> recomputed = flatten(llama_generate(model.llama, ids, mask, nullptr, options));
    CHECK(cached.size() == 80);
    CHECK(cached == recomputed);
    // The padded row continues the same story as an unpadded prompt [1, 403].
    options.use_cache = true;
    std::vector<int32_t> alone =
        flatten(llama_generate(model.llama, tensor_from_i32({1, 2}, {1, 403}), ones_mask(1, 2), nullptr, options));
    CHECK(std::vector<int32_t>(cached.begin(), cached.begin() + 40) == alone);
}

TEST_CASE("./generate prints the greedy story and reports a bad path with exit status 1", "[models]") {
    std::string dir = shared_path("models/stories260K");
    if (dir.empty()) return;
 // SAPT_PROGRAM_DIR: where the Makefile built the programs (a sanitizer build's folder), else the repo root.
    const char* program_dir = std::getenv("SAPT_PROGRAM_DIR");
    const std::string generate = std::string(program_dir && *program_dir ? program_dir : ".") + "/generate";
    if (!path_exists(generate)) {
        WARN("SKIPPED: " << generate << " not built (make builds it before the suite)");
        return;
    }
    std::string command = generate + " --model " + dir + "/stories260K.bin --tokenizer " + dir +
                          "/tok512.model --prompt '' --max-new-tokens 20";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string out;
    char buffer[256];
    while (fgets(buffer, sizeof buffer, pipe)) out += buffer;
    CHECK(pclose(pipe) == 0);
    // 20 new tokens: the start of the reference story, and a newline.
    std::string story = nlohmann::json::parse(read_file(dir + "/reference_greedy_t0.json"))["text"].get<std::string>();
    REQUIRE(out.size() > 40);
    CHECK(out.back() == '\n');
    CHECK(story.compare(0, out.size() - 1, out, 0, out.size() - 1) == 0);
    CHECK(std::system((generate + " --model /nonexistent --tokenizer x --prompt a 2>/dev/null").c_str()) == 1 << 8);
}
