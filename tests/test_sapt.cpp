// test_sapt.cpp — the SAPT state (sapt/sapt.h) on a tiny random LLaMA: exact whole-model gradients by
// finite differences, what is trainable and what is frozen, masked vs unmasked max-pool, the reflection
// KL and targets, SAPT-Prompt, the all-ones mix of the baselines, and save / load.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <unistd.h>

#include "engine/optim.h"
#include "sapt/reflection.h"
#include "sapt/sapt.h"
#include "test_sapt_util.h"

namespace {

// A batch of 2: row 1 left-padded with pad id 1 (mask 0), as the official LLaMA collator pads.
struct TinyBatch {
    Tensor ids = tensor_from_i32({2, 6}, {5, 9, 12, 3, 17, 8, 1, 1, 14, 6, 11, 2});
    Tensor mask = tensor_empty({2, 6}, DType::U8);
    Tensor labels = tensor_from_i32({2, 6}, {-100, -100, -100, 3, 17, 8, -100, -100, -100, -100, 11, 2});
    TinyBatch() {
        const uint8_t m[12] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
        for (int i = 0; i < 12; i++) mask.u8()[i] = m[i];
    }
};

// A SAPT state with 3 tasks and non-zero B everywhere, plus recorded targets for tasks 0 and 1.
SaptState three_task_state(const Model& model, const SaptOptions& options, Rng& rng) {
    SaptState state = sapt_create(model, options);
    for (int task = 0; task < 3; task++) {
        sapt_add_task(state, rng);
        for (LoraBank& bank : state.lora) init_normal(bank.current_B, 0.0f, 0.3f, rng);
    }
    state.targets = {{1.0f}, {0.6f, 0.4f}};
    return state;
}

// CE of the batch plus the KL of the same batch replayed as task 0.
Tensor sapt_loss(SaptState& state, const Model& model, const TinyBatch& batch) {
    sapt_begin_batch(state, model, batch.ids, batch.mask, true);
    const PetHook hook = sapt_hook(state);
    const Tensor logits = llama_forward(model.llama, batch.ids, batch.mask, Tensor{}, &hook, nullptr, false);
    const Tensor kl = sapt_kl_loss(state, model, batch.ids, batch.mask, sapt_replay_target(state, 0));
    return add(llama_loss(logits, batch.labels), kl);
}

}  // namespace

TEST_CASE("SAPT whole-model gradients (default mode) match finite differences; compat official cuts them", "[sapt]") {
    Rng rng = rng_make(10);
    const Model model = tiny_llama(rng);
    const TinyBatch batch;
    SaptState state = three_task_state(model, SaptOptions{}, rng);
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    zero_grad(params);
    backward(sapt_loss(state, model, batch));
    std::vector<std::vector<float>> exact;
    for (const Tensor& p : params) exact.push_back(gradient_values(p));

    // Each trainable tensor: its 3 largest-gradient entries against a central difference.
    double worst = 0.0;
    for (size_t p = 0; p < params.size(); p++) {
        std::vector<int64_t> order(params[p].numel());
        for (int64_t i = 0; i < params[p].numel(); i++) order[i] = i;
        std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                          [&](int64_t a, int64_t b) { return std::fabs(exact[p][a]) > std::fabs(exact[p][b]); });
        for (int n = 0; n < 3; n++) {
            const int64_t i = order[n];
            const double numeric = central_difference(params[p], i, 1e-2f, [&]() { return sapt_loss(state, model, batch); });
            const double err = std::fabs(numeric - exact[p][i]) / std::max(std::fabs(numeric), 1e-2);
            INFO(params[p].name() << "[" << i << "]: analytic " << exact[p][i] << ", numeric " << numeric);
            CHECK(err < 2e-2);
            worst = std::max(worst, err);
        }
    }
    WARN("SAPT default mode: max relative error of gradients against finite differences " << worst);

    // Under compat official the layer-0 LoRAs, upstream of layer 1's earlier-task LoRAs, get other gradients.
    state.options.compat_official = true;
    zero_grad(params);
    backward(sapt_loss(state, model, batch));
    double layer0_change = 0.0;
    for (size_t p = 0; p < 4; p++) {  // layer 0: q A, q B, v A, v B
        const std::vector<float> cut = gradient_values(params[p]);
        for (size_t i = 0; i < cut.size(); i++) layer0_change = std::max(layer0_change, (double)std::fabs(cut[i] - exact[p][i]));
    }
    CHECK(layer0_change > 1e-4);
}

TEST_CASE("earlier LoRAs and keys are frozen; the trainable list is the current task's", "[sapt]") {
    Rng rng = rng_make(11);
    const Model model = tiny_llama(rng);
    SaptState state = three_task_state(model, SaptOptions{}, rng);
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    REQUIRE(params.size() == state.lora.size() * 2 + 5);
    for (const Tensor& p : params) {
        CHECK(p.requires_grad());
        CHECK(p.name().find("previous") == std::string::npos);
    }
    zero_grad(params);
    backward(sapt_loss(state, model, TinyBatch{}));
    for (const Tensor& p : params) {
        INFO(p.name());
        const std::vector<float> g = gradient_values(p);
        double largest = 0.0;
        for (float v : g) largest = std::max(largest, (double)std::fabs(v));
        CHECK(largest > 0.0);  // with 3 tasks every trainable tensor, key and projector included, learns
    }
    for (const LoraBank& bank : state.lora) {
        CHECK(!bank.previous_A.requires_grad());
        CHECK(!bank.previous_B.requires_grad());
        CHECK(!bank.previous_A.has_grad());
        CHECK(!bank.previous_B.has_grad());
    }
    CHECK(!state.sals.previous_keys.requires_grad());
    CHECK(!state.sals.previous_keys.has_grad());
    CHECK(state.sals.previous_keys.dim(0) == 2);
}

TEST_CASE("the selection max-pool ignores padding by default and pools it under compat official", "[sapt]") {
    Rng rng = rng_make(12);
    const Model model = tiny_llama(rng);
    const TinyBatch batch;
    // Make the pad embedding (id 1) the largest value of every channel, so pooling it shows.
    for (int c = 0; c < 16; c++) model.llama.embed.f32()[1 * 16 + c] = 50.0f;
    SaptOptions options;
    SaptState masked = three_task_state(model, options, rng);
    SaptState unmasked = masked;
    unmasked.options.compat_official = true;
    const SalsOutput a = sapt_selection(masked, model, batch.ids, batch.mask);
    const SalsOutput b = sapt_selection(unmasked, model, batch.ids, batch.mask);
    const std::vector<float> pooled_masked = tensor_values(a.pooled), pooled_all = tensor_values(b.pooled);
    const std::vector<float> embed = tensor_values(model.llama.embed);
    for (int c = 0; c < 16; c++) {
        // Row 1's tokens are 14, 6, 11, 2 (positions 2..5).
        float expected = -1e30f;
        for (int id : {14, 6, 11, 2}) expected = std::max(expected, embed[id * 16 + c]);
        CHECK(pooled_masked[16 + c] == expected);
        CHECK(pooled_all[16 + c] == 50.0f);
        CHECK(pooled_masked[c] == pooled_all[c]);  // row 0 has no padding
    }
    const std::vector<float> wa = tensor_values(a.weights), wb = tensor_values(b.weights);
    CHECK(wa[0] == Approx(wb[0]));
    CHECK(std::fabs(wa[3] - wb[3]) + std::fabs(wa[4] - wb[4]) > 1e-4);
}

TEST_CASE("reflection: targets, recorded means and the KL", "[sapt]") {
    CHECK(reflection_target({0.7f, 0.3f}, 4) == std::vector<float>{0.0f, 0.0f, 0.7f, 0.3f});
    CHECK_THROWS_WITH(reflection_target({0.2f, 0.3f, 0.5f}, 2), Catch::Contains("reflection_target"));

    SelectionRecord record;
    selection_record_add(record, tensor_from({2, 2}, {0.8f, 0.2f, 0.6f, 0.4f}));  // batch mean 0.7, 0.3
    selection_record_add(record, tensor_from({1, 2}, {0.1f, 0.9f}));              // batch mean 0.1, 0.9
    const std::vector<float> mean = selection_record_finish(record);                // mean of batch means
    CHECK(mean[0] == Approx(0.4f));
    CHECK(mean[1] == Approx(0.6f));
    CHECK_THROWS(selection_record_finish(SelectionRecord{}));

    // KLDivLoss(batchmean): sum_b sum_k y_k (log y_k - log softmax(logits)_bk) / B; y_k = 0 terms count 0.
    const std::vector<float> logits = {0.5f, -1.0f, 2.0f, 0.0f, 0.3f, -0.2f};
    const std::vector<float> y = {0.0f, 0.25f, 0.75f};
    double expected = 0.0;
    for (int b = 0; b < 2; b++) {
        double lse = 0.0;
        for (int k = 0; k < 3; k++) lse += std::exp((double)logits[b * 3 + k]);
        lse = std::log(lse);
        for (int k = 0; k < 3; k++) {
            if (y[k] > 0) expected += y[k] * (std::log((double)y[k]) - (logits[b * 3 + k] - lse));
        }
    }
    expected /= 2;
    CHECK(scalar_value(reflection_kl(tensor_from({2, 3}, logits), y)) == Approx(expected).epsilon(1e-6));
    CHECK(reflection_weight(0.5f, 4, false) == 0.125f);
    CHECK(reflection_weight(0.5f, 4, true) == 0.5f);
}

TEST_CASE("without selection every task has weight 1 (IncLoRA / SeqLoRA) through the same bank", "[sapt]") {
    Rng rng = rng_make(13);
    const Model model = tiny_llama(rng);
    SaptOptions options;
    options.selection = false;
    SaptState state = three_task_state(model, options, rng);
    CHECK(sapt_trainable_parameters(state).size() == state.lora.size() * 2);
    const TinyBatch batch;
    CHECK(!sapt_begin_batch(state, model, batch.ids, batch.mask).weights.defined());
    const PetHook hook = sapt_hook(state);
    const Tensor x = random_tensor({2, 6, 16}, rng);
    const Tensor ones = tensor_full({2, 3}, 1.0f);
    LoraMixOptions mix;
    mix.scaling = options.lora_alpha / options.lora_rank;
    const std::vector<float> got = tensor_values(hook.projection_delta(1, x));
    const std::vector<float> want = tensor_values(lora_bank_delta(state.lora[1], x, ones, mix));
    for (size_t i = 0; i < want.size(); i++) CHECK(got[i] == Approx(want[i]).margin(1e-5));
    CHECK_THROWS(sapt_kl_loss(state, model, batch.ids, batch.mask, {0.0f, 0.0f, 1.0f}));
}

TEST_CASE("SAPT-Prompt: the prefix is the weighted sum of the task prompts and it trains", "[sapt]") {
    Rng rng = rng_make(14);
    const Model model = tiny_llama(rng);
    SaptOptions options;
    options.pet = PetKind::Prompt;
    options.prompt_length = 3;
    SaptState state = sapt_create(model, options);
    sapt_add_task(state, rng);
    sapt_add_task(state, rng);
    REQUIRE(state.prompt.previous.shape() == std::vector<int64_t>{1, 3, 16});
    const TinyBatch batch;
    const SalsOutput selection = sapt_begin_batch(state, model, batch.ids, batch.mask, true);
    const PetHook hook = sapt_hook(state);
    CHECK(!hook.projection_delta);
    const Tensor prefix = hook.prompt_prefix(tensor_zeros({2, 6, 16}));
    REQUIRE(prefix.shape() == std::vector<int64_t>{2, 3, 16});
    const std::vector<float> w = tensor_values(selection.weights), p = tensor_values(prefix);
    const std::vector<float> current = tensor_values(state.prompt.current), previous = tensor_values(state.prompt.previous);
    for (int b = 0; b < 2; b++) {
        for (int i = 0; i < 48; i++) CHECK(p[b * 48 + i] == Approx(w[b * 2] * current[i] + w[b * 2 + 1] * previous[i]).margin(1e-5));
    }
    // The prompt is prepended: logits stay (B, T, V) and the current prompt and the key get gradients.
    const Tensor logits = llama_forward(model.llama, batch.ids, batch.mask, Tensor{}, &hook, nullptr, false);
    CHECK(logits.shape() == std::vector<int64_t>{2, 6, 20});
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    zero_grad(params);
    backward(llama_loss(logits, batch.labels));
    CHECK(state.prompt.current.has_grad());
    CHECK(state.sals.key.has_grad());
    CHECK(!state.prompt.previous.has_grad());
}

TEST_CASE("sapt_save / sapt_load restore every task, the projector and the targets", "[sapt]") {
    Rng rng = rng_make(15);
    const Model model = tiny_llama(rng);
    SaptState state = three_task_state(model, SaptOptions{}, rng);
    const std::string path = "/tmp/sapt_test_state_" + std::to_string(::getpid()) + ".safetensors";
    sapt_save(state, path);
    SaptState restored = sapt_create(model, SaptOptions{});
    sapt_load(restored, path);
    std::remove(path.c_str());
    CHECK(restored.num_tasks == 3);
    CHECK(restored.targets == state.targets);
    const auto saved = sapt_tensors(state), loaded = sapt_tensors(restored);
    REQUIRE(saved.size() == loaded.size());
    for (size_t i = 0; i < saved.size(); i++) {
        INFO(saved[i].first);
        CHECK(loaded[i].first == saved[i].first);
        CHECK(tensor_values(loaded[i].second) == tensor_values(saved[i].second));
        CHECK(loaded[i].second.requires_grad() == saved[i].second.requires_grad());
    }
    const TinyBatch batch;
    CHECK(scalar_value(sapt_loss(restored, model, batch)) == scalar_value(sapt_loss(state, model, batch)));
    tape_clear();
    // Loading into a state with other options fails with the file's name.
    SaptOptions other;
    other.lora_rank = 8;
    SaptState mismatched = sapt_create(model, other);
    sapt_save(state, path);
    CHECK_THROWS_WITH(sapt_load(mismatched, path), Catch::Contains(path) && Catch::Contains("rank 8"));
    std::remove(path.c_str());
}
