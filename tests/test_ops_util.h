// test_ops_util.h — what the op tests share: deterministic test inputs and the finite-difference
// gradient check. check_gradients runs f once with the tape to get analytic gradients of
// loss = sum(f(inputs) * probe) (probe: fixed random weights, so every output element matters differently),
// then nudges every input element by +-eps under NoGradScope and compares with central differences.
#pragma once
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"

// Uniform values in [lo, hi) from a small LCG: fixed per seed, independent of the engine RNG.
inline std::vector<float> test_values(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> values(n);
    uint64_t state = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (float& v : values) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        v = lo + (hi - lo) * (float)((state >> 40) * (1.0 / 16777216.0));
    }
    return values;
}

inline Tensor test_tensor(const std::vector<int64_t>& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    return tensor_from(shape, test_values((size_t)shape_numel(shape), seed, lo, hi));
}

// A trainable leaf: the tensor an optimizer would update.
inline Tensor test_param(const std::vector<int64_t>& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    Tensor t = test_tensor(shape, seed, lo, hi);
    t.data->requires_grad = true;
    return t;
}

inline std::vector<float> grad_values(const Tensor& t) {
    return std::vector<float>(t.grad(), t.grad() + t.numel());
}

// sum(out * probe) in double, from the f32 output values.
inline double probe_loss(const Tensor& out, const std::vector<float>& probe) {
    std::vector<float> values = tensor_values(out);
    double total = 0.0;
    for (size_t i = 0; i < values.size(); i++) total += (double)values[i] * probe[i];
    return total;
}

typedef std::function<Tensor(const std::vector<Tensor>&)> OpUnderTest;

// Checks every input that requires a gradient, element by element:
// |analytic - numeric| <= atol + rtol |numeric|. Also requires each checked gradient to be non-trivial
// (max |numeric| > 1e-3), so that a test cannot pass on an op that sends no gradient at all.
inline void check_gradients(const std::string& name, const OpUnderTest& f, const std::vector<Tensor>& inputs,
                            float eps = 5e-3f, float atol = 2e-3f, float rtol = 1e-2f) {
    INFO("op under test: " << name);
    for (const Tensor& t : inputs) {
        if (t.has_grad()) t.zero_grad();
    }
    Tensor out = f(inputs);
    const std::vector<float> probe = test_values((size_t)out.numel(), 977, -1.0f, 1.0f);
    Tensor loss = sum(mul(out, tensor_from(out.shape(), probe)));
    backward(loss);
    REQUIRE(tape_size() == 0);

    for (size_t which = 0; which < inputs.size(); which++) {
        const Tensor& x = inputs[which];
        if (!x.requires_grad()) {
            CHECK_FALSE(x.has_grad());  // a constant input never gets a gradient buffer
            continue;
        }
        INFO("input " << which << " of shape " << shape_str(x.shape()));
        const std::vector<float> analytic = grad_values(x);
        float* values = x.f32();
        double largest = 0.0, worst = 0.0;
        for (int64_t i = 0; i < x.numel(); i++) {
            const float saved = values[i];
            double up, down;
            {
                NoGradScope no_grad;
                values[i] = saved + eps;
                up = probe_loss(f(inputs), probe);
                values[i] = saved - eps;
                down = probe_loss(f(inputs), probe);
            }
            values[i] = saved;
            const double numeric = (up - down) / (2.0 * (double)eps);
            const double error = std::fabs(analytic[i] - numeric);
            largest = std::max(largest, std::fabs(numeric));
            worst = std::max(worst, error - (atol + rtol * std::fabs(numeric)));
            if (error > atol + rtol * std::fabs(numeric)) {
                FAIL_CHECK("element " << i << ": analytic " << analytic[i] << " vs numeric " << numeric);
            }
        }
        CHECK(largest > 1e-3);
        CHECK(worst <= 0.0);
    }
    CHECK(tape_size() == 0);  // the NoGradScope evaluations recorded nothing
}
