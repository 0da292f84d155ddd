// test_sapt_lora.cpp — the stacked LoRA mix (sapt/lora.h) and its op scale_column_groups: equal to K
// separate LoRAs, exact gradients by finite differences, and the official no-gradient cut.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "sapt/lora.h"
#include "test_sapt_util.h"

namespace {

const AdaptedSite kSite{"layer.q", 6, 5, "layer", 'q'};

// A bank with 3 tasks whose B matrices are non-zero (fresh ones are zero, which would hide errors).
LoraBank three_task_bank(Rng& rng) {
    LoraBank bank = lora_bank_create(kSite, 2, rng);
    for (int task = 0; task < 3; task++) {
        if (task > 0) lora_bank_push_task(bank, rng);
        init_normal(bank.current_B, 0.0f, 0.5f, rng);
    }
    return bank;
}

// Task k's (A, B) as separate tensors, slot order: 0 = current, 1.. = earlier newest first.
std::pair<Tensor, Tensor> task_lora(const LoraBank& bank, int k) {
    if (k == 0) return {bank.current_A, bank.current_B};
    const int R = bank.rank;
    return {slice(bank.previous_A, 0, (k - 1) * R, k * R), slice(bank.previous_B, 1, (k - 1) * R, k * R)};
}

}  // namespace

TEST_CASE("stacked LoRA mix equals the weighted sum of separate per-task LoRAs", "[sapt]") {
    Rng rng = rng_make(1);
    LoraBank bank = three_task_bank(rng);
    REQUIRE(bank.num_tasks() == 3);
    REQUIRE(bank.previous_A.shape() == std::vector<int64_t>{4, 6});
    REQUIRE(bank.previous_B.shape() == std::vector<int64_t>{5, 4});
    const Tensor x = random_tensor({2, 3, 6}, rng);
    const Tensor w = tensor_from({2, 3}, {0.5f, 0.3f, 0.2f, 0.1f, 0.1f, 0.8f});
    LoraMixOptions options;
    options.scaling = 4.0f;

    // Reference: K separate products, each weighted per example.
    Tensor expected, expected_ones;
    for (int k = 0; k < 3; k++) {
        auto [A, B] = task_lora(bank, k);
        const Tensor y = scale(linear(linear(x, A), B), options.scaling);
        const Tensor weighted = mul_per_batch(y, tensor_from({2}, {tensor_values(w)[k], tensor_values(w)[3 + k]}));
        expected = expected.defined() ? add(expected, weighted) : weighted;
        expected_ones = expected_ones.defined() ? add(expected_ones, y) : y;
    }
    for (bool detach_previous : {false, true}) {
        options.detach_previous = detach_previous;
        const std::vector<float> got = tensor_values(lora_bank_delta(bank, x, w, options));
        const std::vector<float> want = tensor_values(expected);
        for (size_t i = 0; i < want.size(); i++) CHECK(got[i] == Approx(want[i]).margin(1e-5));
        // No weights = weight 1 on every task (IncLoRA).
        const std::vector<float> got_ones = tensor_values(lora_bank_delta(bank, x, Tensor{}, options));
        const std::vector<float> want_ones = tensor_values(expected_ones);
        for (size_t i = 0; i < want_ones.size(); i++) CHECK(got_ones[i] == Approx(want_ones[i]).margin(1e-5));
    }
    // Freezing pushed the finished task to the front of the stack with its exact values.
    LoraBank before = bank;
    const std::vector<float> finished_A = tensor_values(bank.current_A);
    lora_bank_push_task(bank, rng);
    CHECK(tensor_values(slice(bank.previous_A, 0, 0, 2)) == finished_A);
    CHECK(tensor_values(slice(bank.previous_A, 0, 2, 6)) == tensor_values(before.previous_A));
    CHECK(!bank.previous_A.requires_grad());
    CHECK(tensor_values(bank.current_B) == std::vector<float>(10, 0.0f));
}

TEST_CASE("LoRA mix gradients (default, exact) match finite differences", "[sapt]") {
    Rng rng = rng_make(2);
    LoraBank bank = three_task_bank(rng);
    Tensor x = random_tensor({2, 3, 6}, rng);
    Tensor w = tensor_from({2, 3}, {0.5f, 0.3f, 0.2f, 0.1f, 0.1f, 0.8f});
    x.data->requires_grad = true;
    w.data->requires_grad = true;
    const Tensor probe = random_tensor({2, 3, 5}, rng);  // loss = sum(probe * delta): every output counts
    LoraMixOptions options;
    options.scaling = 4.0f;
    auto loss = [&]() { return sum(mul(probe, lora_bank_delta(bank, x, w, options))); };
    backward(loss());
    double worst = 0.0;
    for (const Tensor& t : {x, w, bank.current_A, bank.current_B}) {
        const std::vector<float> analytic = gradient_values(t);
        for (int64_t i = 0; i < t.numel(); i++) {
            // The mix is linear in each of these tensors, so a central difference is exact up to rounding.
            const double numeric = central_difference(t, i, 1e-2f, loss);
            worst = std::max(worst, std::fabs(numeric - analytic[i]) / std::max(1.0, std::fabs(numeric)));
            CHECK(analytic[i] == Approx(numeric).epsilon(1e-3).margin(1e-3));
        }
    }
    WARN("LoRA mix: max error of the analytic gradient against finite differences " << worst);
    CHECK(!bank.previous_A.has_grad());
    CHECK(!bank.previous_B.has_grad());
}

TEST_CASE("compat official: earlier tasks send no gradient into x, but the weights still get theirs", "[sapt]") {
    Rng rng = rng_make(3);
    LoraBank bank = three_task_bank(rng);
    const Tensor x_values = random_tensor({2, 3, 6}, rng);
    const Tensor probe = random_tensor({2, 3, 5}, rng);
    const std::vector<float> w_values = {0.5f, 0.3f, 0.2f, 0.1f, 0.1f, 0.8f};
    LoraMixOptions options;
    options.scaling = 4.0f;
    // Gradients of x and w in one mode, and of x through the current task alone.
    auto gradients = [&](bool detach_previous, bool current_only) {
        Tensor x = tensor_clone(x_values), w = tensor_from({2, 3}, w_values);
        x.data->requires_grad = true;
        w.data->requires_grad = true;
        options.detach_previous = detach_previous;
        LoraBank used = bank;
        if (current_only) {
            used.previous_A = Tensor{};
            used.previous_B = Tensor{};
            w = tensor_from({2, 1}, {w_values[0], w_values[3]});
            w.data->requires_grad = true;
        }
        backward(sum(mul(probe, lora_bank_delta(used, x, w, options))));
        return std::make_pair(gradient_values(x), gradient_values(w));
    };
    const auto exact = gradients(false, false);
    const auto cut = gradients(true, false);
    const auto current = gradients(false, true);
    for (size_t i = 0; i < exact.second.size(); i++) {
        CHECK(cut.second[i] == Approx(exact.second[i]).margin(1e-5));  // d delta / d w_k = LoRA_k(x) in both modes
    }
    double cut_vs_current = 0.0, cut_vs_exact = 0.0;
    for (size_t i = 0; i < exact.first.size(); i++) {
        cut_vs_current = std::max(cut_vs_current, (double)std::fabs(cut.first[i] - current.first[i]));
        cut_vs_exact = std::max(cut_vs_exact, (double)std::fabs(cut.first[i] - exact.first[i]));
    }
    CHECK(cut_vs_current < 1e-5);  // only the current task's path reaches x
    CHECK(cut_vs_exact > 1e-2);    // and that is a real difference from the exact gradient
}

TEST_CASE("scale_column_groups checks its shapes", "[sapt]") {
    CHECK_THROWS_WITH(scale_column_groups(tensor_zeros({2, 3, 5}), tensor_zeros({2, 2}), 2, 1.0f),
                      Catch::Contains("scale_column_groups") && Catch::Contains("(2, 3, 5)"));
    CHECK_THROWS(scale_column_groups(tensor_zeros({2, 3, 4}), tensor_zeros({3, 2}), 2, 1.0f));
    const Tensor out = scale_column_groups(tensor_full({1, 2, 4}, 1.0f), tensor_from({1, 2}, {2.0f, 3.0f}), 2, 0.5f);
    CHECK(tensor_values(out) == std::vector<float>{1, 1, 1.5f, 1.5f, 1, 1, 1.5f, 1.5f});
}

TEST_CASE("linear_stacked equals linear on the concatenation, and only the trained part gets a gradient",
          "[sapt]") {
    Rng rng = rng_make(4);
    const Tensor x_values = random_tensor({2, 3, 6}, rng);
    for (int axis : {0, 1}) {
        // axis 0: trained (2, 6) on top of frozen (4, 6); axis 1: trained (6, 2) left of frozen (6, 4).
        const std::vector<int64_t> trained_shape = axis == 0 ? std::vector<int64_t>{2, 6} : std::vector<int64_t>{6, 2};
        const std::vector<int64_t> frozen_shape = axis == 0 ? std::vector<int64_t>{4, 6} : std::vector<int64_t>{6, 4};
        const Tensor trained_values = random_tensor(trained_shape, rng), frozen = random_tensor(frozen_shape, rng);
        const Tensor probe = random_tensor({2, 3, 6}, rng);
        auto run = [&](bool stacked) {
            Tensor x = tensor_clone(x_values), trained = tensor_clone(trained_values);
            x.data->requires_grad = true;
            trained.data->requires_grad = true;
            const Tensor y = stacked ? linear_stacked(x, trained, frozen, axis)
                                     : linear(x, concat({trained, frozen}, axis));
            backward(sum(mul(probe, y)));
            return std::make_tuple(tensor_values(y), gradient_values(x), gradient_values(trained));
        };
        const auto [y, dx, dtrained] = run(true);
        const auto [y_ref, dx_ref, dtrained_ref] = run(false);
        INFO("axis " << axis);
        REQUIRE(y.size() == y_ref.size());
        for (size_t i = 0; i < y.size(); i++) CHECK(y[i] == Approx(y_ref[i]).margin(1e-6));
        for (size_t i = 0; i < dx.size(); i++) CHECK(dx[i] == Approx(dx_ref[i]).margin(1e-6));
        REQUIRE(dtrained.size() == dtrained_ref.size());
        for (size_t i = 0; i < dtrained.size(); i++) CHECK(dtrained[i] == Approx(dtrained_ref[i]).margin(1e-6));
        CHECK(!frozen.has_grad());
    }
    const Tensor x = random_tensor({3, 6}, rng);
    CHECK_THROWS_WITH(linear_stacked(x, random_tensor({2, 6}, rng), random_tensor({4, 5}, rng), 0),
                      Catch::Contains("linear_stacked") && Catch::Contains("(4, 5)"));
    CHECK_THROWS_WITH(linear_stacked(x, random_tensor({2, 5}, rng), random_tensor({4, 5}, rng), 0),
                      Catch::Contains("input width 5"));
    Tensor trainable_frozen = random_tensor({4, 6}, rng);
    trainable_frozen.data->requires_grad = true;
    CHECK_THROWS_WITH(linear_stacked(x, random_tensor({2, 6}, rng), trainable_frozen, 0),
                      Catch::Contains("frozen must not require a gradient"));
}
