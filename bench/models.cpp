// models.cpp (benchmark) — tokens/s of a T5-small-shaped model (random weights: d_model 512, 6+6 layers,
// 8 heads, d_kv 64, d_ff 2048, vocab 32128) on (1) a training step: forward + backward of the
// cross-entropy with LoRA rank 8 on q and v of every attention through the PetHook, base frozen; and
// (2) greedy generation with the KV cache. Batch 8, source 128, target 32, 32 new tokens. Next to
// the same model in plain PyTorch (bench/torch_t5.py, same threads). Appends two records.
// Usage: build/bench/models   (threads = OMP_NUM_THREADS, else every core; run from the repo root)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>

#include "bench/models_random.h"
#include "bench/record.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "models/generate.h"

namespace {

const int kBatch = 8, kSource = 128, kTarget = 32, kNewTokens = 32, kRank = 8;

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One warm-up, then the best of 3 (the machine is shared; the best run is the least disturbed).
template <typename Fn>
double best_seconds(Fn fn) {
    fn();
    double best = 1e30;
    for (int trial = 0; trial < 3; trial++) {
        double start = seconds_now();
        fn();
        best = std::min(best, seconds_now() - start);
    }
    return best;
}

struct BenchLora {
    std::vector<Tensor> a, b;  // per site: (R, C_in), (C_out, R), trainable
    PetHook hook;
};

void setup_lora(BenchLora& lora, const std::vector<AdaptedSite>& sites, Rng& rng) {
    for (const AdaptedSite& site : sites) {
        Tensor a = tensor_empty({kRank, site.in_features}), b = tensor_empty({site.out_features, kRank});
        init_uniform(a, -0.05f, 0.05f, rng);
        init_uniform(b, -0.05f, 0.05f, rng);
        a.data->requires_grad = b.data->requires_grad = true;
        lora.a.push_back(a);
        lora.b.push_back(b);
    }
    BenchLora* self = &lora;
    lora.hook.projection_delta = [self](int site, const Tensor& x) {
        return scale(linear(linear(x, self->a[site]), self->b[site]), 2.0f);
    };
}

Tensor random_ids(int64_t B, int64_t T, int vocab, Rng& rng) {
    std::vector<int32_t> ids((size_t)(B * T));
    for (int32_t& id : ids) id = 2 + (int32_t)rng_below(rng, (uint32_t)vocab - 2);
    return tensor_from_i32({B, T}, ids);
}

// Runs bench/torch_t5.py; returns {train tokens/s, generate tokens/s} or an empty vector.
std::vector<double> torch_figures(int threads) {
    const char* python_env = std::getenv("SAPT_PYTHON");
    std::string command = "OMP_NUM_THREADS=" + std::to_string(threads) + " " +
                          (python_env && *python_env ? python_env : "/usr/bin/python3") + " bench/torch_t5.py " +
                          std::to_string(threads) + " " + std::to_string(kBatch) + " " + std::to_string(kSource) + " " +
                          std::to_string(kTarget) + " " + std::to_string(kNewTokens);
    std::vector<double> out;
    std::FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return out;
    double value;
    while (std::fscanf(pipe, "%lf", &value) == 1) out.push_back(value);
    pclose(pipe);
    return out;
}

}  // namespace

int main() {
    int threads = omp_get_max_threads();
    T5Config config = bench_t5_config(512, 6, 8, 64, 2048, 32128);
    WeightLoad load;
    load.where = "random T5-small";
    load.remaining = bench_t5_weights(config, 1);
    T5Model model = t5_from_weights(config, load, nullptr);
    Rng rng = rng_make(2);
    BenchLora lora;
    setup_lora(lora, t5_adapted_sites(config), rng);
    Tensor ids = random_ids(kBatch, kSource, config.vocab_size, rng);
    Tensor mask = tensor_empty({kBatch, kSource}, DType::U8);
    for (int64_t i = 0; i < mask.numel(); i++) mask.u8()[i] = 1;
    Tensor labels = random_ids(kBatch, kTarget, config.vocab_size, rng);
    Tensor decoder_ids = t5_shift_right(labels, config);

    double train_seconds = best_seconds([&]() {
        for (size_t s = 0; s < lora.a.size(); s++) lora.a[s].zero_grad(), lora.b[s].zero_grad();
        T5EncoderOutput encoded = t5_encode(model, ids, mask, &lora.hook, T5RunOptions{});
        Tensor loss = t5_loss(t5_decode(model, decoder_ids, encoded, &lora.hook, T5RunOptions{}), labels);
        backward(loss);
    });
    GenerateOptions options;
    options.max_new_tokens = kNewTokens;
    options.stop_at_eos = false;  // random weights: every row decodes all 32 tokens, as on the torch side
    double generate_seconds = best_seconds([&]() { t5_generate(model, ids, mask, &lora.hook, options); });
    double ours_train = kBatch * (kSource + kTarget) / train_seconds;
    double ours_generate = kBatch * kNewTokens / generate_seconds;

    std::printf("ours: training step %.1f tokens/s (%.2f s), greedy generation %.1f tokens/s (%.2f s)\n", ours_train,
                train_seconds, ours_generate, generate_seconds);
    std::fflush(stdout);

    std::vector<double> peer = torch_figures(threads);
    if (peer.size() != 2) {
        std::fprintf(stderr,
                     "bench/models: torch_t5.py gave %zu figures (expected 2); is torch installed for "
                     "/usr/bin/python3 (or $SAPT_PYTHON)?\n",
                     peer.size());
        return 1;
    }
    std::printf("T5-small shape (512, 6+6 layers), batch %d, source %d, target %d, LoRA r%d on q,v; %d threads\n",
                kBatch, kSource, kTarget, kRank, threads);
    std::printf("%-34s %10s %10s %7s\n", "tokens/s", "ours", "torch", "ratio");
    double r1 = append_bench_record("t5_small_lora_train_step", ours_train, peer[0], "PyTorch CPU (bench/torch_t5.py)",
                                    "tokens/s", threads);
    std::printf("%-34s %10.1f %10.1f %7.3f\n", "train step (fwd+bwd, LoRA)", ours_train, peer[0], r1);
    double r2 = append_bench_record("t5_small_greedy_generate_kv_cache", ours_generate, peer[1],
                                    "PyTorch CPU (bench/torch_t5.py)", "tokens/s", threads);
    std::printf("%-34s %10.1f %10.1f %7.3f\n", "greedy generation (KV cache)", ours_generate, peer[1], r2);
    return 0;
}
