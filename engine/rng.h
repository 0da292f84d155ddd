// rng.h — the engine's random numbers: PCG32 (O'Neill 2014, the XSH-RR output of a 64-bit LCG), uniform
// and normal floats, an unbiased shuffle, and the weight initialisers built on them (uniform, normal,
// torch's kaiming_uniform_). The whole generator state is two plain integers, so a checkpoint stores it
// and a resumed run draws exactly the numbers the uninterrupted run would have drawn.
// Not here: reproducing torch's own random stream (we match torch's distributions, not its bits).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

struct Rng {
    uint64_t state = 0;      // the LCG state, advanced once per 32-bit output
    uint64_t increment = 1;  // selects one of 2^63 independent streams; always odd
};

// Seeds `rng`; `stream` picks an independent sequence for the same seed (e.g. one per data worker).
void rng_seed(Rng& rng, uint64_t seed, uint64_t stream = 0);
Rng rng_make(uint64_t seed, uint64_t stream = 0);

uint32_t rng_next_u32(Rng& rng);
uint64_t rng_next_u64(Rng& rng);          // two u32 draws, the first in the high half
uint32_t rng_below(Rng& rng, uint32_t n);  // uniform in [0, n) without modulo bias; n > 0
float rng_uniform(Rng& rng);               // uniform in [0, 1), a multiple of 2^-24
float rng_normal(Rng& rng);                // standard normal, Box-Muller (two uniforms per draw)
void rng_shuffle(Rng& rng, std::vector<int>& items);  // Fisher-Yates, every order equally likely

// The process-wide generator (dropout masks draw from it). Seeded with 0 until a program seeds it;
// programs call rng_seed(global_rng(), seed) once at start and save/restore it with checkpoints.
// Like every Rng it is not thread-safe: draw from one thread (dropout draws its mask before the kernel).
Rng& global_rng();

// The state as text ("<state> <increment>", decimal), for a checkpoint's string metadata, and back.
// Parsing fails with `where` in the message on anything but two integers with an odd increment.
std::string rng_to_string(const Rng& rng);
Rng rng_from_string(const std::string& text, const std::string& where);

// Fill a CPU tensor (F32, or BF16 rounded from the f32 draw) in element order.
void init_uniform(const Tensor& t, float lo, float hi, Rng& rng);     // U(lo, hi)
void init_normal(const Tensor& t, float mean, float std, Rng& rng);   // N(mean, std^2)

// torch.nn.init.kaiming_uniform_(w, a) with its defaults (fan_in mode, leaky_relu gain):
// gain = sqrt(2 / (1 + a^2)), bound = gain * sqrt(3 / fan_in), w ~ U(-bound, bound).
// fan_in = w.shape[1] * (product of shape[2:]) — the input width of an (out, in) Linear weight.
// nn.Linear and LoRA's A matrix use a = sqrt(5), which makes bound = 1 / sqrt(fan_in).
float kaiming_uniform_bound(int64_t fan_in, float a);
void init_kaiming_uniform(const Tensor& weight, float a, Rng& rng);
