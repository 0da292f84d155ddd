// builtin.cpp — the built-in suite, tokenizer and tiny pretrained T5. See builtin.h.
#include "sapt/builtin.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/synthetic_suite.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/interrupt.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/safetensors.h"
#include "sapt/batching.h"
#include "sapt/trainer.h"
#include "tokenizer/trainer.h"

// Our BPE trainer numbers <unk>=0, <s>=1, </s>=2 and has no pad: the tiny T5 pads with 0 (never a real
// token, byte fallback leaves no <unk>), ends with </s> = 2 and starts decoding from 0, as T5 starts from pad.
static const int kPadId = 0, kEosId = 2;

std::string builtin_cache_key(const BuiltinOptions& o) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "t5_s%llu_n%d_v%d_d%d_l%d_h%d_k%d_f%d_p%d_b%d_lr%g", (unsigned long long)o.seed,
                  o.train_per_task, o.vocab_size, o.d_model, o.layers, o.heads, o.d_kv, o.d_ff, o.pretrain_steps,
                  o.pretrain_batch, o.pretrain_lr);
    return buf;
}

static SyntheticSuite builtin_suite(const BuiltinOptions& o) {
    return make_synthetic_suite(o.seed, o.train_per_task, o.test_per_task);
}

std::string builtin_suite_key(const BuiltinOptions& o) {
    return "s" + std::to_string(o.seed) + "_n" + std::to_string(o.train_per_task) + "_t" + std::to_string(o.test_per_task);
}

std::string write_builtin_suite(const BuiltinOptions& options, const std::string& data_root) {
    return write_synthetic_suite(builtin_suite(options), data_root);
}

std::string t5_config_json(const T5Config& c) {
    nlohmann::json j = {{"architectures", {"T5ForConditionalGeneration"}}, {"model_type", "t5"},
                        {"d_model", c.d_model}, {"d_kv", c.d_kv}, {"d_ff", c.d_ff}, {"num_heads", c.num_heads},
                        {"num_layers", c.num_layers}, {"num_decoder_layers", c.num_decoder_layers},
                        {"vocab_size", c.vocab_size},
                        {"relative_attention_num_buckets", c.relative_attention_num_buckets},
                        {"relative_attention_max_distance", c.relative_attention_max_distance},
                        {"feed_forward_proj", c.is_gated_act ? "gated-" + c.dense_act_fn : c.dense_act_fn},
                        {"tie_word_embeddings", c.tie_word_embeddings}, {"layer_norm_epsilon", c.layer_norm_epsilon},
                        {"dropout_rate", c.dropout_rate}, {"pad_token_id", c.pad_token_id},
                        {"eos_token_id", c.eos_token_id}, {"decoder_start_token_id", c.decoder_start_token_id}};
    return j.dump(2);
}

WeightMap random_t5_weights(const T5Config& c, Rng& rng) {
    WeightMap w;
    auto normal = [&](const std::string& name, int64_t rows, int64_t cols, double std) {
        Tensor t = tensor_empty({rows, cols});
        init_normal(t, 0.0f, (float)std, rng);
        w[name] = t;
    };
    auto gain = [&](const std::string& name) { w[name] = tensor_full({c.d_model}, 1.0f); };
    const int64_t C = c.d_model, inner = (int64_t)c.num_heads * c.d_kv;
    auto attention = [&](const std::string& m) {
        normal(m + ".q.weight", inner, C, 1.0 / std::sqrt((double)C * c.d_kv));
        normal(m + ".k.weight", inner, C, 1.0 / std::sqrt((double)C));
        normal(m + ".v.weight", inner, C, 1.0 / std::sqrt((double)C));
        normal(m + ".o.weight", C, inner, 1.0 / std::sqrt((double)inner));
    };
    normal("shared.weight", c.vocab_size, C, 1.0);
    for (const std::string stack : {"encoder", "decoder"}) {
        const bool decoder = stack == "decoder";
        normal(stack + ".block.0.layer.0.SelfAttention.relative_attention_bias.weight",
               c.relative_attention_num_buckets, c.num_heads, 1.0 / std::sqrt((double)C));
        const int layers = decoder ? c.num_decoder_layers : c.num_layers;
        for (int i = 0; i < layers; i++) {
            const std::string p = stack + ".block." + std::to_string(i);
            attention(p + ".layer.0.SelfAttention");
            gain(p + ".layer.0.layer_norm.weight");
            if (decoder) {
                attention(p + ".layer.1.EncDecAttention");
                gain(p + ".layer.1.layer_norm.weight");
            }
            const std::string ffn = p + (decoder ? ".layer.2" : ".layer.1");
            normal(ffn + ".DenseReluDense.wi.weight", c.d_ff, C, 1.0 / std::sqrt((double)C));
            normal(ffn + ".DenseReluDense.wo.weight", C, c.d_ff, 1.0 / std::sqrt((double)c.d_ff));
            gain(ffn + ".layer_norm.weight");
        }
        gain(stack + ".final_layer_norm.weight");
    }
    return w;
}

// The denoising pair of one line: some words dropped and two neighbours swapped -> the line itself, so
// the backbone learns to read words and to write them back (what copy and label tasks build on).
static EncodedExample denoising_example(const Tokenizer& tokenizer, const std::string& line, Rng& rng) {
    std::vector<std::string> words;
    size_t start = 0;
    while (start < line.size()) {
        size_t end = line.find(' ', start);
        if (end == std::string::npos) end = line.size();
        if (end > start) words.push_back(line.substr(start, end - start));
        start = end + 1;
    }
    std::vector<std::string> noisy;
    for (const std::string& w : words) {
        if (words.size() > 1 && rng_uniform(rng) < 0.15f) continue;
        noisy.push_back(w);
    }
    if (noisy.size() > 2 && rng_uniform(rng) < 0.3f) {
        const size_t i = rng_below(rng, (uint32_t)noisy.size() - 1);
        std::swap(noisy[i], noisy[i + 1]);
    }
    std::string source;
    for (const std::string& w : noisy) source += (source.empty() ? "" : " ") + w;
    EncodedExample ex;
    ex.prompt = encode(tokenizer, source);
    ex.prompt.push_back(kEosId);
    ex.label = encode(tokenizer, line);
    ex.label.push_back(kEosId);
    return ex;
}

static void pretrain(Model& model, const Tokenizer& tokenizer, const std::vector<std::string>& corpus,
                     const BuiltinOptions& o, bool verbose) {
    set_backbone_trainable(model, true);
    std::vector<Tensor> params;
    for (const NamedWeight& w : model_weights(model)) params.push_back(*w.tensor);
    AdamW optimizer = adamw_create(params, o.pretrain_lr, 0.0f);
    LrSchedule schedule{LrScheduleKind::LinearWithWarmup, o.pretrain_lr, o.pretrain_steps / 20, o.pretrain_steps};
    Rng rng = rng_make(o.seed, 77);
    BatchingOptions batching;
    batching.pad_id = kPadId;
    batching.eos_id = kEosId;
    const auto start = std::chrono::steady_clock::now();
    for (int step = 0; step < o.pretrain_steps; step++) {
        if (interrupt_requested()) {  // Ctrl-C / SIGTERM: nothing to checkpoint yet, and no half-trained cache
            fail("pretraining", std::string("interrupted by ") + interrupt_signal_name() + " at step " +
                                    std::to_string(step) + " of " + std::to_string(o.pretrain_steps) +
                                    "; nothing was cached (the next run pretrains again)");
        }
        std::vector<EncodedExample> examples;
        for (int b = 0; b < o.pretrain_batch; b++) {
            examples.push_back(denoising_example(tokenizer, corpus[rng_below(rng, (uint32_t)corpus.size())], rng));
        }
        std::vector<int> rows(examples.size());
        for (size_t i = 0; i < rows.size(); i++) rows[i] = (int)i;
        const Batch batch = make_batch(examples, rows, batching, true);
        Tensor loss = model_loss(model, nullptr, batch, true);
        const float value = tensor_values(loss)[0];
        if (!std::isfinite(value)) fail("pretraining", "the loss is not finite at step " + std::to_string(step));
        backward(loss);
        clip_grad_norm(params, 1.0f);
        optimizer.lr = lr_at(schedule, optimizer.step);
        adamw_step(optimizer);
        adamw_zero_grad(optimizer);
        if (verbose && (step % 100 == 0 || step + 1 == o.pretrain_steps)) {
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::printf("  pretraining step %d/%d loss %.4f (%.1fs)\n", step + 1, o.pretrain_steps, value, s);
            std::fflush(stdout);
        }
    }
}

BuiltinBackbone prepare_builtin_backbone(const BuiltinOptions& o, const std::string& cache_dir, bool verbose) {
    return prepare_corpus_backbone(o, synthetic_suite_corpus(builtin_suite(o)), cache_dir, verbose);
}

std::string corpus_cache_key(const BuiltinOptions& o, const std::vector<std::string>& corpus) {
    uint64_t hash = 1469598103934665603ull;  // FNV-1a over the lines and their ends
    for (const std::string& line : corpus) {
        for (char c : line + "\n") hash = (hash ^ (unsigned char)c) * 1099511628211ull;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "_c%016llx", (unsigned long long)hash);
    return builtin_cache_key(o) + buf;
}

BuiltinBackbone prepare_corpus_backbone(const BuiltinOptions& o, const std::vector<std::string>& corpus,
                                        const std::string& cache_dir, bool verbose) {
    if (corpus.empty()) fail(cache_dir, "no text to pretrain the backbone on (expected a non-empty corpus)");
    BuiltinBackbone out;
    out.tokenizer_path = cache_dir + "/tokenizer.model";
    out.model_dir = cache_dir;
    const std::string weights_path = cache_dir + "/model.safetensors";
    auto complete = [&] {  // config.json is written last
        return std::filesystem::exists(out.tokenizer_path) && std::filesystem::exists(weights_path) &&
               std::filesystem::exists(cache_dir + "/config.json");
    };
    if (complete()) return out;
    const auto start = std::chrono::steady_clock::now();
    std::filesystem::create_directories(cache_dir);
    // Two ./train (different --out) starting at once on a cold cache: the second waits for the first's backbone
    // instead of training its own (which, with another thread count, need not be bit-identical) over it.
    FileLock building(cache_dir + "/.lock", "waiting for another ./train that is building the backbone in " + cache_dir);
    if (complete()) return out;
    // The generator's markers and the template's closing words belong to the vocabulary too.
    std::vector<std::string> tokenizer_corpus = corpus;
    for (int i = 0; i < 20; i++) tokenizer_corpus.push_back("__gen__ __inp__ __ans__ Output:");
    if (verbose) std::printf("building a tiny backbone in %s\n  training a BPE tokenizer (%d pieces)\n",
                             cache_dir.c_str(), o.vocab_size);
    save_model(train_bpe(tokenizer_corpus, o.vocab_size), out.tokenizer_path);
    const Tokenizer tokenizer = load_tokenizer(out.tokenizer_path);

    T5Config c;
    c.d_model = o.d_model;
    c.d_kv = o.d_kv;
    c.d_ff = o.d_ff;
    c.num_heads = o.heads;
    c.num_layers = c.num_decoder_layers = o.layers;
    c.vocab_size = vocab_size(tokenizer);
    c.dropout_rate = 0.0f;
    c.pad_token_id = kPadId;
    c.eos_token_id = kEosId;
    c.decoder_start_token_id = kPadId;
    Rng rng = rng_make(o.seed, 55);
    WeightLoad load;
    load.where = "built-in T5";
    load.remaining = random_t5_weights(c, rng);
    Model model;
    model.kind = ModelKind::T5;
    model.t5 = t5_from_weights(c, load, nullptr);
    if (verbose) std::printf("  pretraining a tiny T5 (d_model %d, %d+%d layers) by denoising, %d steps\n", c.d_model,
                             c.num_layers, c.num_decoder_layers, o.pretrain_steps);
    pretrain(model, tokenizer, corpus, o, verbose);

    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const NamedWeight& w : model_weights(model)) tensors.push_back({w.name, *w.tensor});
    safetensors_save(weights_path, tensors);
    atomic_write_file(cache_dir + "/config.json", t5_config_json(c));  // last: its presence marks a complete cache
    out.built_now = true;
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}
