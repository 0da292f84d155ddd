// test_models_fixtures.cpp — T5 and LLaMA against the official SAPT code's fixtures
// (shared/fixtures/sapt_official, cases a-d): hidden states, logits, loss, LoRA gradients and greedy
// tokens, with the LoRAs applied through a test PetHook that implements the official aggregation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/fileio.h"
#include "engine/rng.h"
#include "models/generate.h"
#include "test_models_util.h"
#include "tests/test_util.h"

namespace {

const double kForwardTolerance = 1e-4;  // max relative error, fp32 (the brief's bar)
const double kGradTolerance = 1e-4;

struct FixtureCase {
    std::string dir;
    Model model;
    WeightMap extras;
    SafeTensorsFile io;
    std::unique_ptr<OfficialLoraHook> lora;
    double worst_forward = 0.0, worst_gradient = 0.0;  // reported once per case
};

std::unique_ptr<FixtureCase> open_case(const std::string& name) {
    std::string dir = shared_path("fixtures/sapt_official/" + name);
    if (dir.empty()) return nullptr;
    auto c = std::make_unique<FixtureCase>();
    c->dir = dir;
    c->model = load_pretrained_model(dir, &c->extras);
    c->io = safetensors_open(dir + "/io.safetensors");
    nlohmann::json config = nlohmann::json::parse(read_file(dir + "/config.json"));
    float scaling = config["sapt"]["lora_scaling"].get<float>();
    c->lora =
        make_official_lora_hook(model_adapted_sites(c->model), c->extras, c->io.get("selection_weights"), scaling);
    // The current task's LoRA is what training updates: it must get gradients.
    for (auto& per_site : c->lora->lora_a) per_site[0].data->requires_grad = true;
    for (auto& per_site : c->lora->lora_b) per_site[0].data->requires_grad = true;
    return c;
}

void check_close(FixtureCase& c, const std::string& what, const Tensor& got, const Tensor& want) {
    double err = max_rel_err(got, want);
    INFO(what << ": max rel err " << err);
    CHECK(err <= kForwardTolerance);
    c.worst_forward = std::max(c.worst_forward, err);
}

void report(const FixtureCase& c, const std::string& name) {
    WARN(name << ": max rel err forward (states, logits, loss) " << c.worst_forward << ", LoRA gradients "
              << c.worst_gradient);
}

// Every current-task LoRA gradient against grad.<name> of the fixture.
void check_lora_gradients(FixtureCase& c) {
    int checked = 0;
    for (size_t s = 0; s < c.lora->sites.size(); s++) {
        const AdaptedSite& site = c.lora->sites[s];
        for (const char* part : {".lora_A", ".lora_B"}) {
            std::string name = site.module + ".lora_" + site.projection + part;
            const Tensor& param = part[6] == 'A' ? c.lora->lora_a[s][0] : c.lora->lora_b[s][0];
            REQUIRE(param.has_grad());
            Tensor got = tensor_from(param.shape(), std::vector<float>(param.grad(), param.grad() + param.numel()));
            double err = max_rel_err(got, c.io.get("grad." + name));
            INFO("gradient of " << name << ": max rel err " << err);
            CHECK(err <= kGradTolerance);
            c.worst_gradient = std::max(c.worst_gradient, err);
            checked++;
        }
    }
    CHECK(checked == 4 * (int)c.lora->sites.size() / 2);
}

// Each row of `expected` (B rows of 8 greedy tokens) cut after the first `eos`, as decoding that stops at
// EOS must return it.
std::vector<std::vector<int32_t>> cut_at_eos(const std::vector<int32_t>& expected, int64_t B, int32_t eos) {
    std::vector<std::vector<int32_t>> rows((size_t)B);
    int64_t n = (int64_t)expected.size() / B;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < n; i++) {
            rows[b].push_back(expected[b * n + i]);
            if (expected[b * n + i] == eos) break;
        }
    }
    return rows;
}

// A caller's chooser (what the pseudo-sample generators use): top-3 sampling from a seeded RNG. With and
// without the cache it must see the same rows in the same order and draw the same tokens (the logits agree to
// rounding); it is called once per row per step, rows in order, with that row's tokens so far.
void check_sampling_chooser(const std::function<std::vector<std::vector<int32_t>>(const GenerateOptions&)>& generate,
                            int64_t B) {
    std::vector<std::vector<int32_t>> tokens[2];
    std::vector<std::pair<int64_t, size_t>> calls[2];
    for (int use_cache = 0; use_cache < 2; use_cache++) {
        Rng rng = rng_make(7);
        GenerateOptions options;
        options.max_new_tokens = 8;
        options.stop_at_eos = false;
        options.use_cache = use_cache == 1;
        options.choose_next = [&](int64_t row, const float* logits, int64_t V, const std::vector<int32_t>& produced) {
            calls[use_cache].push_back({row, produced.size()});
            std::vector<int32_t> order((size_t)V);
            for (int64_t v = 0; v < V; v++) order[(size_t)v] = (int32_t)v;
            std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                              [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
            return order[rng_below(rng, 3)];
        };
        tokens[use_cache] = generate(options);
    }
    CHECK(tokens[1] == tokens[0]);
    CHECK(calls[1] == calls[0]);
    std::vector<std::pair<int64_t, size_t>> expected_calls;
    for (size_t step = 0; step < 8; step++) {
        for (int64_t b = 0; b < B; b++) expected_calls.push_back({b, step});
    }
    CHECK(calls[1] == expected_calls);
    REQUIRE(tokens[1].size() == (size_t)B);
    for (const auto& row : tokens[1]) CHECK(row.size() == 8);
}

void run_t5_case(const std::string& name) {
    auto c = open_case(name);
    if (!c) return;
    REQUIRE(c->model.kind == ModelKind::T5);
    const T5Model& m = c->model.t5;
    Tensor ids = c->io.get("input_ids"), mask = to_u8_mask(c->io.get("attention_mask"));
    Tensor labels = c->io.get("labels");
    Tensor decoder_ids = t5_shift_right(labels, m.config);
    CHECK(int_values(decoder_ids) == int_values(c->io.get("decoder_input_ids")));

    std::vector<Tensor> encoder_states, decoder_states;
    T5EncoderOutput encoded = t5_encode(m, ids, mask, &c->lora->hook, T5RunOptions{}, &encoder_states);
    Tensor logits = t5_decode(m, decoder_ids, encoded, &c->lora->hook, T5RunOptions{}, &decoder_states);
    Tensor loss = t5_loss(logits, labels);

    REQUIRE(encoder_states.size() == m.encoder.size() + 1);
    for (size_t i = 0; i < encoder_states.size(); i++) {
        check_close(*c, name + " encoder_hidden_states." + std::to_string(i), encoder_states[i],
                    c->io.get("encoder_hidden_states." + std::to_string(i)));
    }
    for (size_t i = 0; i < decoder_states.size(); i++) {
        check_close(*c, name + " decoder_hidden_states." + std::to_string(i), decoder_states[i],
                    c->io.get("decoder_hidden_states." + std::to_string(i)));
    }
    check_close(*c, name + " encoder_last_hidden_state", encoded.states, c->io.get("encoder_last_hidden_state"));
    check_close(*c, name + " lm_logits", logits, c->io.get("lm_logits"));
    check_close(*c, name + " loss_ce", loss, c->io.get("loss_ce"));
    backward(loss);
    check_lora_gradients(*c);

    std::vector<int32_t> expected = int_values(c->io.get("greedy_new_tokens"));
    for (bool use_cache : {true, false}) {
        GenerateOptions options;
        options.max_new_tokens = 8;
        options.stop_at_eos = false;  // the fixture runs 8 steps regardless of EOS
        options.use_cache = use_cache;
        std::vector<std::vector<int32_t>> rows = t5_generate(m, ids, mask, &c->lora->hook, options);
        std::vector<int32_t> flat;
        for (auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
        INFO("use_cache " << use_cache);
        CHECK(flat == expected);
    }
    // With row 0's third token as EOS, row 0 stops there and row 1 runs on (to its own EOS, if any).
    T5Model stopping = m;
    stopping.config.eos_token_id = expected[2];
    GenerateOptions options;
    options.max_new_tokens = 8;
    CHECK(t5_generate(stopping, ids, mask, &c->lora->hook, options) == cut_at_eos(expected, 2, expected[2]));
    check_sampling_chooser([&](const GenerateOptions& o) { return t5_generate(m, ids, mask, &c->lora->hook, o); },
                           ids.dim(0));
    report(*c, name);
}

void run_llama_case(const std::string& name) {
    auto c = open_case(name);
    if (!c) return;
    REQUIRE(c->model.kind == ModelKind::Llama);
    const LlamaModel& m = c->model.llama;
    Tensor ids = c->io.get("input_ids"), mask = to_u8_mask(c->io.get("attention_mask"));
    Tensor labels = c->io.get("labels");

    std::vector<Tensor> states;
    Tensor logits = llama_forward(m, ids, mask, Tensor{}, &c->lora->hook, nullptr, false, &states);
    Tensor loss = llama_loss(logits, labels);
    REQUIRE(states.size() == m.layers.size() + 1);
    for (size_t i = 0; i + 1 < states.size(); i++) {
        check_close(*c, name + " hidden_states." + std::to_string(i), states[i],
                    c->io.get("hidden_states." + std::to_string(i)));
    }
    // Padding rows included: their uniform attention is what the official code computes.
    check_close(*c, name + " last_hidden_state", states.back(), c->io.get("last_hidden_state"));
    check_close(*c, name + " logits", logits, c->io.get("logits"));
    check_close(*c, name + " loss_ce", loss, c->io.get("loss_ce"));
    backward(loss);
    check_lora_gradients(*c);

    Tensor prompt = c->io.get("input_ids_wo_label");
    Tensor prompt_mask = to_u8_mask(c->io.get("input_ids_wo_label_mask"));
    CHECK(int_values(llama_generation_positions(prompt_mask)) == int_values(c->io.get("greedy_position_ids_step0")));
    std::vector<int32_t> expected = int_values(c->io.get("greedy_new_tokens"));
    for (bool use_cache : {true, false}) {
        GenerateOptions options;
        options.max_new_tokens = 8;
        options.stop_at_eos = false;
        options.use_cache = use_cache;
        std::vector<std::vector<int32_t>> rows = llama_generate(m, prompt, prompt_mask, &c->lora->hook, options);
        std::vector<int32_t> flat;
        for (auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
        INFO("use_cache " << use_cache);
        CHECK(flat == expected);
    }
    LlamaModel stopping = m;
    stopping.config.eos_token_id = expected[2];
    GenerateOptions options;
    options.max_new_tokens = 8;
    CHECK(llama_generate(stopping, prompt, prompt_mask, &c->lora->hook, options) ==
          cut_at_eos(expected, 2, expected[2]));
    check_sampling_chooser(
        [&](const GenerateOptions& o) { return llama_generate(m, prompt, prompt_mask, &c->lora->hook, o); },
        prompt.dim(0));
    report(*c, name);
}

}  // namespace

TEST_CASE("T5 gated-gelu untied with two previous tasks matches the official fixture (case a)", "[models]") {
    run_t5_case("a_t5_gatedgelu_prev2");
}

TEST_CASE("T5 relu tied first task matches the official fixture (case b)", "[models]") {
    run_t5_case("b_t5_relu_tied_first");
}

TEST_CASE("LLaMA with two previous tasks and left padding matches the official fixture (case c)", "[models]") {
    run_llama_case("c_llama_prev2");
}

TEST_CASE("LLaMA first task matches the official fixture (case d)", "[models]") {
    run_llama_case("d_llama_first");
}

TEST_CASE("Loading a fixture hands the PET tensors back as extra tensors", "[models]") {
    std::string dir = shared_path("fixtures/sapt_official/a_t5_gatedgelu_prev2");
    if (dir.empty()) return;
    WeightMap extras;
    Model model = load_pretrained_model(dir, &extras);
    CHECK(extras.count("encoder.prompt_key"));
    CHECK(extras.count("encoder.trans_input.0.weight"));
    CHECK(extras.count("encoder.block.0.layer.0.SelfAttention.lora_q.lora_A"));
    CHECK(extras.count("decoder.block.1.layer.1.EncDecAttention.previous_lora_weights_v.1.lora_B"));
    for (auto& [name, tensor] : extras) {
        INFO(name);
        CHECK(is_pet_tensor_name(name));
    }
    // Backbone weights are frozen and carry no gradient buffer.
    for (NamedWeight& w : model_weights(model)) {
        INFO(w.name);
        CHECK_FALSE(w.tensor->requires_grad());
        CHECK_FALSE(w.tensor->has_grad());
    }
}
