// test_memory_plan.cpp — the memory planner (models/memory_plan.h): its training-step plan against the
// measured peak of live tensor bytes of real SAPT steps on small random T5 and LLaMA models (within 10%,
// with and without recomputation), its weight counts against the published parameter counts of the
// paper's four backbones, the largest-batch search, and ./train --plan-memory with its warning.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "bench/models_random.h"
#include "engine/fileio.h"
#include "models/memory_plan.h"
#include "sapt/sapt.h"
#include "sapt/trainer.h"
#include "reliability_util.h"
#include "test_sapt_util.h"

namespace {

const double kGiB = 1024.0 * 1024.0 * 1024.0;

// A LLaMA of the given widths with random weights (test_sapt_util.h's tiny_llama, sized up).
Model random_llama(const LlamaConfig& c, Rng& rng) {
    WeightLoad load;
    load.where = "random llama";
    auto put = [&](const std::string& name, std::vector<int64_t> shape, float offset) {
        Tensor t = random_tensor(shape, rng, 0.1f);
        for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] += offset;
        load.remaining[name] = t;
    };
    const int64_t C = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
    const int64_t kv = (int64_t)c.num_key_value_heads * c.head_dim();
    put("model.embed_tokens.weight", {V, C}, 0.0f);
    put("lm_head.weight", {V, C}, 0.0f);
    put("model.norm.weight", {C}, 1.0f);
    for (int i = 0; i < c.num_hidden_layers; i++) {
        const std::string p = "model.layers." + std::to_string(i);
        put(p + ".input_layernorm.weight", {C}, 1.0f);
        put(p + ".post_attention_layernorm.weight", {C}, 1.0f);
        put(p + ".self_attn.q_proj.weight", {C, C}, 0.0f);
        put(p + ".self_attn.k_proj.weight", {kv, C}, 0.0f);
        put(p + ".self_attn.v_proj.weight", {kv, C}, 0.0f);
        put(p + ".self_attn.o_proj.weight", {C, C}, 0.0f);
        put(p + ".mlp.gate_proj.weight", {F, C}, 0.0f);
        put(p + ".mlp.up_proj.weight", {F, C}, 0.0f);
        put(p + ".mlp.down_proj.weight", {C, F}, 0.0f);
    }
    Model model;
    model.kind = ModelKind::Llama;
    model.llama = llama_from_weights(c, load, nullptr);
    return model;
}

struct Measured {
    double after_forward = 0;  // live bytes above the start once the loss exists
    double peak = 0;           // most live bytes above the start during forward and backward
};

// One SAPT training step (selection, loss, backward) as train_task runs it, measured with the tensor
// byte counter. A first step allocates the trainable tensors' gradients, which the plan counts as
// resident, so the measured step is the second.
Measured measure_sapt_step(Model& model, SaptState& state, const Batch& batch, bool recompute) {
    model.recompute_layers = recompute;
    const PetHook hook = sapt_hook(state);
    Measured m;
    for (int step = 0; step < 2; step++) {
        rng_seed(global_rng(), 7);
        const size_t before = tensor_bytes_live(Device::CPU);
        tensor_bytes_reset_peak(Device::CPU);
        {
            sapt_begin_batch(state, model, batch.selection_ids, batch.selection_mask, true);
            Tensor loss = model_loss(model, &hook, batch, true);
            m.after_forward = (double)(tensor_bytes_live(Device::CPU) - before);
            backward(loss);
        }
        state.batch_weights = Tensor{};  // what the step armed goes, as the next batch would replace it
        m.peak = (double)(tensor_bytes_peak(Device::CPU) - before);
    }
    return m;
}

Batch random_batch(int64_t B, int64_t S, int64_t T_labels, int64_t T_input, int vocab, Rng& rng) {
    std::vector<int32_t> ids, labels, selection;
    for (int64_t i = 0; i < B * T_input; i++) ids.push_back(2 + (int32_t)rng_below(rng, (uint32_t)vocab - 2));
    for (int64_t i = 0; i < B * T_labels; i++) labels.push_back(2 + (int32_t)rng_below(rng, (uint32_t)vocab - 2));
    for (int64_t i = 0; i < B * S; i++) selection.push_back(2 + (int32_t)rng_below(rng, (uint32_t)vocab - 2));
    Batch batch;
    batch.input_ids = tensor_from_i32({B, T_input}, ids);
    batch.labels = tensor_from_i32({B, T_labels}, labels);
    batch.selection_ids = tensor_from_i32({B, S}, selection);
    return batch;
}

void check_within(double planned, double measured, const std::string& what) {
    const double error = std::fabs(planned - measured) / measured;
    INFO(what << ": planned " << planned << " bytes, measured " << measured << " (error " << error * 100 << "%)");
    CHECK(error <= 0.10);
}

std::string t5_json(int d_model, int d_kv, int d_ff, int heads, int layers, const char* ffn, bool tied) {
    return "{\"model_type\": \"t5\", \"d_model\": " + std::to_string(d_model) + ", \"d_kv\": " + std::to_string(d_kv) +
           ", \"d_ff\": " + std::to_string(d_ff) + ", \"num_heads\": " + std::to_string(heads) +
           ", \"num_layers\": " + std::to_string(layers) + ", \"num_decoder_layers\": " + std::to_string(layers) +
           ", \"vocab_size\": 32128, \"feed_forward_proj\": \"" + ffn + "\", \"tie_word_embeddings\": " +
           (tied ? "true" : "false") + ", \"dropout_rate\": 0.1}";
}

std::string llama_json(int hidden, int intermediate, int heads, int layers) {
    return "{\"model_type\": \"llama\", \"hidden_size\": " + std::to_string(hidden) + ", \"intermediate_size\": " +
           std::to_string(intermediate) + ", \"num_attention_heads\": " + std::to_string(heads) +
           ", \"num_key_value_heads\": " + std::to_string(heads) + ", \"num_hidden_layers\": " +
           std::to_string(layers) + ", \"vocab_size\": 32000, \"rms_norm_eps\": 1e-05}";
}

// The public config.json fields of the paper's four backbones.
struct Backbone {
    const char* name;
    std::string json;
    double parameters;  // as published (Hugging Face model cards / num_parameters())
};
std::vector<Backbone> paper_backbones() {
    return {{"T5-large", t5_json(1024, 64, 4096, 16, 24, "relu", true), 737668096.0},
            {"Flan-T5-XL", t5_json(2048, 64, 5120, 32, 24, "gated-gelu", false), 2849757184.0},
            {"LLaMA-2-7B", llama_json(4096, 11008, 32, 32), 6738415616.0},
            {"LLaMA-2-13B", llama_json(5120, 13824, 40, 40), 13015864320.0}};
}

}  // namespace

TEST_CASE("The planned LLaMA SAPT step is the measured peak of live tensor bytes within 10%", "[memory-plan]") {
    Rng rng = rng_make(3);
    LlamaConfig c;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.num_hidden_layers = 3;
    c.vocab_size = 48;
    Model model = random_llama(c, rng);
    MemoryPlanOptions o;
    o.batch_size = 4;
    o.source_length = 40;
    o.target_length = 8;
    o.n_tasks = 3;
    SaptState state = sapt_create(model, SaptOptions{});
    for (int task = 0; task < o.n_tasks; task++) sapt_add_task(state, rng);
    const Batch batch = random_batch(4, 40, 48, 48, c.vocab_size, rng);
    for (bool recompute : {false, true}) {
        o.recompute_layers = recompute;
        const StepPlan plan = plan_llama_step(c, o);
        const Measured measured = measure_sapt_step(model, state, batch, recompute);
        const std::string what = recompute ? "LLaMA, --recompute layer" : "LLaMA, --recompute none";
        check_within(plan.held_after_forward, measured.after_forward, what + ", held after forward");
        check_within(plan.peak, measured.peak, what + ", step peak");
        WARN(what << ": planned peak " << plan.peak << " B, measured " << measured.peak << " B; held after forward "
                  << plan.held_after_forward << " / " << measured.after_forward);
    }
}

TEST_CASE("The planned T5 SAPT step (dropout on) is the measured peak of live tensor bytes within 10%",
          "[memory-plan]") {
    Rng rng = rng_make(4);
    T5Config c = bench_t5_config(64, 2, 4, 16, 128, 48);
    c.dropout_rate = 0.1f;
    Model model = bench_t5_model(c, 5, "random t5");
    MemoryPlanOptions o;
    o.batch_size = 4;
    o.source_length = 48;
    o.target_length = 12;
    o.n_tasks = 3;
    SaptState state = sapt_create(model, SaptOptions{});
    for (int task = 0; task < o.n_tasks; task++) sapt_add_task(state, rng);
    Batch batch = random_batch(4, 48, 12, 48, c.vocab_size, rng);
    batch.selection_ids = batch.input_ids;
    for (bool recompute : {false, true}) {
        o.recompute_layers = recompute;
        const StepPlan plan = plan_t5_step(c, o);
        const Measured measured = measure_sapt_step(model, state, batch, recompute);
        const std::string what = recompute ? "T5, --recompute layer" : "T5, --recompute none";
        check_within(plan.held_after_forward, measured.after_forward, what + ", held after forward");
        check_within(plan.peak, measured.peak, what + ", step peak");
        WARN(what << ": planned peak " << plan.peak << " B, measured " << measured.peak << " B; held after forward "
                  << plan.held_after_forward << " / " << measured.after_forward);
    }
}

TEST_CASE("The plan's frozen weights are the published parameter counts of the paper's backbones",
          "[memory-plan]") {
    for (const Backbone& b : paper_backbones()) {
        MemoryPlanOptions o;
        const MemoryPlan f32 = plan_memory(b.json, b.name, o);
        o.frozen_bf16 = true;
        const MemoryPlan bf16 = plan_memory(b.json, b.name, o);
        INFO(b.name);
        // f32: 4 bytes a parameter. bf16: 2 bytes for matrices, the few gains stay f32.
        CHECK(f32.resident.at(0).bytes == 4.0 * b.parameters);
        CHECK(bf16.resident.at(0).bytes > 2.0 * b.parameters);
        CHECK(bf16.resident.at(0).bytes < 2.0 * b.parameters * 1.001);
    }
}

TEST_CASE("Recomputation lowers the planned peak, the largest batch is the last that fits, and a run that "
          "does not fit names the flag", "[memory-plan]") {
    const double device = 80.0 * kGiB;
    for (const Backbone& b : paper_backbones()) {
        MemoryPlanOptions o;
        o.frozen_bf16 = true;
        const MemoryPlan plan = plan_memory(b.json, b.name, o);
        INFO(b.name);
        CHECK(plan.step_recomputed.peak < plan.step.peak);
        CHECK(plan.step_recomputed.held_after_forward < plan.step.held_after_forward / 3);
        for (bool recompute : {false, true}) {
            o.recompute_layers = recompute;
            const int largest = largest_fitting_batch(b.json, b.name, o, device);
            MemoryPlanOptions at = o;
            if (largest > 0) {
                at.batch_size = largest;
                CHECK(plan_memory(b.json, b.name, at).peak(recompute) <= device);
            }
            at.batch_size = largest + 1;
            CHECK(plan_memory(b.json, b.name, at).peak(recompute) > device);
        }
    }
    // LLaMA-2-13B at the paper's batch 8 x (512 + 50) with f32 weights does not fit even with
    // recomputation; with bf16 weights and recomputation it does. The report names the flags.
    const Backbone big = paper_backbones()[3];
    MemoryPlanOptions o;
    const std::string report = format_memory_plan(big.json, big.name, o, device);
    CHECK(report.find("WARNING: this run will not fit") != std::string::npos);
    CHECK(report.find("add --precision bf16 --recompute layer") != std::string::npos);
    o.frozen_bf16 = true;
    CHECK(plan_memory(big.json, big.name, o).peak(true) <= device);
    const std::string bf16_report = format_memory_plan(big.json, big.name, o, device);
    CHECK(bf16_report.find("add --recompute layer") != std::string::npos);
    o.recompute_layers = true;
    CHECK(format_memory_plan(big.json, big.name, o, device).find("WARNING") == std::string::npos);
    o = MemoryPlanOptions{};
    // T5-large fits easily: no warning.
    const std::string small = format_memory_plan(paper_backbones()[0].json, "T5-large", o, device);
    CHECK(small.find("WARNING") == std::string::npos);
}

TEST_CASE("The plan of the paper's backbones at batch 8 x (512 + 50) on 80 GiB (printed)", "[memory-plan]") {
    MemoryPlanOptions o;
    o.frozen_bf16 = true;
    for (const Backbone& b : paper_backbones()) {
        const MemoryPlan plan = plan_memory(b.json, b.name, o);
        o.recompute_layers = false;
        const int batch_none = largest_fitting_batch(b.json, b.name, o, 80.0 * kGiB);
        o.recompute_layers = true;
        const int batch_layer = largest_fitting_batch(b.json, b.name, o, 80.0 * kGiB);
        o.recompute_layers = false;
        CHECK(plan.peak(false) > plan.peak(true));
        WARN(b.name << " bf16: resident " << plan.resident_total() / kGiB << " GiB, step peak " << plan.step.peak / kGiB
                    << " / " << plan.step_recomputed.peak / kGiB << " GiB (none / layer), total "
                    << plan.peak(false) / kGiB << " / " << plan.peak(true) / kGiB << " GiB, largest batch "
                    << batch_none << " / " << batch_layer);
    }
}

TEST_CASE("A memory plan with a zero batch or no tasks is refused with the config named", "[memory-plan]") {
    MemoryPlanOptions o;
    o.batch_size = 0;
    CHECK_THROWS_WITH(plan_memory(paper_backbones()[0].json, "cfg/config.json", o),
                      Catch::Contains("cfg/config.json") && Catch::Contains("batch 0"));
    o.batch_size = 8;
    o.n_tasks = 0;
    CHECK_THROWS_WITH(plan_memory(paper_backbones()[0].json, "cfg/config.json", o), Catch::Contains("tasks 0"));
}

TEST_CASE("./train --plan-memory prints the plan from config.json alone, writes nothing, and warns with the flag",
          "[memory-plan]") {
    const std::string dir = reliability_dir("plan_memory");
    std::filesystem::create_directories(dir + "/llama-2-13b");
    atomic_write_file(dir + "/llama-2-13b/config.json", paper_backbones()[3].json);  // no weights at all
    const std::vector<std::string> base = {"--plan-memory", "--model", "llama-2-13b", "--precision", "bf16",
                                           "--data", "no_such_folder_is_read", "--tasks", "a,b,c"};
    std::string output;
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--recompute", "layer", "--device-memory", "80"});
    REQUIRE(run_program("train", args, dir, &output) == 0);
    CHECK(output.find("3 tasks") != std::string::npos);  // K from --tasks
    CHECK(output.find("peak with --recompute layer") != std::string::npos);
    CHECK(output.find("WARNING") == std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir + "/runs/no_such_folder_is_read"));

    args = base;  // --recompute none (the default) does not fit: the warning names the flag
    REQUIRE(run_program("train", args, dir, &output) == 0);
    CHECK(output.find("WARNING: this run will not fit in 80.0 GiB") != std::string::npos);
    CHECK(output.find("add --recompute layer") != std::string::npos);

    args = base;
    args.insert(args.end(), {"--recompute", "sometimes"});
    CHECK(run_program("train", args, dir, &output) != 0);
    CHECK(output.find("--recompute: expected none or layer, got 'sometimes'") != std::string::npos);
    CHECK(run_program("train", {"--plan-memory", "--model", "missing_model"}, dir, &output) != 0);
    CHECK(output.find("missing_model/config.json") != std::string::npos);
}
