// test_optim.cpp — AdamW against ten recorded steps of torch.optim.AdamW (tests/fixtures/optim/adamw.json,
// made by tests/reference/gen_adamw_fixture.py), gradient clipping against hand-computed norms, the HF
// learning-rate schedules, and an optimizer checkpoint that resumes bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/optim.h"
#include "engine/safetensors.h"

using json = nlohmann::json;

static Tensor trainable(const std::vector<int64_t>& shape, const std::vector<float>& values, const std::string& name) {
    Tensor t = tensor_from(shape, values);
    t.data->requires_grad = true;
    t.data->name = name;
    return t;
}

static void set_grad(const Tensor& p, const std::vector<float>& values) {
    REQUIRE((int64_t)values.size() == p.numel());
    std::memcpy(p.grad(), values.data(), values.size() * sizeof(float));
}

static std::vector<float> grad_values(const Tensor& p) { return std::vector<float>(p.grad(), p.grad() + p.numel()); }

static double max_abs_difference(const std::vector<float>& ours, const std::vector<double>& expected) {
    REQUIRE(ours.size() == expected.size());
    double worst = 0;
    for (size_t i = 0; i < ours.size(); i++) worst = std::max(worst, std::fabs((double)ours[i] - expected[i]));
    return worst;
}

static double max_relative_difference(const std::vector<float>& ours, const std::vector<double>& expected) {
    REQUIRE(ours.size() == expected.size());
    double worst = 0;
    for (size_t i = 0; i < ours.size(); i++) {
        worst = std::max(worst, std::fabs((double)ours[i] - expected[i]) / std::max(1e-12, std::fabs(expected[i])));
    }
    return worst;
}

TEST_CASE("AdamW matches torch.optim.AdamW over 10 steps, skipping a parameter without gradient", "[optim]") {
    json fixture = json::parse(read_file("tests/fixtures/optim/adamw.json"));
    const json& hyper = fixture["hyper"];
    std::vector<Tensor> params;
    for (size_t i = 0; i < fixture["shapes"].size(); i++) {
        std::vector<int64_t> shape = fixture["shapes"][i].get<std::vector<int64_t>>();
        params.push_back(trainable(shape, fixture["initial"][i].get<std::vector<float>>(), "p" + std::to_string(i)));
    }
    AdamW opt = adamw_create(params, hyper["lr"].get<double>(), hyper["weight_decay"].get<double>(),
                             hyper["beta1"].get<double>(), hyper["beta2"].get<double>(), hyper["eps"].get<double>());

    double max_error = 0;
    for (const json& step : fixture["steps"]) {
        opt.lr = step["lr"].get<double>();
        for (size_t i = 0; i < params.size(); i++) {
            const json& grad = step["grads"][i];
            if (grad.is_null()) {
                REQUIRE_FALSE(params[i].has_grad());  // torch's p.grad is None: never allocated here
            } else {
                set_grad(params[i], grad.get<std::vector<float>>());
            }
        }
        adamw_step(opt);
        for (size_t i = 0; i < params.size(); i++) {
            double error = max_abs_difference(tensor_values(params[i]), step["params_after"][i].get<std::vector<double>>());
            max_error = std::max(max_error, error);
        }
    }
    CHECK(max_error < 1e-6);
    CHECK(opt.step == 10);
    CHECK(opt.param_steps == fixture["final_param_steps"].get<std::vector<int64_t>>());
    CHECK(opt.param_steps[2] == 7);  // no gradient on steps 1-3
    // The moments agree to f32 rounding too: the hyper-parameters are doubles, so 1 - beta2 is formed in
    // double before rounding, exactly as torch does with its Python floats.
    double moment_error = 0;
    for (size_t i = 0; i < params.size(); i++) {
        moment_error = std::max(moment_error, max_relative_difference(tensor_values(opt.exp_avg[i]),
                                                                      fixture["final_exp_avg"][i].get<std::vector<double>>()));
        moment_error = std::max(moment_error, max_relative_difference(tensor_values(opt.exp_avg_sq[i]),
                                                                      fixture["final_exp_avg_sq"][i].get<std::vector<double>>()));
    }
    CHECK(moment_error < 1e-6);
}

TEST_CASE("adamw_create refuses frozen and non-f32 parameters", "[optim]") {
    Tensor frozen = tensor_zeros({2});
    CHECK_THROWS_WITH(adamw_create({frozen}), Catch::Contains("does not require a gradient"));
    Tensor half = tensor_zeros({2}, DType::BF16);
    half.data->requires_grad = true;
    CHECK_THROWS_WITH(adamw_create({half}), Catch::Contains("expected F32"));
}

TEST_CASE("lr_scale steps each parameter as an optimizer of its own learning rate would", "[optim]") {
    // One optimizer with scales {1, 100} against two optimizers at lr and 100 lr, 5 steps, same gradients.
    auto make = [](const std::string& name) { return trainable({3}, {0.5f, -1.0f, 2.0f}, name); };
    Tensor a = make("a"), b = make("b"), a_alone = make("a"), b_alone = make("b");
    AdamW grouped = adamw_create({a, b}, 3e-3, 0.01);
    grouped.lr_scale = {1.0, 100.0};
    AdamW first = adamw_create({a_alone}, 3e-3, 0.01), second = adamw_create({b_alone}, 0.3, 0.01);
    for (int step = 0; step < 5; step++) {
        const std::vector<float> g = {0.1f * (step + 1), -0.2f, 0.05f * step};
        for (const Tensor& p : {a, b, a_alone, b_alone}) set_grad(p, g);
        adamw_step(grouped);
        adamw_step(first);
        adamw_step(second);
    }
    CHECK(tensor_values(a) == tensor_values(a_alone));
    CHECK(tensor_values(b) == tensor_values(b_alone));
    CHECK(tensor_values(a) != tensor_values(b));
    grouped.lr_scale = {1.0};
    CHECK_THROWS_WITH(adamw_step(grouped), Catch::Contains("lr_scale has 1 entries"));
}

TEST_CASE("clip_grad_norm returns the global L2 norm and scales only above max_norm", "[optim]") {
    Tensor a = trainable({2}, {0, 0}, "a"), b = trainable({1}, {0}, "b"), no_grad = trainable({3}, {0, 0, 0}, "c");
    set_grad(a, {3, 4});
    set_grad(b, {12});  // sqrt(9 + 16 + 144) = 13

    CHECK(clip_grad_norm({a, b, no_grad}, 100.0f) == Approx(13.0f));
    CHECK(grad_values(a) == std::vector<float>{3, 4});  // clip_coef > 1: untouched
    CHECK_FALSE(no_grad.has_grad());                     // a missing gradient is neither counted nor created

    float total = clip_grad_norm({a, b, no_grad}, 6.5f);
    CHECK(total == Approx(13.0f));
    float coef = 6.5f / (13.0f + 1e-6f);
    CHECK(grad_values(a)[0] == Approx(3 * coef).epsilon(1e-6));
    CHECK(grad_values(a)[1] == Approx(4 * coef).epsilon(1e-6));
    CHECK(grad_values(b)[0] == Approx(12 * coef).epsilon(1e-6));
    CHECK(clip_grad_norm({a, b}, 100.0f) == Approx(6.5f).epsilon(1e-6));  // the new norm is max_norm

    CHECK(clip_grad_norm({no_grad}, 1.0f) == 0.0f);
}

TEST_CASE("zero_grad zeroes allocated gradients and allocates none", "[optim]") {
    Tensor a = trainable({2}, {1, 1}, "a"), b = trainable({2}, {1, 1}, "b");
    set_grad(a, {5, -5});
    zero_grad({a, b});
    CHECK(grad_values(a) == std::vector<float>{0, 0});
    CHECK_FALSE(b.has_grad());
}

TEST_CASE("learning-rate schedules follow HF's lambdas", "[optim]") {
    LrSchedule constant{LrScheduleKind::Constant, 0.01f, 0, 0};
    CHECK(lr_at(constant, 0) == 0.01f);
    CHECK(lr_at(constant, 12345) == 0.01f);

    LrSchedule warm{LrScheduleKind::ConstantWithWarmup, 0.01f, 4, 0};
    CHECK(lr_at(warm, 0) == 0.0f);  // HF: the first update happens at lr 0
    CHECK(lr_at(warm, 1) == Approx(0.0025f));
    CHECK(lr_at(warm, 3) == Approx(0.0075f));
    CHECK(lr_at(warm, 4) == 0.01f);
    CHECK(lr_at(warm, 1000) == 0.01f);

    LrSchedule linear{LrScheduleKind::LinearWithWarmup, 0.01f, 2, 10};
    CHECK(lr_at(linear, 0) == 0.0f);
    CHECK(lr_at(linear, 1) == Approx(0.005f));
    CHECK(lr_at(linear, 2) == Approx(0.01f));
    CHECK(lr_at(linear, 6) == Approx(0.005f));  // (10 - 6) / (10 - 2)
    CHECK(lr_at(linear, 9) == Approx(0.00125f));
    CHECK(lr_at(linear, 10) == 0.0f);
    CHECK(lr_at(linear, 15) == 0.0f);  // clamped, never negative

    LrSchedule no_warmup{LrScheduleKind::LinearWithWarmup, 0.01f, 0, 4};
    CHECK(lr_at(no_warmup, 0) == 0.01f);
    CHECK(lr_at(no_warmup, 1) == Approx(0.0075f));
}

TEST_CASE("an optimizer restored from a checkpoint continues exactly like the original", "[optim]") {
    auto make_params = [] {
        return std::vector<Tensor>{trainable({3}, {0.5f, -1.0f, 2.0f}, "w"), trainable({2}, {0.1f, 0.2f}, "b")};
    };
    auto gradient = [](int step, int i, int j) { return std::sin(1.0f + step * 0.7f + i * 1.3f + j * 0.4f); };
    auto run_steps = [&](AdamW& opt, int from, int to) {
        for (int step = from; step < to; step++) {
            for (size_t i = 0; i < opt.params.size(); i++) {
                for (int64_t j = 0; j < opt.params[i].numel(); j++) opt.params[i].grad()[j] = gradient(step, (int)i, (int)j);
            }
            adamw_step(opt);
        }
    };

    std::vector<Tensor> original_params = make_params();
    AdamW original = adamw_create(original_params, 0.05f, 0.1f);
    run_steps(original, 0, 5);

    char dir_template[] = "/tmp/sapt_test_optim_XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    std::string path = std::string(dir_template) + "/optimizer.safetensors";
    safetensors_save(path, adamw_state(original));

    std::vector<Tensor> resumed_params;
    for (const Tensor& p : original_params) {
        Tensor copy = tensor_clone(p);
        copy.data->requires_grad = true;
        resumed_params.push_back(copy);
    }
    AdamW resumed = adamw_create(resumed_params, 0.05f, 0.1f);
    {
        SafeTensorsFile file = safetensors_open(path);
        adamw_load_state(resumed, file);
    }
    std::remove(path.c_str());
    rmdir(dir_template);
    CHECK(resumed.step == 5);
    CHECK(resumed.param_steps == std::vector<int64_t>{5, 5});

    run_steps(original, 5, 10);
    run_steps(resumed, 5, 10);
    for (size_t i = 0; i < original_params.size(); i++) {
        CHECK(tensor_values(resumed_params[i]) == tensor_values(original_params[i]));  // bit for bit
    }
}

TEST_CASE("adamw_load_state names the missing or mismatched tensor", "[optim]") {
    Tensor w = trainable({3}, {1, 2, 3}, "w");
    AdamW opt = adamw_create({w});
    char dir_template[] = "/tmp/sapt_test_optim_XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    std::string path = std::string(dir_template) + "/wrong.safetensors";
    std::vector<std::pair<std::string, Tensor>> state = adamw_state(opt);
    state[0].second = tensor_zeros({4});  // adamw.exp_avg.w with the wrong shape
    safetensors_save(path, state);
    {
        SafeTensorsFile file = safetensors_open(path);
        CHECK_THROWS_WITH(adamw_load_state(opt, file), Catch::Contains("adamw.exp_avg.w") && Catch::Contains("(4)"));
    }
    safetensors_save(path, {{"adamw.step", tensor_from_i32({1}, {3})}});
    {
        SafeTensorsFile file = safetensors_open(path);
        CHECK_THROWS_WITH(adamw_load_state(opt, file), Catch::Contains("adamw.param_steps' is missing"));
    }
    std::remove(path.c_str());
    rmdir(dir_template);
}
