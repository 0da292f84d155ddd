// cuda_real_step.cpp — the training step ./train runs, timed on the device: models/ + engine + autograd,
// SAPT-LoRA with K tasks' adapters (selection weights, forward, cross-entropy, backward, the one-reduction
// non-finite check and clipping, AdamW), random weights, bf16 frozen weights and products. This is where
// the README's GPU figures come from; bench/cuda_train_step.cpp is a separate kernel lab (a hand-written
// step) and no README figure comes from it. The peer is bench/cuda_hf_peft.py at the same shapes.
//   build-cuda/bench/cuda_real_step t5large | llama7b [--layers N] [--batch B] [--tasks K] [--steps N]
//   ... tiny-t5 | tiny-llama   (small shapes: a smoke test under the CPU emulation, build-emu)
// Prints one JSON line {"name", "tokens_per_s", "mfu", "step_ms", "device"}; useful FLOPs as in
// cuda_hf_peft.py (frozen matrices 4 x params x rows, LoRA 6 x params x rows, attention left out).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/optim.h"
#include "engine/rng.h"
#include "kernels/cuda/cuda_backend.h"
#include "models/model_device.h"
#include "sapt/batching.h"
#include "sapt/sapt.h"
#include "sapt/sapt_device.h"
#include "sapt/trainer.h"

namespace {

const double kPeakBf16Flops = 989e12;  // H100 / H200 SXM dense bf16

struct Shape {
    std::string name;
    bool llama = false;
    int d_model = 0, heads = 0, d_ff = 0, layers = 0, vocab = 0;
    int batch = 0, source = 0, target = 0;
};

Shape shape_named(const std::string& name) {
    if (name == "t5large") return {name, false, 1024, 16, 2816, 24, 32128, 16, 512, 50};
    if (name == "llama7b") return {name, true, 4096, 32, 11008, 32, 32000, 8, 512, 50};
    if (name == "tiny-t5") return {name, false, 64, 4, 128, 2, 300, 2, 24, 6};
    if (name == "tiny-llama") return {name, true, 64, 4, 128, 2, 300, 2, 24, 6};
    std::fprintf(stderr, "unknown shape '%s' (expected t5large, llama7b, tiny-t5 or tiny-llama)\n", name.c_str());
    std::exit(2);
}

// Random HF-named weights (uniform +-0.02, gains 1), built on the host one tensor at a time.
WeightMap random_weights(const Shape& s, Rng& rng) {
    WeightMap w;
    auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
        Tensor t = tensor_empty({rows, cols});
        init_uniform(t, -0.02f, 0.02f, rng);
        w[name] = t;
    };
    auto gain = [&](const std::string& name) { w[name] = tensor_full({s.d_model}, 1.0f); };
    const int64_t C = s.d_model;
    if (s.llama) {
        matrix("model.embed_tokens.weight", s.vocab, C);
        matrix("lm_head.weight", s.vocab, C);
        for (int i = 0; i < s.layers; i++) {
            const std::string p = "model.layers." + std::to_string(i);
            gain(p + ".input_layernorm.weight");
            gain(p + ".post_attention_layernorm.weight");
            for (const char* m : {".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj", ".self_attn.o_proj"})
                matrix(p + m + ".weight", C, C);
            matrix(p + ".mlp.gate_proj.weight", s.d_ff, C);
            matrix(p + ".mlp.up_proj.weight", s.d_ff, C);
            matrix(p + ".mlp.down_proj.weight", C, s.d_ff);
        }
        gain("model.norm.weight");
        return w;
    }
    matrix("shared.weight", s.vocab, C);
    matrix("lm_head.weight", s.vocab, C);
    for (const std::string stack : {"encoder", "decoder"}) {
        const bool decoder = stack == "decoder";
        matrix(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight", 32, s.heads);
        for (int i = 0; i < s.layers; i++) {
            const std::string p = stack + ".block." + std::to_string(i);
            auto attention = [&](const std::string& module) {
                for (const char* m : {".q.weight", ".k.weight", ".v.weight", ".o.weight"}) matrix(module + m, C, C);
            };
            attention(p + ".layer.0.SelfAttention");
            gain(p + ".layer.0.layer_norm.weight");
            if (decoder) {
                attention(p + ".layer.1.EncDecAttention");
                gain(p + ".layer.1.layer_norm.weight");
            }
            const std::string ffn = p + (decoder ? ".layer.2" : ".layer.1");
            matrix(ffn + ".DenseReluDense.wi_0.weight", s.d_ff, C);
            matrix(ffn + ".DenseReluDense.wi_1.weight", s.d_ff, C);
            matrix(ffn + ".DenseReluDense.wo.weight", C, s.d_ff);
            gain(ffn + ".layer_norm.weight");
        }
        gain(stack + ".final_layer_norm.weight");
    }
    return w;
}

Model random_model(const Shape& s, uint64_t seed) {
    Rng rng = rng_make(seed);
    WeightLoad load;
    load.where = "random " + s.name;
    load.remaining = random_weights(s, rng);
    Model model;
    if (s.llama) {
        LlamaConfig c;
        c.hidden_size = s.d_model;
        c.intermediate_size = s.d_ff;
        c.num_attention_heads = c.num_key_value_heads = s.heads;
        c.num_hidden_layers = s.layers;
        c.vocab_size = s.vocab;
        model.kind = ModelKind::Llama;
        model.llama = llama_from_weights(c, load, nullptr);
    } else {
        T5Config c;
        c.d_model = s.d_model;
        c.d_kv = s.d_model / s.heads;
        c.num_heads = s.heads;
        c.d_ff = s.d_ff;
        c.num_layers = c.num_decoder_layers = s.layers;
        c.vocab_size = s.vocab;
        c.is_gated_act = true;
        c.dense_act_fn = "gelu_new";
        c.tie_word_embeddings = false;
        c.dropout_rate = 0.0f;
        model.kind = ModelKind::T5;
        model.t5 = t5_from_weights(c, load, nullptr);
    }
    return model;
}

// The useful FLOPs of one step (cuda_hf_peft.py's formula): frozen matrices x rows they meet, LoRA on q, v.
double step_flops(const Shape& s, int rank) {
    const double d = s.d_model, F = s.d_ff, V = s.vocab;
    const double lora_per_row = 2.0 * rank * d;
    if (s.llama) {
        const double N = double(s.batch) * (s.source + s.target);
        const double frozen = s.layers * N * (4 * d * d + 3 * d * F) + N * V * d;
        return 4.0 * frozen + 6.0 * s.layers * N * 2 * lora_per_row;
    }
    const double N_src = double(s.batch) * s.source, N_tgt = double(s.batch) * s.target;
    const double ffn = 3.0 * d * F;
    const double frozen = s.layers * (N_src * (4 * d * d + ffn) + N_tgt * (6 * d * d + ffn) + N_src * 2 * d * d) +
                          N_tgt * V * d;
    const double lora = s.layers * lora_per_row * (2 * N_src + 2 * N_tgt + N_tgt + N_src);
    return 4.0 * frozen + 6.0 * lora;
}

int flag_value(int argc, char** argv, const char* flag, int fallback) {
    for (int i = 2; i + 1 < argc; i++)
        if (!std::strcmp(argv[i], flag)) return std::atoi(argv[i + 1]);
    return fallback;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: cuda_real_step t5large|llama7b|tiny-t5|tiny-llama [--layers N] [--batch B] "
                             "[--tasks K] [--steps N]\n");
        return 2;
    }
    Shape s = shape_named(argv[1]);
    s.layers = flag_value(argc, argv, "--layers", s.layers);
    s.batch = flag_value(argc, argv, "--batch", s.batch);
    const int tasks = flag_value(argc, argv, "--tasks", 15), steps = flag_value(argc, argv, "--steps", 10);
    const int rank = 8;
    try {
        std::string why;
        if (!cuda_device_available(&why)) {
            std::fprintf(stderr, "SKIPPED: no usable GPU (%s)\n", why.c_str());
            return 0;
        }
        Model model = random_model(s, 1);
        model_frozen_weights_to_bf16(model);
        model_place(model, Device::CUDA, "bf16");

        SaptOptions options;
        options.lora_rank = rank;
        options.lora_alpha = 32.0f;
        SaptState state = sapt_create(model, options);
        sapt_to_device(state, model, Device::CUDA);
        Rng rng = rng_make(2);
        for (int k = 0; k < tasks; k++) sapt_add_task_on_device(state, rng);
        const std::vector<Tensor> params = sapt_trainable_parameters(state);
        AdamW optimizer = adamw_create(params, 3e-4, 0.0);

        // One batch of random ids, built on the host and uploaded as ./train does every step.
        std::vector<EncodedExample> examples((size_t)s.batch);
        std::vector<int> rows;
        for (int b = 0; b < s.batch; b++) {
            if (s.llama) examples[(size_t)b].prompt.push_back(1);
            for (int t = (int)examples[(size_t)b].prompt.size(); t < s.source - 1; t++)
                examples[(size_t)b].prompt.push_back(3 + (int)rng_below(rng, (uint32_t)s.vocab - 3));
            if (!s.llama) examples[(size_t)b].prompt.push_back(1);
            for (int t = 0; t < s.target - 1; t++) examples[(size_t)b].label.push_back(3 + (int)rng_below(rng, (uint32_t)s.vocab - 3));
            examples[(size_t)b].label.push_back(s.llama ? 2 : 1);
            rows.push_back(b);
        }
        BatchingOptions batching;
        batching.model_kind = s.llama ? ModelKind::Llama : ModelKind::T5;
        batching.max_source_length = s.source;
        batching.max_target_length = s.target;
        batching.eos_id = s.llama ? 2 : 1;
        batching.device = Device::CUDA;

        auto step = [&]() {
            const Batch batch = make_batch(examples, rows, batching, true);
            sapt_begin_batch(state, model, batch.selection_ids, batch.selection_mask, true);
            const PetHook hook = sapt_hook(state);
            const Tensor loss = model_loss(model, &hook, batch, true);
            backward(loss);
            const GradientSquares squares = gradient_squares(params);
            if (squares.first_non_finite >= 0) {
                std::fprintf(stderr, "non-finite gradient\n");
                std::exit(1);
            }
            clip_grad_norm_given(params, 1.0f, squares.total);
            adamw_step(optimizer);
            adamw_zero_grad(optimizer);
        };
        for (int i = 0; i < 2; i++) step();  // warm-up: the allocator's cache, cuBLAS handles
        cuda_synchronize();
        std::vector<double> times;
        for (int i = 0; i < steps; i++) {
            const auto start = std::chrono::steady_clock::now();
            step();
            cuda_synchronize();
            times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        }
        std::sort(times.begin(), times.end());
        const double median = times[times.size() / 2];
        const double tokens = double(s.batch) * (s.source + s.target);
        std::printf("{\"name\": \"%s\", \"layers\": %d, \"batch\": %d, \"tasks\": %d, \"tokens_per_s\": %.1f, "
                    "\"mfu\": %.4f, \"step_ms\": %.2f, \"device\": \"%s\"}\n",
                    s.name.c_str(), s.layers, s.batch, tasks, tokens / median, step_flops(s, rank) / median / kPeakBf16Flops,
                    median * 1e3, cuda_device_name().c_str());
        std::fprintf(stderr, "%s\n", device_memory_summary().c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cuda_real_step: %s\n", e.what());
        return 1;
    }
    return 0;
}
