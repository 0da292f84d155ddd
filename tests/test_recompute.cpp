// test_recompute.cpp — activation recomputation (recompute_in_backward, --recompute layer): a training
// step of T5 and LLaMA with a PET hook gives bit-identical losses and gradients with and without it
// (dropout included: the RNG is rewound), and it lowers the peak of live tensor bytes. Fixtures are the
// tiny models of tests/fixtures/models; the SAPT case runs the real SALS + LoRA bank hook; and a small
// ./train run with --recompute layer logs the same losses and scores as one without.
#include <catch2/catch.hpp>

#include <cstring>
#include <sstream>

#include "reliability_util.h"
#include "sapt/baselines/lwf.h"
#include "sapt/sapt.h"
#include "sapt/trainer.h"
#include "test_models_util.h"
#include "test_sapt_util.h"

namespace {

const char* kFixtures = "tests/fixtures/models/";

// delta = 2 (x A^T) B^T with trainable A, B from the fixture's extra tensors (as test_models_grads).
struct TrainableLora {
    std::vector<Tensor> a, b;
    PetHook hook;
};

std::unique_ptr<TrainableLora> trainable_lora(const Model& model, WeightMap& extras) {
    auto lora = std::make_unique<TrainableLora>();
    for (const AdaptedSite& site : model_adapted_sites(model)) {
        std::string base = site.module + ".lora_" + site.projection;
        REQUIRE(extras.count(base + ".lora_A"));
        Tensor a = extras.at(base + ".lora_A"), b = extras.at(base + ".lora_B");
        a.data->requires_grad = b.data->requires_grad = true;
        lora->a.push_back(a);
        lora->b.push_back(b);
    }
    TrainableLora* self = lora.get();
    lora->hook.projection_delta = [self](int site, const Tensor& x) {
        return scale(linear(linear(x, self->a[site]), self->b[site]), 2.0f);
    };
    return lora;
}

// The loss and every gradient of one step, as raw bits.
struct StepResult {
    std::vector<float> loss;
    std::vector<std::vector<float>> grads;
    size_t peak_bytes = 0;  // most live tensor bytes during the step, above what lived before it
};

// Seeds the global RNG (dropout draws from it), zeroes the gradients, runs loss_fn and backward.
StepResult run_step(const std::vector<Tensor>& params, const std::function<Tensor()>& loss_fn) {
    rng_seed(global_rng(), 1234);
    for (const Tensor& p : params) p.zero_grad();
    const size_t before = tensor_bytes_live(Device::CPU);
    tensor_bytes_reset_peak(Device::CPU);
    StepResult r;
    {
        Tensor loss = loss_fn();
        r.loss = tensor_values(loss);
        backward(loss);
    }
    r.peak_bytes = tensor_bytes_peak(Device::CPU) - before;
    CHECK(tape_size() == 0);
    for (const Tensor& p : params) r.grads.push_back(gradient_values(p));
    return r;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void require_identical(const StepResult& plain, const StepResult& recomputed) {
    CHECK(same_bits(plain.loss, recomputed.loss));
    REQUIRE(plain.grads.size() == recomputed.grads.size());
    int nonzero = 0;
    for (size_t i = 0; i < plain.grads.size(); i++) {
        INFO("parameter " << i);
        CHECK(same_bits(plain.grads[i], recomputed.grads[i]));
        for (float g : plain.grads[i]) nonzero += g != 0.0f ? 1 : 0;
    }
    CHECK(nonzero > 0);  // the comparison is of real gradients, not of two zero buffers
}

// The T5 loss of the fixture's batch through model_loss, so the Model flag is what switches it.
Tensor t5_fixture_loss(const Model& model, const SafeTensorsFile& io, const PetHook* hook) {
    Batch batch;
    batch.input_ids = io.get("input_ids");
    batch.mask = to_u8_mask(io.get("attention_mask"));
    batch.labels = io.get("labels");
    return model_loss(model, hook, batch, /*training=*/true);
}

}  // namespace

TEST_CASE("T5 LoRA step with dropout: recomputing every block gives bit-identical loss and gradients",
          "[recompute]") {
    WeightMap extras;
    Model model = load_pretrained_model(std::string(kFixtures) + "t5_gated_untied_lora", &extras);
    model.t5.config.dropout_rate = 0.1f;  // the masks must be drawn again identically in backward
    SafeTensorsFile io = safetensors_open(std::string(kFixtures) + "t5_gated_untied_lora/io.safetensors");
    auto lora = trainable_lora(model, extras);
    std::vector<Tensor> params = lora->a;
    params.insert(params.end(), lora->b.begin(), lora->b.end());

    auto loss_fn = [&]() { return t5_fixture_loss(model, io, &lora->hook); };
    StepResult plain = run_step(params, loss_fn);
    model.recompute_layers = true;
    StepResult recomputed = run_step(params, loss_fn);
    require_identical(plain, recomputed);

    // A different dropout draw changes the loss: the identity above is not dropout being inert.
    rng_seed(global_rng(), 99);
    CHECK_FALSE(same_bits(tensor_values(loss_fn()), plain.loss));
    tape_clear();
}

TEST_CASE("T5 with the whole backbone trainable: recomputation gives bit-identical gradients of every weight",
          "[recompute]") {
    Model model = load_pretrained_model(std::string(kFixtures) + "t5_relu_tied_full");
    set_backbone_trainable(model, true);
    SafeTensorsFile io = safetensors_open(std::string(kFixtures) + "t5_relu_tied_full/io.safetensors");
    std::vector<Tensor> params;
    for (NamedWeight& w : model_weights(model)) params.push_back(*w.tensor);  // shared position bias included

    auto loss_fn = [&]() { return t5_fixture_loss(model, io, nullptr); };
    StepResult plain = run_step(params, loss_fn);
    model.recompute_layers = true;
    StepResult recomputed = run_step(params, loss_fn);
    require_identical(plain, recomputed);
}

TEST_CASE("LLaMA LoRA step on a left-padded batch: recomputation gives bit-identical loss and gradients",
          "[recompute]") {
    WeightMap extras;
    Model model = load_pretrained_model(std::string(kFixtures) + "llama_gqa_lora", &extras);
    SafeTensorsFile io = safetensors_open(std::string(kFixtures) + "llama_gqa_lora/io.safetensors");
    auto lora = trainable_lora(model, extras);
    std::vector<Tensor> params = lora->a;
    params.insert(params.end(), lora->b.begin(), lora->b.end());
    Batch batch;
    batch.input_ids = io.get("input_ids");
    batch.mask = to_u8_mask(io.get("attention_mask"));
    batch.labels = io.get("labels");

    auto loss_fn = [&]() { return model_loss(model, &lora->hook, batch, true); };
    StepResult plain = run_step(params, loss_fn);
    model.recompute_layers = true;
    StepResult recomputed = run_step(params, loss_fn);
    require_identical(plain, recomputed);
}

TEST_CASE("SAPT on LLaMA (SALS selection, LoRA bank with dropout, 3 tasks): recomputation is bit-identical",
          "[recompute]") {
    Rng rng = rng_make(21);
    Model model = tiny_llama(rng);
    SaptOptions options;
    options.lora_dropout = 0.1f;
    SaptState state = sapt_create(model, options);
    for (int task = 0; task < 3; task++) {
        sapt_add_task(state, rng);
        for (LoraBank& bank : state.lora) init_normal(bank.current_B, 0.0f, 0.3f, rng);
    }
    const std::vector<Tensor> params = sapt_trainable_parameters(state);  // SALS and the current LoRAs
    Tensor ids = tensor_from_i32({2, 6}, {5, 9, 12, 3, 17, 8, 1, 1, 14, 6, 11, 2});
    Tensor mask = tensor_empty({2, 6}, DType::U8);
    const uint8_t m[12] = {1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
    std::memcpy(mask.u8(), m, sizeof m);
    Tensor labels = tensor_from_i32({2, 6}, {-100, -100, -100, 3, 17, 8, -100, -100, -100, -100, 11, 2});

    // The recomputation calls the hook again during backward, so the PetHook must outlive it. The
    // selection weights are armed once per batch outside the blocks: each recomputed block reads the
    // same (B, K) tensor and adds its share of the gradient into it, in the same order as the tape.
    const PetHook hook = sapt_hook(state);
    auto step_with = [&](bool recompute) {
        return run_step(params, [&]() {
            sapt_begin_batch(state, model, ids, mask, true);
            LlamaRunOptions run;
            run.recompute_layers = recompute;
            return llama_loss(llama_forward(model.llama, ids, mask, Tensor{}, &hook, nullptr, false, nullptr, run),
                              labels);
        });
    };
    StepResult plain = step_with(false);
    StepResult recomputed = step_with(true);
    require_identical(plain, recomputed);
}

TEST_CASE("Recomputation keeps one input per block on the tape and lowers the step's peak of live bytes",
          "[recompute]") {
    // Wide enough that activations, not the logits, dominate: C 64, 4 layers, batch 4 x 48 tokens.
    Rng rng = rng_make(5);
    LlamaConfig c;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.num_hidden_layers = 4;
    c.vocab_size = 32;
    WeightLoad load;
    load.where = "recompute test";
    auto put = [&](const std::string& name, std::vector<int64_t> shape, float offset) {
        Tensor t = random_tensor(shape, rng, 0.1f);
        for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] += offset;
        load.remaining[name] = t;
    };
    put("model.embed_tokens.weight", {32, 64}, 0.0f);
    put("lm_head.weight", {32, 64}, 0.0f);
    put("model.norm.weight", {64}, 1.0f);
    for (int i = 0; i < 4; i++) {
        const std::string p = "model.layers." + std::to_string(i);
        put(p + ".input_layernorm.weight", {64}, 1.0f);
        put(p + ".post_attention_layernorm.weight", {64}, 1.0f);
        for (const char* proj : {".q_proj", ".k_proj", ".v_proj", ".o_proj"}) {
            put(p + ".self_attn" + proj + ".weight", {64, 64}, 0.0f);
        }
        put(p + ".mlp.gate_proj.weight", {172, 64}, 0.0f);
        put(p + ".mlp.up_proj.weight", {172, 64}, 0.0f);
        put(p + ".mlp.down_proj.weight", {64, 172}, 0.0f);
    }
    Model model;
    model.kind = ModelKind::Llama;
    model.llama = llama_from_weights(c, load, nullptr);
    std::vector<Tensor> params;
    PetHook hook;
    for (int s = 0; s < 8; s++) {
        params.push_back(random_tensor({4, 64}, rng, 0.1f));
        params.push_back(random_tensor({64, 4}, rng, 0.1f));
    }
    for (Tensor& p : params) p.data->requires_grad = true;
    hook.projection_delta = [&](int site, const Tensor& x) {
        return linear(linear(x, params[2 * site]), params[2 * site + 1]);
    };
    const int64_t B = 4, T = 48;
    std::vector<int32_t> id_values, label_values;
    for (int64_t i = 0; i < B * T; i++) {
        id_values.push_back((int32_t)((i * 7 + 3) % 32));
        label_values.push_back((int32_t)((i * 5 + 1) % 32));
    }
    Batch batch;
    batch.input_ids = tensor_from_i32({B, T}, id_values);
    batch.labels = tensor_from_i32({B, T}, label_values);

    size_t after_forward[2];
    auto step_with = [&](bool recompute) {
        model.recompute_layers = recompute;
        return run_step(params, [&]() {
            Tensor loss = model_loss(model, &hook, batch, true);
            after_forward[recompute ? 1 : 0] = tensor_bytes_live(Device::CPU);
            return loss;
        });
    };
    const size_t live_before = tensor_bytes_live(Device::CPU);
    StepResult plain = step_with(false);
    StepResult recomputed = step_with(true);
    require_identical(plain, recomputed);
    // Afterwards only the trainable tensors' gradients (allocated by the first step) remain.
    size_t gradient_bytes = 0;
    for (const Tensor& p : params) gradient_bytes += (size_t)p.numel() * sizeof(float);
    CHECK(tensor_bytes_live(Device::CPU) == live_before + gradient_bytes);

    // What the forward leaves alive for backward, over the logits' share: the recomputed run holds
    // little more than one (B, T, C) input per layer.
    const size_t block_input = (size_t)(B * T * 64) * sizeof(float);
    const size_t held_plain = after_forward[0] - live_before, held_recomputed = after_forward[1] - live_before;
    CHECK(held_recomputed < held_plain / 4);
    CHECK(held_recomputed >= 4 * block_input);
    CHECK(recomputed.peak_bytes < plain.peak_bytes * 6 / 10);
    WARN("LLaMA C 64, 4 layers, batch 4 x 48: peak live bytes of a step " << plain.peak_bytes << " -> "
         << recomputed.peak_bytes << " with --recompute layer (held after forward " << held_plain << " -> "
         << held_recomputed << ")");

    // LwF's own forward (the student's logits, sapt/baselines/lwf.h: model_logits) follows --recompute too.
    auto held_by_lwf_forward = [&](bool recompute) {
        model.recompute_layers = recompute;
        const size_t before = tensor_bytes_live(Device::CPU);
        size_t held = 0;
        {
            Tensor logits = model_logits(model, &hook, batch, true);
            held = tensor_bytes_live(Device::CPU) - before;
        }
        tape_clear();
        return held;
    };
    CHECK(held_by_lwf_forward(true) < held_by_lwf_forward(false) / 4);
}

TEST_CASE("Under NoGradScope a recomputed forward is the plain forward and records nothing", "[recompute]") {
    WeightMap extras;
    Model model = load_pretrained_model(std::string(kFixtures) + "llama_gqa_lora", &extras);
    SafeTensorsFile io = safetensors_open(std::string(kFixtures) + "llama_gqa_lora/io.safetensors");
    auto lora = trainable_lora(model, extras);
    Tensor ids = io.get("input_ids"), mask = to_u8_mask(io.get("attention_mask"));
    NoGradScope no_grad;
    LlamaRunOptions run;
    run.recompute_layers = true;
    Tensor a = llama_forward(model.llama, ids, mask, Tensor{}, &lora->hook, nullptr, false, nullptr, run);
    Tensor b = llama_forward(model.llama, ids, mask, Tensor{}, &lora->hook, nullptr, false);
    CHECK(same_bits(tensor_values(a), tensor_values(b)));
    CHECK(tape_size() == 0);
    CHECK_FALSE(a.requires_grad());
}

namespace {

// The "loss" and "kl" of every train_step line of a log.jsonl, as written (full precision).
std::vector<std::string> logged_losses(const std::string& log_path) {
    std::vector<std::string> losses;
    std::istringstream lines(read_file(log_path));
    std::string line;
    while (std::getline(lines, line)) {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.value("event", "") == "train_step") losses.push_back(j.at("loss").dump() + " " + j.at("kl").dump());
    }
    return losses;
}

}  // namespace

TEST_CASE("./train --recompute layer logs the same step losses and scores as --recompute none", "[recompute]") {
    const std::string dir = reliability_dir("recompute_run");
    std::string output;
    std::vector<std::string> none = small_builtin_args("runs/none"), layer = small_builtin_args("runs/layer");
    none.insert(none.end(), {"--recompute", "none"});
    layer.insert(layer.end(), {"--recompute", "layer"});
    REQUIRE(run_program("train", none, dir, &output) == 0);
    REQUIRE(run_program("train", layer, dir, &output) == 0);
    const std::vector<std::string> a = logged_losses(dir + "/runs/none/sapt/log.jsonl");
    const std::vector<std::string> b = logged_losses(dir + "/runs/layer/sapt/log.jsonl");
    CHECK(a.size() >= 10);  // task steps and the generators' steps
    CHECK(a == b);
    CHECK(report_matrices(dir + "/runs/none") == report_matrices(dir + "/runs/layer"));
    CHECK(read_file(dir + "/runs/layer/args.json").find("\"recompute\": \"layer\"") != std::string::npos);
}
