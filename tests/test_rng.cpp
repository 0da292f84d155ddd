// test_rng.cpp — the engine RNG: PCG32 reproduces the published reference stream, state round-trips
// through plain integers, the distributions have the right moments, and the initialisers use torch's
// bounds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/error.h"
#include "engine/rng.h"

TEST_CASE("PCG32 seeded with (42, 54) gives the pcg32-demo reference outputs", "[rng]") {
    // The first six outputs printed by O'Neill's pcg32-demo (pcg-c-basic), which seeds with
    // initstate 42, initseq 54: an outside check that the generator is PCG32 XSH-RR.
    Rng rng = rng_make(42, 54);
    const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u, 0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    for (uint32_t value : expected) CHECK(rng_next_u32(rng) == value);
}

TEST_CASE("the same seed gives the same stream, other seeds and streams differ", "[rng]") {
    Rng a = rng_make(7), b = rng_make(7), other_seed = rng_make(8), other_stream = rng_make(7, 1);
    int same_as_other_seed = 0, same_as_other_stream = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = rng_next_u32(a);
        REQUIRE(x == rng_next_u32(b));
        same_as_other_seed += x == rng_next_u32(other_seed);
        same_as_other_stream += x == rng_next_u32(other_stream);
    }
    CHECK(same_as_other_seed < 3);
    CHECK(same_as_other_stream < 3);
}

TEST_CASE("rng_next_u64 puts the first 32-bit draw in the high half", "[rng]") {
    Rng a = rng_make(3), b = rng_make(3);
    uint64_t high = rng_next_u32(b), low = rng_next_u32(b);
    CHECK(rng_next_u64(a) == ((high << 32) | low));
}

TEST_CASE("an Rng restored from its two saved integers continues the same stream", "[rng]") {
    Rng running = rng_make(2024);
    for (int i = 0; i < 37; i++) rng_normal(running);
    uint64_t saved_state = running.state, saved_increment = running.increment;

    Rng resumed;
    resumed.state = saved_state;
    resumed.increment = saved_increment;
    for (int i = 0; i < 100; i++) {
        REQUIRE(rng_next_u32(resumed) == rng_next_u32(running));
        REQUIRE(rng_normal(resumed) == rng_normal(running));
    }
}

TEST_CASE("the RNG state round-trips through its text form and bad text is refused", "[rng]") {
    Rng running = rng_make(99, 3);
    for (int i = 0; i < 5; i++) rng_next_u32(running);
    Rng resumed = rng_from_string(rng_to_string(running), "ckpt");
    CHECK(resumed.state == running.state);
    CHECK(resumed.increment == running.increment);
    CHECK(rng_next_u64(resumed) == rng_next_u64(running));

    CHECK_THROWS_WITH(rng_from_string("12", "ckpt/meta"), Catch::Contains("ckpt/meta: RNG state must be two"));
    CHECK_THROWS_WITH(rng_from_string("1 3 x", "ckpt"), Catch::Contains("two unsigned integers"));
    CHECK_THROWS_WITH(rng_from_string("-1 3", "ckpt"), Catch::Contains("two unsigned integers"));
    CHECK_THROWS_WITH(rng_from_string("99999999999999999999 3", "ckpt"), Catch::Contains("two unsigned integers"));
    CHECK_THROWS_WITH(rng_from_string("5 4", "ckpt"), Catch::Contains("increment must be odd"));
}

TEST_CASE("rng_uniform stays in [0, 1) with mean 1/2 and variance 1/12", "[rng]") {
    Rng rng = rng_make(11);
    const int n = 200000;
    double sum = 0, sum_sq = 0;
    float lowest = 1, highest = 0;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(rng);
        lowest = std::min(lowest, u);
        highest = std::max(highest, u);
        sum += u;
        sum_sq += (double)u * u;
    }
    double mean = sum / n, variance = sum_sq / n - mean * mean;
    CHECK(lowest >= 0.0f);
    CHECK(highest < 1.0f);
    CHECK(std::fabs(mean - 0.5) < 0.005);               // standard error 0.00065
    CHECK(std::fabs(variance - 1.0 / 12.0) < 0.002);
}

TEST_CASE("rng_normal has mean 0, std 1 and 68.3% of draws within one std", "[rng]") {
    Rng rng = rng_make(5);
    const int n = 200000;
    double sum = 0, sum_sq = 0;
    int within_one = 0;
    for (int i = 0; i < n; i++) {
        double z = rng_normal(rng);
        sum += z;
        sum_sq += z * z;
        within_one += std::fabs(z) < 1.0;
    }
    double mean = sum / n, std = std::sqrt(sum_sq / n - mean * mean);
    CHECK(std::fabs(mean) < 0.01);                      // standard error 0.0022
    CHECK(std::fabs(std - 1.0) < 0.01);
    CHECK(std::fabs((double)within_one / n - 0.6827) < 0.005);
}

TEST_CASE("rng_below covers [0, n) evenly", "[rng]") {
    Rng rng = rng_make(9);
    const int n = 60000;
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        uint32_t r = rng_below(rng, 3);
        REQUIRE(r < 3);
        counts[r]++;
    }
    for (int count : counts) CHECK(std::abs(count - n / 3) < 600);  // ~5 standard deviations
    CHECK_THROWS_AS(rng_below(rng, 0), sapt_error);
}

TEST_CASE("rng_shuffle permutes, reproducibly, with every order equally likely", "[rng]") {
    Rng a = rng_make(1), b = rng_make(1);
    std::vector<int> first(50), second(50);
    for (int i = 0; i < 50; i++) first[i] = second[i] = i;
    rng_shuffle(a, first);
    rng_shuffle(b, second);
    CHECK(first == second);
    std::vector<int> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 50; i++) REQUIRE(sorted[i] == i);
    CHECK(first != sorted);

    std::map<std::vector<int>, int> seen;
    Rng rng = rng_make(2);
    const int trials = 60000;
    for (int i = 0; i < trials; i++) {
        std::vector<int> items = {0, 1, 2};
        rng_shuffle(rng, items);
        seen[items]++;
    }
    CHECK(seen.size() == 6);
    for (const auto& entry : seen) CHECK(std::abs(entry.second - trials / 6) < 500);
}

TEST_CASE("global_rng is one generator that programs can seed", "[rng]") {
    rng_seed(global_rng(), 123);
    uint32_t first = rng_next_u32(global_rng());
    Rng expected = rng_make(123);
    CHECK(first == rng_next_u32(expected));
    CHECK(&global_rng() == &global_rng());
}

TEST_CASE("init_uniform and init_normal fill a tensor with the asked distribution", "[rng]") {
    Rng rng = rng_make(4);
    Tensor uniform = tensor_zeros({100, 100});
    init_uniform(uniform, -2.0f, 3.0f, rng);
    std::vector<float> u = tensor_values(uniform);
    double sum = 0;
    for (float x : u) {
        REQUIRE(x >= -2.0f);
        REQUIRE(x < 3.0f);
        sum += x;
    }
    CHECK(std::fabs(sum / u.size() - 0.5) < 0.05);

    Tensor normal = tensor_zeros({200, 100});
    init_normal(normal, 1.5f, 0.02f, rng);
    std::vector<float> z = tensor_values(normal);
    double zsum = 0, zsum_sq = 0;
    for (float x : z) {
        zsum += x;
        zsum_sq += (double)x * x;
    }
    double mean = zsum / z.size(), std = std::sqrt(zsum_sq / z.size() - mean * mean);
    CHECK(std::fabs(mean - 1.5) < 0.001);
    CHECK(std::fabs(std - 0.02) < 0.0005);
}

TEST_CASE("init fills bf16 tensors too and refuses integer tensors", "[rng]") {
    Rng rng = rng_make(6);
    Tensor weights = tensor_zeros({64}, DType::BF16);
    init_uniform(weights, 0.5f, 1.0f, rng);
    for (float x : tensor_values(weights)) {
        REQUIRE(x >= 0.5f);
        REQUIRE(x <= 1.0f);  // rounding to bf16 may reach the upper end
    }
    Tensor ids = tensor_zeros({4}, DType::I32);
    CHECK_THROWS_WITH(init_normal(ids, 0, 1, rng), Catch::Contains("expected F32 or BF16"));
}

TEST_CASE("kaiming_uniform uses torch's bound gain * sqrt(3 / fan_in)", "[rng]") {
    // a = 0 (ReLU gain sqrt 2): sqrt(2) * sqrt(3 / 16) = sqrt(6) / 4.
    CHECK(kaiming_uniform_bound(16, 0.0f) == Approx(std::sqrt(6.0) / 4.0).epsilon(1e-6));
    // a = sqrt(5) (nn.Linear, LoRA A): gain sqrt(1/3), bound 1 / sqrt(fan_in).
    CHECK(kaiming_uniform_bound(64, std::sqrt(5.0f)) == Approx(0.125).epsilon(1e-6));

    Rng rng = rng_make(8);
    Tensor lora_a = tensor_zeros({8, 64});  // (R, C): fan_in is C
    init_kaiming_uniform(lora_a, std::sqrt(5.0f), rng);
    float largest = 0;
    for (float x : tensor_values(lora_a)) largest = std::max(largest, std::fabs(x));
    CHECK(largest <= 0.125f);
    CHECK(largest > 0.12f);  // 512 draws come close to the bound
    CHECK_THROWS_WITH(init_kaiming_uniform(tensor_zeros({8}), 0.0f, rng), Catch::Contains("at least 2-D"));
}
