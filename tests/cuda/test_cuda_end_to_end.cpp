// test_cuda_end_to_end.cpp — whole models on the CUDA backend, through models/model_device.h and
// sapt/sapt_device.h: the official SAPT fixtures run on the device (f32 weights, then bf16 frozen weights)
// against the official code's outputs and gradients, and a short two-task SAPT training run with AdamW on
// the device whose per-step losses match the CPU run from the same seed. One source, two runs: on a GPU
// (make test-cuda) and under the CPU emulation (make test-emu, where the sizes keep it to seconds).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/fileio.h"
#include "engine/optim.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cuda/cuda_backend.h"
#include "models/generate.h"
#include "models/model_device.h"
#include "sapt/reflection.h"
#include "sapt/sapt_device.h"
#include "tests/test_models_util.h"
#include "tests/test_sapt_util.h"
#include "tests/sapt_fixture_util.h"
#include "tests/cuda/cuda_checks.h"
#include "tests/precision_scope.h"
#include "tests/test_util.h"

namespace {

// max |device - official| / max |official|. The CPU suite holds fp32 to 1e-5 (test_sapt_fixtures.cpp);
// the device sums in other orders (cuBLAS, the fused attention's tiles, warp reductions), so fp32 gets
// ten times that. bf16 frozen weights round every weight to 8 significant bits (relative 2^-9): forward
// values move by well under 1% (measured up to 0.7%), and gradients more, since they pass back through
// every layer's rounded weights (T5's encoder LoRA gradients: measured up to 4.3%).
const double kF32Tolerance = 1e-4;
const double kBf16ForwardTolerance = 2e-2;
const double kBf16GradientTolerance = 1e-1;

// A gradient read back from wherever it lives.
Tensor gradient_on_host(const Tensor& param) {
    REQUIRE(param.has_grad());
    Tensor host = tensor_empty(param.shape());
    copy_bytes(host.f32(), Device::CPU, param.grad(), param.device(), (size_t)param.numel() * sizeof(float));
    return host;
}

Tensor on_device(const Tensor& t) { return tensor_to_device(t, Device::CUDA); }

// The largest error per kind of tensor ("f32 grad.lora", "bf16 logits", ...) over every case run so far.
std::map<std::string, double>& worst_by_kind() {
    static std::map<std::string, double> worst;
    return worst;
}

struct CaseRun {
    std::string name;
    bool bf16_frozen;
    double worst = 0.0;  // the largest error of this run, over every compared tensor

    void check(const std::string& kind, const std::string& what, const Tensor& got, const Tensor& want) {
        const bool gradient = kind.rfind("grad", 0) == 0;
        const double tolerance =
            !bf16_frozen ? kF32Tolerance : gradient ? kBf16GradientTolerance : kBf16ForwardTolerance;
        const std::string precision = bf16_frozen ? "bf16" : "f32";
        const double err = max_rel_err(got, want);
        INFO(name << " (" << precision << ") " << what << ": max rel err " << err << " (tolerance " << tolerance
                  << ")");
        CHECK(err <= tolerance);
        worst = std::max(worst, err);
        double& worst_of_kind = worst_by_kind()[precision + " " + kind];
        worst_of_kind = std::max(worst_of_kind, err);
    }
};

// One fixture case with the model and the SAPT state on the device; returns the largest error.
double run_case_on_device(const std::string& dir, bool bf16_frozen) {
    CaseRun run{dir.substr(dir.find_last_of('/') + 1), bf16_frozen};
    INFO("fixture case " << dir);
    WeightMap extras;
    Model model = load_pretrained_model(dir, &extras);
    const SafeTensorsFile io = safetensors_open(dir + "/io.safetensors");
    const nlohmann::json config = nlohmann::json::parse(read_file(dir + "/config.json"));
    SaptState state = sapt_create(model, sapt_fixture_options(config));
    sapt_load_official(state, extras, dir);

    if (bf16_frozen) CHECK(model_frozen_weights_to_bf16(model) > 0);
    model_to_device(model, Device::CUDA);
    sapt_to_device(state, model, Device::CUDA);
    const std::vector<Tensor> params = sapt_trainable_parameters(state);
    for (const Tensor& p : params) {
        INFO(p.name());
        CHECK(p.device() == Device::CUDA);
        CHECK(p.dtype() == DType::F32);
        CHECK(p.requires_grad());
    }
    for (NamedWeight& w : model_weights(model)) {
        INFO(w.name);
        CHECK(w.tensor->device() == Device::CUDA);
        CHECK(w.tensor->dtype() == (bf16_frozen && w.tensor->ndim() == 2 ? DType::BF16 : DType::F32));
    }

    const FixtureForward forward = sapt_fixture_forward(
        model, state, io, on_device,
        [&](const std::string& kind, const std::string& what, const Tensor& got, const Tensor& want) {
            run.check(kind, what, got, want);
        });
    CHECK(forward.selection_weights.device() == Device::CUDA);
    CHECK(forward.logits.device() == Device::CUDA);
    zero_grad(params);
    backward(forward.total);
    int checked = 0;
    for (const auto& [name, param] : official_trainable_names(state)) {
        if (!io.has("grad." + name)) continue;
        const std::string kind = name.find(".lora_") != std::string::npos       ? "grad.lora"
                                 : name.find("prompt_key") != std::string::npos ? "grad.key"
                                                                                : "grad.trans_input";
        run.check(kind, "grad." + name, gradient_on_host(param), io.get("grad." + name));
        checked++;
    }
    CHECK(checked >= (int)state.lora.size() * 2 + 5);
    return run.worst;
}

// ---- a short training run --------------------------------------------------------------------------------

struct TrainingSetup {
    Device device = Device::CPU;
    bool bf16_frozen = false;
};

// A tiny LLaMA (C 16, 2 layers, vocabulary 20) with SAPT-LoRA: task 0 trained for 4 AdamW steps (two
// batches, twice each), its selection weights recorded, then task 1 for 4 steps with the reflection KL
// on a pseudo batch of task 0; last, 4 tokens greedily generated with both tasks mixed. Everything random
// comes from fixed seeds, so every setup sees the same weights, data and new tasks.
struct TrainingRun {
    std::vector<float> losses;  // every step's loss (the total, CE + KL, for task 1)
    std::vector<std::vector<int32_t>> generated;
};

TrainingRun sapt_training_run(const TrainingSetup& setup) {
    Rng rng = rng_make(2024);
    Model model = tiny_llama(rng);
    if (setup.bf16_frozen) model_frozen_weights_to_bf16(model);
    model_to_device(model, setup.device);
    SaptOptions options;
    options.lora_rank = 2;
    options.lora_alpha = 4.0f;
    options.trans_hidden = 12;
    SaptState state = sapt_create(model, options);
    sapt_to_device(state, model, setup.device);

    // Two batches of (B 3, T 6) ids with right padding, and a pseudo batch for the reflection.
    const int64_t B = 3, T = 6;
    auto batch = [&](int64_t first_pad_row) {
        std::vector<int32_t> ids((size_t)(B * T));
        std::vector<uint8_t> mask_values((size_t)(B * T), 1);
        for (int64_t i = 0; i < B * T; i++) ids[i] = 2 + (int32_t)rng_below(rng, 18);
        for (int64_t t = T - 2; t < T; t++) {
            ids[first_pad_row * T + t] = 1;  // pad id of tiny_llama
            mask_values[first_pad_row * T + t] = 0;
        }
        Tensor mask = tensor_empty({B, T}, DType::U8);
        std::copy(mask_values.begin(), mask_values.end(), mask.u8());
        return std::make_pair(tensor_to_device(tensor_from_i32({B, T}, ids), setup.device),
                              tensor_to_device(mask, setup.device));
    };
    const std::vector<std::pair<Tensor, Tensor>> batches = {batch(0), batch(2)};
    const auto pseudo = batch(1);
    std::vector<int32_t> prompt_ids((size_t)(B * 4));  // (B, 4) without padding, for generation
    for (int32_t& id : prompt_ids) id = 2 + (int32_t)rng_below(rng, 18);
    const Tensor prompt = tensor_to_device(tensor_from_i32({B, 4}, prompt_ids), setup.device);

    TrainingRun run;
    for (int task = 0; task < 2; task++) {
        sapt_add_task_on_device(state, rng);
        AdamW opt = adamw_create(sapt_trainable_parameters(state), 2e-2, 0.01);
        for (int step = 0; step < 4; step++) {
            const auto& [ids, mask] = batches[step % 2];
            zero_grad(opt.params);
            sapt_begin_batch(state, model, ids, mask, true);
            const PetHook hook = sapt_hook(state);
            Tensor loss = llama_loss(llama_forward(model.llama, ids, mask, Tensor{}, &hook, nullptr, false), ids);
            if (task > 0) {
                const Tensor kl = sapt_kl_loss(state, model, pseudo.first, pseudo.second, sapt_replay_target(state, 0));
                loss = add(loss, scale(kl, reflection_weight(0.5f, 1, false)));
            }
            backward(loss);
            clip_grad_norm(opt.params, 1.0f);
            adamw_step(opt);
            run.losses.push_back(scalar_value(loss));
        }
        for (const Tensor& p : opt.params) CHECK(p.device() == setup.device);
        SelectionRecord record;
        for (const auto& [ids, mask] : batches) {
            NoGradScope no_grad;
            selection_record_add(record, sapt_selection(state, model, ids, mask).weights);
        }
        state.targets.push_back(selection_record_finish(record));
    }
    sapt_begin_batch(state, model, prompt, Tensor{});
    const PetHook hook = sapt_hook(state);
    GenerateOptions generation;
    generation.max_new_tokens = 4;
    generation.stop_at_eos = false;
    run.generated = model_generate(model, prompt, Tensor{}, &hook, generation);
    return run;
}

// The largest |a - b| / max(1, |b|) over the steps.
double max_step_error(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double worst = 0.0;
    for (size_t i = 0; i < a.size(); i++) {
        worst = std::max(worst, std::fabs((double)a[i] - b[i]) / std::max(1.0, (double)std::fabs(b[i])));
    }
    return worst;
}

std::string list(const std::vector<float>& values) {
    std::ostringstream out;
    for (float v : values) out << " " << v;
    return out.str();
}


}  // namespace

TEST_CASE("the official SAPT fixtures on the device, f32 and bf16 frozen weights", "[cuda][cuda-e2e]") {
    PrecisionScope f32_gemms(GemmPrecision::F32);
    const std::vector<std::string> cases = sapt_fixture_cases();
    double worst_f32 = 0.0, worst_bf16 = 0.0;
    for (const std::string& dir : cases) {
        worst_f32 = std::max(worst_f32, run_case_on_device(dir, false));
        worst_bf16 = std::max(worst_bf16, run_case_on_device(dir, true));
    }
    if (!cases.empty()) {
        std::ostringstream summary;
        summary << "SAPT fixtures on " << cuda_device_name() << ", " << cases.size() << " cases, max rel err per kind:";
        for (const auto& [kind, err] : worst_by_kind()) summary << " " << kind << " " << err << ";";
        WARN(summary.str());
        // bf16 weights really were used: the outputs moved by more than fp32 noise.
        CHECK(worst_bf16 > 10 * kF32Tolerance);
    }
}

TEST_CASE("a short SAPT training run on the device matches the CPU run", "[cuda][cuda-e2e]") {
    const TrainingRun cpu_run = sapt_training_run({Device::CPU, false});
    const std::vector<float>& cpu = cpu_run.losses;
    const std::vector<float> cpu_bf16 = sapt_training_run({Device::CPU, true}).losses;
    TrainingRun device_run;
    std::vector<float> device_bf16_weights, device_bf16;
    {
        PrecisionScope scope(GemmPrecision::F32);
        device_run = sapt_training_run({Device::CUDA, false});
        device_bf16_weights = sapt_training_run({Device::CUDA, true}).losses;
    }
    {
        // The precision policy: frozen weights bf16, GEMMs on bf16 inputs with f32 accumulation.
        PrecisionScope scope(GemmPrecision::BF16);
        device_bf16 = sapt_training_run({Device::CUDA, true}).losses;
    }
    std::vector<float> cpu_bf16_products;
    {
        // The CPU's own bf16 policy (kernels/cpu/gemm.h): the same products as the device's bf16 GEMMs.
        CpuGemmPrecisionScope scope(GemmPrecision::BF16);
        cpu_bf16_products = sapt_training_run({Device::CPU, true}).losses;
    }
    const std::vector<float>& device = device_run.losses;
    INFO("losses cpu:" << list(cpu) << "\n  device f32:" << list(device) << "\n  cpu bf16 weights:"
                       << list(cpu_bf16) << "\n  device bf16 weights:" << list(device_bf16_weights)
                       << "\n  device bf16 weights and GEMM inputs:" << list(device_bf16)
                       << "\n  cpu bf16 weights and GEMM inputs:" << list(cpu_bf16_products));
    REQUIRE(cpu.size() == 8);
    // The run trains: the loss on a batch falls from its first visit to its second, in both tasks.
    for (int first : {0, 1, 4, 5}) CHECK(cpu[first + 2] < cpu[first]);
    const double f32_err = max_step_error(device, cpu);
    const double same_weights_err = max_step_error(device_bf16_weights, cpu_bf16);
    const double bf16_err = max_step_error(device_bf16, cpu);
    const double bf16_products_err = max_step_error(device_bf16, cpu_bf16_products);
    WARN("SAPT training on " << cuda_device_name() << ", max per-step loss error: device f32 vs CPU f32 " << f32_err
                             << "; device vs CPU, both with bf16 frozen weights " << same_weights_err
                             << "; device bf16 (weights and GEMM inputs) vs CPU f32 " << bf16_err
                             << "; vs CPU bf16 (weights and GEMM inputs) " << bf16_products_err);
    // Same numbers on both sides: only summation orders differ (AdamW may enlarge that a little in 8 steps).
    CHECK(f32_err <= 1e-4);
    CHECK(same_weights_err <= 1e-4);
    // Rounding activations to bf16 amplifies those order differences: an activation one f32 ulp apart on the
    // two sides can round to neighbouring bf16 values, 2^-8 apart. Seen on an H100 (2026-11-26): 1.7e-4,
    // against 7.8e-4 from the f32 run. So: within bf16 tolerance, and clearly nearer the CPU's bf16 products
    // than the f32 run (a device that ignored the bf16 policy would sit at the f32 distance).
    CHECK(bf16_products_err <= 1e-3);
    CHECK(bf16_products_err < 0.5 * bf16_err);
    // bf16 tolerance: 2^-8 relative per rounding, a few roundings deep. And bf16 was really used.
    CHECK(bf16_err <= 2e-2);
    CHECK(max_step_error(cpu_bf16, cpu) > 1e-5);
    // The trained adapters generate on the device (KV cache, both tasks mixed) what they generate on the CPU.
    REQUIRE(cpu_run.generated.size() == 3);
    CHECK(cpu_run.generated[0].size() == 4);
    CHECK(device_run.generated == cpu_run.generated);
}
