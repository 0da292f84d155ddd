// test_baselines.cpp — the distinctive part of each baseline (sapt/baselines/): O-LoRA's orthogonality
// and L2 terms (value and gradient), the EWC Fisher and penalty, L2P's query, top-N choice, prefix and
// matching loss, LwF's distillation loss and answer positions, Replay's memory budget; then every
// method's hooks on a tiny random LLaMA (a finite loss whose gradient reaches exactly what it trains).
#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "engine/optim.h"
#include "sapt/baselines/compare.h"
#include "sapt/baselines/ewc.h"
#include "sapt/baselines/l2p.h"
#include "sapt/baselines/lwf.h"
#include "sapt/baselines/olora.h"
#include "sapt/baselines/replay.h"
#include "sapt/generator.h"
#include "test_sapt_util.h"

namespace {

const AdaptedSite kSite{"layer.q", 6, 5, "layer", 'q'};

// Every entry of t's gradient against a central difference of f.
void check_gradient(const Tensor& t, const std::function<Tensor()>& f, double tolerance) {
    zero_grad({t});
    backward(f());
    const std::vector<float> g = gradient_values(t);
    for (int64_t i = 0; i < t.numel(); i++) {
        CHECK(g[(size_t)i] == Approx(central_difference(t, i, 1e-2f, f)).margin(tolerance));
    }
}

// A batch of 2 for the tiny LLaMA: row 1 left-padded, labels only on the answers.
Batch tiny_batch() {
    Batch batch;
    batch.input_ids = tensor_from_i32({2, 6}, {5, 9, 12, 3, 17, 8, 1, 1, 14, 6, 11, 2});
    batch.mask = tensor_empty({2, 6}, DType::U8);
    const uint8_t m[12] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
    for (int i = 0; i < 12; i++) batch.mask.u8()[i] = m[i];
    batch.labels = tensor_from_i32({2, 6}, {-100, -100, -100, 3, 17, 8, -100, -100, -100, -100, 11, 2});
    batch.selection_ids = batch.input_ids;
    batch.selection_mask = batch.mask;
    return batch;
}

}  // namespace

TEST_CASE("O-LoRA: the orthogonality loss is sum |A_prev A_new^T| with its exact gradient", "[baselines]") {
    Rng rng = rng_make(21);
    std::vector<LoraBank> banks = {lora_bank_create(kSite, 2, rng), lora_bank_create(kSite, 2, rng)};
    CHECK(scalar_value(olora_orthogonality_loss(banks)) == 0.0f);  // one task: nothing to be orthogonal to
    for (LoraBank& bank : banks) {
        lora_bank_push_task(bank, rng);
        lora_bank_push_task(bank, rng);  // two earlier tasks: previous_A is (4, 6)
    }
    double want = 0;
    for (const LoraBank& bank : banks) {
        const std::vector<float> prev = tensor_values(bank.previous_A), cur = tensor_values(bank.current_A);
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 2; j++) {
                double dot = 0;
                for (int c = 0; c < 6; c++) dot += (double)prev[(size_t)(i * 6 + c)] * cur[(size_t)(j * 6 + c)];
                want += std::fabs(dot);
            }
        }
    }
    CHECK(scalar_value(olora_orthogonality_loss(banks)) == Approx(want).epsilon(1e-5));
    CHECK(want > 0);
    check_gradient(banks[1].current_A, [&] { return olora_orthogonality_loss(banks); }, 2e-3);
    // Earlier tasks are frozen: the loss sends them nothing.
    CHECK(!banks[1].previous_A.has_grad());
    // An A orthogonal to every earlier row costs nothing.
    LoraBank& bank = banks[0];
    std::fill(bank.previous_A.f32(), bank.previous_A.f32() + 24, 0.0f);
    for (int i = 0; i < 4; i++) bank.previous_A.f32()[i * 6 + i] = 1.0f;             // rows e0..e3
    std::fill(bank.current_A.f32(), bank.current_A.f32() + 12, 0.0f);
    bank.current_A.f32()[0 * 6 + 4] = 2.0f;                                             // e4
    bank.current_A.f32()[1 * 6 + 5] = -3.0f;                                            // e5
    CHECK(scalar_value(olora_orthogonality_loss({bank})) == 0.0f);
}

TEST_CASE("O-LoRA: the L2 term is the sum of Frobenius norms of the new A and B", "[baselines]") {
    Rng rng = rng_make(22);
    LoraBank bank = lora_bank_create(kSite, 2, rng);
    init_normal(bank.current_B, 0.0f, 0.5f, rng);
    double a = 0, b = 0;
    for (float x : tensor_values(bank.current_A)) a += (double)x * x;
    for (float x : tensor_values(bank.current_B)) b += (double)x * x;
    CHECK(scalar_value(olora_l2_loss({bank})) == Approx(std::sqrt(a) + std::sqrt(b)).epsilon(1e-5));
    check_gradient(bank.current_B, [&] { return olora_l2_loss({bank}); }, 2e-3);
    Tensor zero = tensor_zeros({3});
    zero.data->requires_grad = true;
    backward(frobenius_norm(zero));
    for (float g : gradient_values(zero)) CHECK(g == 0.0f);
}

TEST_CASE("EWC: the diagonal Fisher is the mean squared per-example gradient", "[baselines]") {
    Tensor p = tensor_from({3}, {0.5f, -1.0f, 2.0f});
    p.data->requires_grad = true;
    // loss_k = sum(p * x_k) + 0.5 * p_0^2 has gradient x_k + (p_0, 0, 0).
    const std::vector<std::vector<float>> x = {{1, 2, 3}, {-1, 0, 4}};
    auto example_loss = [&](int k) {
        const Tensor first = slice(p, 0, 0, 1);
        return add(sum(mul(p, tensor_from({3}, x[(size_t)k]))), scale(mul(first, first), 0.5f));
    };
    const std::vector<Tensor> fisher = ewc_diagonal_fisher({p}, 2, example_loss);
    const std::vector<float> f = tensor_values(fisher[0]);
    CHECK(f[0] == Approx((1.5 * 1.5 + 0.5 * 0.5) / 2));
    CHECK(f[1] == Approx((4.0 + 0.0) / 2));
    CHECK(f[2] == Approx((9.0 + 16.0) / 2));
    for (float g : gradient_values(p)) CHECK(g == 0.0f);  // no gradient left behind
}

TEST_CASE("EWC: the penalty is lambda/2 sum_j F_j (theta - theta*_j)^2 with gradient lambda F (theta - theta*)", "[baselines]") {
    Tensor p = tensor_from({2}, {1.0f, 2.0f});
    p.data->requires_grad = true;
    std::vector<EwcAnchor> anchors(2);
    anchors[0].params = {tensor_from({2}, {0.0f, 0.0f})};
    anchors[0].fisher = {tensor_from({2}, {1.0f, 0.5f})};
    anchors[1].params = {tensor_from({2}, {1.5f, 1.0f})};
    anchors[1].fisher = {tensor_from({2}, {2.0f, 0.0f})};
    const float lambda = 4.0f;
    // 2 * (1*1 + 0.5*4 + 2*0.25 + 0) = 7
    const Tensor penalty = ewc_penalty({p}, anchors, lambda);
    CHECK(scalar_value(penalty) == Approx(7.0));
    zero_grad({p});
    backward(penalty);
    const std::vector<float> g = gradient_values(p);
    CHECK(g[0] == Approx(4.0 * (1.0 * 1.0 + 2.0 * -0.5)));
    CHECK(g[1] == Approx(4.0 * (0.5 * 2.0)));
    CHECK(scalar_value(ewc_penalty({p}, {}, lambda)) == 0.0f);
    CHECK_THROWS(ewc_penalty({p, p}, anchors, lambda));
}

TEST_CASE("L2P: the query averages token embeddings, padding excluded", "[baselines]") {
    const Tensor table = tensor_from({4, 2}, {0, 0, 1, 2, 3, 4, 10, 10});
    const Tensor ids = tensor_from_i32({2, 3}, {1, 2, 0, 3, 0, 0});
    Tensor mask = tensor_empty({2, 3}, DType::U8);
    const uint8_t m[6] = {1, 1, 0, 1, 0, 0};
    for (int i = 0; i < 6; i++) mask.u8()[i] = m[i];
    const std::vector<float> q = tensor_values(l2p_query(table, ids, mask));
    CHECK(q == std::vector<float>{2, 3, 10, 10});
}

TEST_CASE("L2P: top-N picks the N most cosine-similar keys, largest first, lower index on ties", "[baselines]") {
    const Tensor query = tensor_from({2, 2}, {1, 0, 0, 2});
    // keys: along x, along y, diagonal, along -x, along y again (a tie with key 1)
    Tensor keys = tensor_from({5, 2}, {3, 0, 0, 1, 1, 1, -2, 0, 0, 5});
    const Tensor cos = cosine_similarity_to_keys(query, keys);
    const std::vector<float> c = tensor_values(cos);
    CHECK(c[0] == Approx(1.0));
    CHECK(c[2] == Approx(std::sqrt(0.5)));
    CHECK(c[3] == Approx(-1.0));
    const auto chosen = top_n_indices(cos, 3);
    CHECK(chosen[0] == std::vector<int>{0, 2, 1});
    CHECK(chosen[1] == std::vector<int>{1, 4, 2});
    CHECK_THROWS(top_n_indices(cos, 6));
    // The gradient of the cosine to the keys, by finite differences.
    keys.data->requires_grad = true;
    const Tensor w = tensor_from({2, 5}, {0.3f, -1.0f, 0.7f, 0.2f, 1.1f, -0.4f, 0.9f, 0.5f, -0.6f, 0.8f});
    check_gradient(keys, [&] { return sum(mul(cosine_similarity_to_keys(query, keys), w)); }, 2e-3);
}

TEST_CASE("L2P: the prefix concatenates each example's chosen prompts; the matching loss pulls their keys", "[baselines]") {
    Rng rng = rng_make(23);
    const Tensor table = random_tensor({20, 4}, rng);
    PromptPool pool = prompt_pool_create(table, 6, 2, 3, rng);
    CHECK(pool.keys.shape() == std::vector<int64_t>{6, 4});
    CHECK(pool.prompts.shape() == std::vector<int64_t>{6, 2, 4});
    const Tensor ids = tensor_from_i32({2, 3}, {3, 7, 9, 12, 0, 0});
    Tensor mask = tensor_empty({2, 3}, DType::U8);
    const uint8_t m[6] = {1, 1, 1, 1, 0, 0};
    for (int i = 0; i < 6; i++) mask.u8()[i] = m[i];
    l2p_begin_batch(pool, table, ids, mask);
    REQUIRE(pool.chosen.size() == 2);
    const Tensor prefix = l2p_prefix(pool);
    REQUIRE(prefix.shape() == std::vector<int64_t>{2, 6, 4});
    const std::vector<float> p = tensor_values(prefix), prompts = tensor_values(pool.prompts);
    for (int b = 0; b < 2; b++) {
        for (int n = 0; n < 3; n++) {
            const int chosen = pool.chosen[(size_t)b][(size_t)n];
            for (int e = 0; e < 8; e++) CHECK(p[(size_t)(b * 24 + n * 8 + e)] == prompts[(size_t)(chosen * 8 + e)]);
        }
    }
    const std::vector<float> cos = tensor_values(cosine_similarity_to_keys(pool.query, pool.keys));
    double want = 0;
    for (int b = 0; b < 2; b++) {
        for (int chosen : pool.chosen[(size_t)b]) want += 1.0 - cos[(size_t)(b * 6 + chosen)];
    }
    CHECK(scalar_value(l2p_matching_loss(pool)) == Approx(want / 2).epsilon(1e-5));
    // Only the chosen keys move; only the chosen prompts receive a gradient from the prefix.
    zero_grad({pool.keys, pool.prompts});
    backward(add(l2p_matching_loss(pool), sum(l2p_prefix(pool))));
    std::set<int> used;
    for (const auto& row : pool.chosen) used.insert(row.begin(), row.end());
    const std::vector<float> gk = gradient_values(pool.keys), gp = gradient_values(pool.prompts);
    for (int key = 0; key < 6; key++) {
        double key_grad = 0, prompt_grad = 0;
        for (int c = 0; c < 4; c++) key_grad += std::fabs(gk[(size_t)(key * 4 + c)]);
        for (int e = 0; e < 8; e++) prompt_grad += std::fabs(gp[(size_t)(key * 8 + e)]);
        CHECK((key_grad > 0) == (used.count(key) > 0));
        CHECK((prompt_grad > 0) == (used.count(key) > 0));
    }
}

TEST_CASE("LwF: the distillation loss is tau^2 times the mean KL over answer positions", "[baselines]") {
    Rng rng = rng_make(24);
    Tensor student = random_tensor({2, 3, 4}, rng);
    const Tensor teacher = random_tensor({2, 3, 4}, rng);
    student.data->requires_grad = true;
    const std::vector<float> positions = {1, 1, 0, 0, 1, 0};
    const float tau = 2.0f;
    const std::vector<float> s = tensor_values(student), t = tensor_values(teacher);
    double want = 0;
    for (int p = 0; p < 6; p++) {
        if (positions[(size_t)p] == 0) continue;
        double zs = 0, zt = 0;
        for (int v = 0; v < 4; v++) zs += std::exp(s[(size_t)(p * 4 + v)] / tau), zt += std::exp(t[(size_t)(p * 4 + v)] / tau);
        for (int v = 0; v < 4; v++) {
            const double pt = std::exp(t[(size_t)(p * 4 + v)] / tau) / zt, ps = std::exp(s[(size_t)(p * 4 + v)] / tau) / zs;
            want += pt * std::log(pt / ps);
        }
    }
    want *= tau * tau / 3;
    CHECK(scalar_value(lwf_distillation_loss(student, teacher, positions, tau)) == Approx(want).epsilon(1e-4));
    check_gradient(student, [&] { return lwf_distillation_loss(student, teacher, positions, tau); }, 2e-3);
    // Masked positions get no gradient; a student equal to its teacher costs nothing.
    const std::vector<float> g = gradient_values(student);
    for (int v = 0; v < 4; v++) CHECK(g[(size_t)(2 * 4 + v)] == 0.0f);
    CHECK(scalar_value(lwf_distillation_loss(teacher, teacher, positions, tau)) == Approx(0.0).margin(1e-6));
    CHECK(scalar_value(lwf_distillation_loss(student, teacher, std::vector<float>(6, 0.0f), tau)) == 0.0f);
}

TEST_CASE("LwF: answer positions follow the labels (LLaMA shifted by one, as its loss)", "[baselines]") {
    const Tensor labels = tensor_from_i32({1, 4}, {-100, -100, 7, 2});
    CHECK(answer_positions(ModelKind::T5, labels) == std::vector<float>{0, 0, 1, 1});
    CHECK(answer_positions(ModelKind::Llama, labels) == std::vector<float>{0, 1, 1, 0});
}

TEST_CASE("Replay: the memory keeps SAPT's pseudo-sample budget of each task, without repeats", "[baselines]") {
    auto task = [](int n, const std::string& tag) {
        std::vector<Instance> train((size_t)n);
        for (int i = 0; i < n; i++) train[(size_t)i].input = tag + std::to_string(i);
        return train;
    };
    ReplayMemory memory;
    replay_memory_add(memory, task(250, "a"), 7, 0);
    replay_memory_add(memory, task(126, "b"), 7, 1);
    replay_memory_add(memory, task(10, "c"), 7, 2);
    CHECK(memory.per_task == std::vector<int>{5, 2, 1});  // the released counts: 250 -> 5, 126 -> 2; at least 1
    CHECK(memory.per_task[0] == pseudo_sample_count(250, 0.02f));
    REQUIRE(memory.instances.size() == 8);
    std::set<std::string> seen;
    for (size_t i = 0; i < memory.instances.size(); i++) {
        const std::string& input = memory.instances[i].input;
        CHECK(input[0] == (i < 5 ? 'a' : i < 7 ? 'b' : 'c'));  // oldest task first
        seen.insert(input);
    }
    CHECK(seen.size() == 8);
    ReplayMemory again;
    replay_memory_add(again, task(250, "a"), 7, 0);
    for (int i = 0; i < 5; i++) CHECK(again.instances[(size_t)i].input == memory.instances[(size_t)i].input);
    ReplayMemory other_seed;
    replay_memory_add(other_seed, task(250, "a"), 8, 0);
    bool differs = false;
    for (int i = 0; i < 5; i++) differs = differs || other_seed.instances[(size_t)i].input != memory.instances[(size_t)i].input;
    CHECK(differs);
}

TEST_CASE("every method's hooks give a finite loss whose gradient reaches exactly what it trains", "[baselines]") {
    const Batch batch = tiny_batch();
    const std::vector<EncodedExample> examples = {{{5, 9, 12}, {3, 17, 8}}, {{14, 6}, {11, 2}}};
    BatchingOptions batching;
    batching.model_kind = ModelKind::Llama;
    batching.pad_id = 1;
    BaselineOptions options;
    options.l2p_pool_size = 4;
    options.l2p_prompt_length = 2;
    options.l2p_top_n = 2;
    for (const std::string method : {"seqft", "replay", "ewc", "lwf", "l2p", "olora"}) {
        INFO(method);
        Rng rng = rng_make(25);
        Model model = tiny_llama(rng);
        SaptOptions sapt;
        sapt.selection = false;
        SaptState state = sapt_create(model, sapt);
        sapt_add_task(state, rng);
        MethodHooks hooks = make_method_hooks(method, model, state, batching, options);
        // Task 0 done; task 1 starts (a new block for O-LoRA, the same one for the others).
        for (LoraBank& bank : state.lora) init_normal(bank.current_B, 0.0f, 0.3f, rng);
        if (hooks.after_task) hooks.after_task(0, std::vector<Instance>(60), examples);
        if (method == "olora") sapt_add_task(state, rng);
        for (LoraBank& bank : state.lora) init_normal(bank.current_A, 0.0f, 0.3f, rng);  // drift from the anchors
        const std::vector<Tensor> params = method_trainable(&hooks, state);
        REQUIRE(!params.empty());
        const PetHook hook = method_hook(&hooks, state);
        method_begin_batch(&hooks, state, model, batch.selection_ids, batch.selection_mask, true);
        zero_grad(params);
        const BatchLoss loss = method_batch_loss(&hooks, model, hook, batch);
        REQUIRE(std::isfinite(scalar_value(loss.ce)));
        const bool has_extra = method == "ewc" || method == "lwf" || method == "l2p" || method == "olora";
        CHECK(loss.extra.defined() == has_extra);
        if (has_extra) CHECK(scalar_value(loss.extra) > 0);
        backward(loss.extra.defined() ? add(loss.ce, loss.extra) : loss.ce);
        for (const Tensor& p : params) CHECK(p.has_grad());
        if (method == "seqft") {
            CHECK(params.size() == model_weights(model).size());
            CHECK(!state.lora[0].current_A.has_grad());
        }
        if (method == "replay") CHECK(hooks.extra_training_instances(1).size() == 1);  // 2% of 60
    }
}

TEST_CASE("comparison: method lists, and scores with FWT from the single runs", "[baselines]") {
    CHECK(parse_comparison_methods("all") == comparison_methods());
    CHECK(parse_comparison_methods("ewc,single") == std::vector<std::string>{"ewc", "single"});
    CHECK_THROWS(parse_comparison_methods("ewc,nope"));
    const double nan = std::nan("");
    ContinualResult run;
    run.matrix = {{80, nan, nan}, {60, 70, nan}, {50, 65, 90}};
    const std::vector<double> single = {85, 70, 80};
    const ClScores s = comparison_scores("seqlora", run, single);
    CHECK(s.ap == Approx((50 + 65 + 90) / 3.0));
    CHECK(s.forgetting == Approx(((80 - 50) + (70 - 65)) / 2.0));
    CHECK(s.forward_transfer == Approx(((80 - 85) + (70 - 70) + (90 - 80)) / 3.0));
    CHECK(s.backward_transfer == Approx(((50 - 80) + (65 - 70)) / 2.0));
    const ClScores mtl = comparison_scores("mtl", run, single);
    CHECK(mtl.ap == Approx(s.ap));
    CHECK(std::isnan(mtl.forgetting));
    ContinualResult alone;
    alone.matrix = {{85, nan, nan}, {nan, 70, nan}, {nan, nan, 80}};
    CHECK(comparison_scores("single", alone, single).ap == Approx(235.0 / 3));
}
