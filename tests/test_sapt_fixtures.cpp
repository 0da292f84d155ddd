// test_sapt_fixtures.cpp — the SAPT module (sapt/sapt.h) against the official code's fixtures under
// --compat official: selection (pooled, query, logits, weights), logits, CE, the reflection KL, and the
// gradient of every trainable tensor (current LoRA A/B at every site, the current key, trans_input).
// Cases come from SAPT_FIXTURES (colon-separated case folders), else every folder of
// <shared>/fixtures/sapt_official. Each case also runs under the CPU's bf16 policy (frozen weights stored in
// bf16, GEMM products of bf16 operands summed in f32), held to the GPU test's bf16 bounds.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/autograd.h"
#include "engine/fileio.h"
#include "engine/optim.h"
#include "engine/ops.h"
#include "kernels/cpu/gemm.h"
#include "models/model_device.h"
#include "sapt/reflection.h"
#include "tests/precision_scope.h"
#include "sapt/sapt.h"
#include "test_models_util.h"
#include "tests/sapt_fixture_util.h"
#include "tests/test_util.h"

namespace {

// max |ours - official| / max |official|. fp32: 1e-5. bf16 (the bounds of tests/cuda/test_cuda_end_to_end.cpp):
// every weight and GEMM input rounded to 8 significant bits moves forward values by under 1%, gradients
// more (they pass back through every rounded layer).
const double kTolerance = 1e-5;
const double kBf16ForwardTolerance = 2e-2;
const double kBf16GradientTolerance = 1e-1;

// The largest error seen per kind of tensor, over all cases (printed at the end); bf16 kinds are
// prefixed "bf16 ".
std::map<std::string, double>& worst_by_kind() {
    static std::map<std::string, double> worst;
    return worst;
}

bool bf16_run = false;  // set by run_case for the checks of its case

void check_close(const std::string& kind, const std::string& what, const Tensor& got, const Tensor& want) {
    const double err = max_rel_err(got, want);
    const double tolerance = !bf16_run ? kTolerance : kind.rfind("grad", 0) == 0 ? kBf16GradientTolerance
                                                                               : kBf16ForwardTolerance;
    INFO(what << (bf16_run ? " (bf16)" : "") << ": max rel err " << err << " (tolerance " << tolerance << ")");
    CHECK(err <= tolerance);
    double& worst = worst_by_kind()[(bf16_run ? "bf16 " : "") + kind];
    worst = std::max(worst, err);
}

// The CPU's bf16 policy for one scope, and the flag that files this run's errors under "bf16"; both go
// back however the scope ends.
struct Bf16Scope {
    CpuGemmPrecisionScope precision;
    explicit Bf16Scope(bool on) : precision(on ? GemmPrecision::BF16 : GemmPrecision::F32) { bf16_run = on; }
    ~Bf16Scope() { bf16_run = false; }
};

Tensor gradient_of(const Tensor& param) {
    REQUIRE(param.has_grad());
    return tensor_from(param.shape(), std::vector<float>(param.grad(), param.grad() + param.numel()));
}

// Every grad.<name> (or grad_kl.<name>) of the fixture against ours; every trainable tensor must be covered.
void check_gradients(const SaptState& state, const SafeTensorsFile& io, const std::string& io_prefix,
                     const std::string& case_name) {
    int checked = 0;
    for (const auto& [name, param] : official_trainable_names(state)) {
        if (!io.has(io_prefix + name)) continue;
        const bool lora = name.find(".lora_") != std::string::npos;
        const std::string kind = io_prefix + (lora ? "lora" : name.find("prompt_key") != std::string::npos ? "key" : "trans_input");
        check_close(kind, case_name + " " + io_prefix + name, gradient_of(param), io.get(io_prefix + name));
        checked++;
    }
    int expected = 0;
    for (const std::string& n : io.names()) expected += n.rfind(io_prefix, 0) == 0 ? 1 : 0;
    CHECK(checked == expected);
    CHECK(checked >= (io_prefix == "grad." ? (int)state.lora.size() * 2 + 5 : 5));
}

void run_case(const std::string& dir, bool bf16) {
    const std::string case_name = dir.substr(dir.find_last_of('/') + 1);
    INFO("fixture case " << dir);
    Bf16Scope precision(bf16);
    WeightMap extras;
    Model model = load_pretrained_model(dir, &extras);
    if (bf16) CHECK(model_frozen_weights_to_bf16(model) > 0);
    const SafeTensorsFile io = safetensors_open(dir + "/io.safetensors");
    const nlohmann::json config = nlohmann::json::parse(read_file(dir + "/config.json"));
    SaptState state = sapt_create(model, sapt_fixture_options(config));
    sapt_load_official(state, extras, dir);
    REQUIRE(state.num_tasks == config["sapt"]["n_tasks"].get<int>());

    const FixtureForward forward = sapt_fixture_forward(
        model, state, io, [](const Tensor& t) { return t; },
        [&](const std::string& kind, const std::string& what, const Tensor& got, const Tensor& want) {
            check_close(kind, case_name + " " + what, got, want);
        });
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    zero_grad(params);
    backward(forward.total);
    check_gradients(state, io, "grad.", case_name);

    if (io.has("grad_kl." + std::string(model.kind == ModelKind::T5 ? "encoder." : "model.") + "prompt_key")) {
        zero_grad(params);
        backward(sapt_kl_loss(state, model, forward.ids, forward.mask, forward.replay_labels));
        check_gradients(state, io, "grad_kl.", case_name);
    }
}

}  // namespace

TEST_CASE("SAPT under --compat official matches the official code's fixtures", "[sapt]") {
    const std::vector<std::string> cases = sapt_fixture_cases();
    for (const std::string& dir : cases) run_case(dir, false);
    if (!cases.empty()) {
        std::ostringstream summary;
        summary << "SAPT fixture parity over " << cases.size() << " cases, max rel err per kind:";
        for (const auto& [kind, err] : worst_by_kind()) summary << " " << kind << " " << err << ";";
        WARN(summary.str());
        CHECK(worst_by_kind().count("grad.lora") == 1);
        // A missing official tensor is named in the error.
        WeightMap extras;
        const Model model = load_pretrained_model(cases[0], &extras);
        REQUIRE(extras.erase(std::string(model.kind == ModelKind::T5 ? "encoder" : "model") + ".prompt_key") == 1);
        SaptState state = sapt_create(model, SaptOptions{});
        CHECK_THROWS_WITH(sapt_load_official(state, extras, cases[0]), Catch::Contains("prompt_key") && Catch::Contains(cases[0]));
    }
}

TEST_CASE("the official fixtures under the CPU's bf16 policy stay within the bf16 bounds", "[sapt][bf16]") {
    const std::vector<std::string> cases = sapt_fixture_cases();
    for (const std::string& dir : cases) run_case(dir, true);
    if (!cases.empty()) {
        std::ostringstream summary;
        summary << "bf16 fixture errors over " << cases.size() << " cases, max rel err per kind:";
        double worst_forward = 0.0;
        for (const auto& [kind, err] : worst_by_kind()) {
            if (kind.rfind("bf16 ", 0) != 0) continue;
            summary << " " << kind << " " << err << ";";
            if (kind.find("grad") == std::string::npos) worst_forward = std::max(worst_forward, err);
        }
        WARN(summary.str());
        CHECK(worst_by_kind().count("bf16 grad.lora") == 1);
        // bf16 was really used: the forward moved by far more than f32 noise.
        CHECK(worst_forward > 10 * kTolerance);
    }
}
