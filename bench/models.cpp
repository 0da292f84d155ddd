// models.cpp (benchmark) — tokens/s of a T5-small-shaped model (random weights: d_model 512, 6+6 layers,
// 8 heads, d_kv 64, d_ff 2048, vocab 32128) on (1) a training step: forward + backward of the
// cross-entropy with LoRA rank 8 on q and v of every attention through the PetHook, base frozen; and
// (2) greedy generation with the KV cache. Batch 8, source 128, target 32, 32 new tokens. Next to
// the same model in plain PyTorch (bench/torch_t5.py, same threads). Then both again in bf16: our frozen
// weights stored in bf16 with bf16 GEMM products (cpu_set_gemm_precision), next to torch's CPU autocast to
// bfloat16 (oneDNN), and next to the f32 torch figures. Appends six records. Also prints the step's
// arithmetic (the matrix products both sides must do) against this machine's FMA peak, which bounds what
// any fp32 implementation can reach, and how far the bf16 loss lies from the f32 one.
// Usage: build/bench/models   (threads = OMP_NUM_THREADS, else every core; run from the repo root)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <omp.h>

#include "bench/models_random.h"
#include "bench/record.h"
#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cpu/gemm.h"
#include "models/generate.h"
#include "models/model_device.h"

namespace {

const int kBatch = 8, kSource = 128, kTarget = 32, kNewTokens = 32, kRank = 8;

double seconds_now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One warm-up, then the best of 7 (the machine may be shared, and even a quiet one varies by 10-20% from
// run to run; the best run is the least disturbed). bench/torch_t5.py does the same.
template <typename Fn>
double best_seconds(Fn fn) {
    fn();
    double best = 1e30;
    for (int trial = 0; trial < 7; trial++) {
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

// FLOPs of one training step: every matrix product of the forward, and of the backward the input
// gradients (the base is frozen: no weight gradients) except where the input is the frozen embedding
// (the first block's q, k, v of each stack), the LoRA weight gradients, and attention's backward at twice
// its forward (dQ, dK, dV, dP). Multiply-adds count 2. Norms, softmax and the loss are not counted.
double train_step_flops(const T5Config& c, int batch, int source, int target, int rank) {
    double C = c.d_model, F = c.d_ff, V = c.vocab_size, HD = (double)c.num_heads * c.d_kv;
    double Ne = (double)batch * source, Nd = (double)batch * target;
    double attention_heads = (double)batch * c.num_heads;
    double lora = 2.0 * C * rank;  // x A^T then (.) B^T, per token and adapted projection
    double encoder_layer = Ne * (3 * C * HD + HD * C + 2 * C * F + 2 * lora) + 2 * attention_heads * source * source * c.d_kv;
    double decoder_layer = Nd * (3 * C * HD + HD * C) + Nd * (2 * C * HD) + Ne * (2 * C * HD) + Nd * 2 * C * F +
                           (3 * Nd + Ne) * lora + 2 * attention_heads * target * (target + source) * c.d_kv;
    double head = Nd * C * V;
    double forward = c.num_layers * encoder_layer + c.num_decoder_layers * decoder_layer + head;
    double attention_forward = 2 * attention_heads * c.d_kv *
                               (c.num_layers * (double)source * source + c.num_decoder_layers * (double)target * (target + source));
    double lora_weight_grads = (c.num_layers * 2 * Ne + c.num_decoder_layers * (3 * Nd + Ne)) * lora;
    double backward = forward + attention_forward - 3 * C * HD * (Ne + Nd) + lora_weight_grads;
    return 2.0 * (forward + backward);
}

// This machine's fp32 multiply-add peak on `threads` threads, measured: independent accumulators that
// the compiler keeps in vector registers, one FMA per element per step. GFLOP/s.
double fma_peak_gflops(int threads) {
    constexpr int kLanes = 16 * 12;  // 12 AVX-512 registers (24 AVX2 ones) of accumulators
    const long steps = 20000000;
    double best = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        double start = seconds_now();
        float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            float acc[kLanes];
            for (int j = 0; j < kLanes; j++) acc[j] = 0.001f * j;
            float a = 0.999f, b = 1e-4f;
            for (long step = 0; step < steps / kLanes * 16; step++) {
#pragma omp simd
                for (int j = 0; j < kLanes; j++) acc[j] = std::fma(acc[j], a, b);
            }
            for (int j = 0; j < kLanes; j++) total += acc[j];
        }
        double seconds = seconds_now() - start;
        if (total == 12345.0f) std::printf(" ");  // keeps the loop alive
        best = std::max(best, 2.0 * (double)(steps / kLanes * 16) * kLanes * threads / seconds / 1e9);
    }
    return best;
}

Tensor random_ids(int64_t B, int64_t T, int vocab, Rng& rng) {
    std::vector<int32_t> ids((size_t)(B * T));
    for (int32_t& id : ids) id = 2 + (int32_t)rng_below(rng, (uint32_t)vocab - 2);
    return tensor_from_i32({B, T}, ids);
}

// Runs bench/torch_t5.py at `precision` (f32 or bf16); returns {train tokens/s, generate tokens/s} or an
// empty vector.
std::vector<double> torch_figures(int threads, const char* precision) {
    const char* python_env = std::getenv("SAPT_PYTHON");
    std::string command = "OMP_NUM_THREADS=" + std::to_string(threads) + " " +
                          (python_env && *python_env ? python_env : "/usr/bin/python3") + " bench/torch_t5.py " +
                          std::to_string(threads) + " " + std::to_string(kBatch) + " " + std::to_string(kSource) + " " +
                          std::to_string(kTarget) + " " + std::to_string(kNewTokens) + " " + precision;
    std::vector<double> out;
    std::FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return out;
    double value;
    while (std::fscanf(pipe, "%lf", &value) == 1) out.push_back(value);
    pclose(pipe);
    return out;
}

// The inputs of one benchmark step.
struct StepInputs {
    Tensor ids, mask, labels, decoder_ids;
};

Tensor step_loss(const T5Model& model, BenchLora& lora, const StepInputs& in) {
    T5EncoderOutput encoded = t5_encode(model, in.ids, in.mask, &lora.hook, T5RunOptions{});
    return t5_loss(t5_decode(model, in.decoder_ids, encoded, &lora.hook, T5RunOptions{}), in.labels);
}

// Our tokens/s: {training step, greedy generation}, and the step's loss.
struct OurFigures {
    double train, generate, seconds_per_step, loss;
};

OurFigures measure_ours(const T5Model& model, BenchLora& lora, const StepInputs& in) {
    OurFigures out;
    out.seconds_per_step = best_seconds([&]() {
        for (size_t s = 0; s < lora.a.size(); s++) lora.a[s].zero_grad(), lora.b[s].zero_grad();
        backward(step_loss(model, lora, in));
    });
    GenerateOptions options;
    options.max_new_tokens = kNewTokens;
    options.stop_at_eos = false;  // random weights: every row decodes all 32 tokens, as on the torch side
    double generate_seconds = best_seconds([&]() { t5_generate(model, in.ids, in.mask, &lora.hook, options); });
    out.train = kBatch * (kSource + kTarget) / out.seconds_per_step;
    out.generate = kBatch * kNewTokens / generate_seconds;
    out.loss = step_loss(model, lora, in).f32()[0];
    return out;
}

// The three rows of one precision: {train step vs torch, generation vs torch}; returns false when the
// torch side gave no figures.
bool report_against_torch(const char* suffix, const char* peer_name, const OurFigures& ours,
                          const std::vector<double>& peer, int threads) {
    if (peer.size() != 2) {
        std::fprintf(stderr,
                     "bench/models: torch_t5.py gave %zu figures (expected 2); is torch installed for "
                     "/usr/bin/python3 (or $SAPT_PYTHON)?\n",
                     peer.size());
        return false;
    }
    std::string train_name = std::string("t5_small_lora_train_step") + suffix;
    std::string generate_name = std::string("t5_small_greedy_generate_kv_cache") + suffix;
    double r1 = append_bench_record(train_name.c_str(), ours.train, peer[0], peer_name, "tokens/s", threads);
    std::printf("%-44s %10.1f %10.1f %7.3f\n", train_name.c_str(), ours.train, peer[0], r1);
    double r2 = append_bench_record(generate_name.c_str(), ours.generate, peer[1], peer_name, "tokens/s", threads);
    std::printf("%-44s %10.1f %10.1f %7.3f\n", generate_name.c_str(), ours.generate, peer[1], r2);
    return true;
}

}  // namespace

int main() {
    int threads = omp_get_max_threads();
    T5Config config = bench_t5_config(512, 6, 8, 64, 2048, 32128);
    Model model = bench_t5_model(config, 1, "random T5-small");
    Rng rng = rng_make(2);
    BenchLora lora;
    setup_lora(lora, t5_adapted_sites(config), rng);
    StepInputs in;
    in.ids = random_ids(kBatch, kSource, config.vocab_size, rng);
    in.mask = tensor_empty({kBatch, kSource}, DType::U8);
    for (int64_t i = 0; i < in.mask.numel(); i++) in.mask.u8()[i] = 1;
    in.labels = random_ids(kBatch, kTarget, config.vocab_size, rng);
    in.decoder_ids = t5_shift_right(in.labels, config);

    OurFigures ours = measure_ours(model.t5, lora, in);
    std::printf("ours f32: training step %.1f tokens/s (%.2f s), greedy generation %.1f tokens/s\n", ours.train,
                ours.seconds_per_step, ours.generate);
    std::fflush(stdout);
    // bf16: the frozen weights stored in bf16 (the LoRA tensors stay f32) and bf16 GEMM products.
    int converted = model_frozen_weights_to_bf16(model);
    cpu_set_gemm_precision(GemmPrecision::BF16);
    OurFigures ours_bf16 = measure_ours(model.t5, lora, in);
    cpu_set_gemm_precision(GemmPrecision::F32);
    std::printf("ours bf16 (%d frozen weights in bf16, bf16 products): training step %.1f tokens/s (%.2f s), greedy "
                "generation %.1f tokens/s; loss %.6f vs f32 %.6f (relative difference %.1e)\n",
                converted, ours_bf16.train, ours_bf16.seconds_per_step, ours_bf16.generate, ours_bf16.loss, ours.loss,
                std::fabs(ours_bf16.loss - ours.loss) / std::fabs(ours.loss));
    std::fflush(stdout);

    std::vector<double> peer = torch_figures(threads, "f32");
    std::vector<double> peer_bf16 = torch_figures(threads, "bf16");
    std::printf("T5-small shape (512, 6+6 layers), batch %d, source %d, target %d, LoRA r%d on q,v; %d threads\n",
                kBatch, kSource, kTarget, kRank, threads);
    std::printf("%-44s %10s %10s %7s\n", "tokens/s", "ours", "torch", "ratio");
    if (!report_against_torch("", "PyTorch CPU f32 (bench/torch_t5.py)", ours, peer, threads) ||
        !report_against_torch("_bf16", "PyTorch CPU autocast bf16 (bench/torch_t5.py)", ours_bf16, peer_bf16,
                              threads) ||
        !report_against_torch("_ours_bf16_vs_torch_f32", "PyTorch CPU f32 (bench/torch_t5.py)", ours_bf16, peer,
                              threads)) {
        return 1;
    }

    // The step is bound by its matrix products: with the same arithmetic on both sides, a ratio over the
    // peer needs that much more of the FMA peak.
    double flops = train_step_flops(config, kBatch, kSource, kTarget, kRank);
    double peak = fma_peak_gflops(threads);
    double ours_rate = flops / ours.seconds_per_step / 1e9;
    double torch_rate = flops * peer[0] / (kBatch * (kSource + kTarget)) / 1e9;
    std::printf("training step: %.1f GFLOP; f32 FMA peak here %.0f GFLOP/s on %d threads; ours f32 %.0f GFLOP/s (%.0f%% "
                "of peak), torch f32 %.0f GFLOP/s (%.0f%%); 1.5x torch would need %.0f%% of peak; ours bf16 %.0f "
                "GFLOP/s, torch bf16 %.0f GFLOP/s\n",
                flops / 1e9, peak, threads, ours_rate, 100 * ours_rate / peak, torch_rate, 100 * torch_rate / peak,
                150 * torch_rate / peak, flops / ours_bf16.seconds_per_step / 1e9,
                flops * peer_bf16[0] / (kBatch * (kSource + kTarget)) / 1e9);
    return 0;
}
