// rng.cpp — see rng.h. PCG32 after M. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
// Statistically Good Algorithms for Random Number Generation" (2014), written from the paper's
// description: a 64-bit LCG whose state is turned into 32 output bits by an xorshift and a rotation.
#include "engine/rng.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <utility>

#include "engine/error.h"

// Knuth's MMIX multiplier, the one the PCG paper uses for 64-bit state.
static const uint64_t kLcgMultiplier = 6364136223846793005ULL;

void rng_seed(Rng& rng, uint64_t seed, uint64_t stream) {
    // The paper's seeding: the increment must be odd; the two warm-up steps mix the seed into the state
    // so that nearby seeds do not start with nearby outputs.
    rng.state = 0;
    rng.increment = (stream << 1u) | 1u;
    rng_next_u32(rng);
    rng.state += seed;
    rng_next_u32(rng);
}

Rng rng_make(uint64_t seed, uint64_t stream) {
    Rng rng;
    rng_seed(rng, seed, stream);
    return rng;
}

uint32_t rng_next_u32(Rng& rng) {
    uint64_t old = rng.state;
    rng.state = old * kLcgMultiplier + rng.increment;
    // XSH-RR: xorshift the high bits down, keep 32 of them, rotate by the top 5 bits of the old state.
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rotation = (uint32_t)(old >> 59u);
    return (xorshifted >> rotation) | (xorshifted << ((32u - rotation) & 31u));
}

uint64_t rng_next_u64(Rng& rng) {
    uint64_t high = rng_next_u32(rng);
    uint64_t low = rng_next_u32(rng);
    return (high << 32) | low;
}

uint32_t rng_below(Rng& rng, uint32_t n) {
    if (n == 0) fail("rng_below", "empty range (expected n > 0, got 0)");
    // 2^32 mod n values at the bottom would make small results more likely; reject them and redraw.
    uint32_t threshold = (uint32_t)(-n) % n;
    while (true) {
        uint32_t r = rng_next_u32(rng);
        if (r >= threshold) return r % n;
    }
}

float rng_uniform(Rng& rng) {
    // 24 random bits: every result is exactly representable in f32 and strictly below 1.
    return (float)(rng_next_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

float rng_normal(Rng& rng) {
    // Box-Muller with 32-bit uniforms in double. u1 is in (0, 1] so the log is finite. Only the cosine
    // half of the pair is used: caching the sine half would add state that checkpoints must carry.
    const double two_to_32 = 4294967296.0;
    double u1 = ((double)rng_next_u32(rng) + 1.0) / two_to_32;
    double u2 = (double)rng_next_u32(rng) / two_to_32;
    return (float)(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2));
}

void rng_shuffle(Rng& rng, std::vector<int>& items) {
    for (size_t i = items.size(); i > 1; i--) {
        size_t j = rng_below(rng, (uint32_t)i);
        std::swap(items[i - 1], items[j]);
    }
}

Rng& global_rng() {
    static Rng rng = rng_make(0);
    return rng;
}

std::string rng_to_string(const Rng& rng) {
    return std::to_string(rng.state) + " " + std::to_string(rng.increment);
}

Rng rng_from_string(const std::string& text, const std::string& where) {
    std::istringstream in(text);
    Rng rng;
    // '-' is checked by hand because stream extraction of an unsigned number accepts "-1" and wraps it.
    bool parsed = text.find('-') == std::string::npos && (in >> rng.state >> rng.increment) && (in >> std::ws).eof();
    if (!parsed) {
        fail(where, "RNG state must be two unsigned integers \"<state> <increment>\" (got \"" + text + "\")");
    }
    if (rng.increment % 2 == 0) fail(where, "RNG increment must be odd (got " + std::to_string(rng.increment) + ")");
    return rng;
}

// Writes f32 `values` into a CPU tensor of dtype F32 or BF16.
static void store_values(const Tensor& t, const std::vector<float>& values, const char* who) {
    if (!t.defined()) fail(who, "tensor is undefined");
    if (t.device() != Device::CPU) {
        fail(who, "tensor '" + t.name() + "' is on the GPU (initialise on the CPU, then tensor_to_device)");
    }
    if (t.dtype() == DType::F32) {
        std::memcpy(t.f32(), values.data(), values.size() * sizeof(float));
    } else if (t.dtype() == DType::BF16) {
        kernels_for(Device::CPU).f32_to_bf16(t.bf16_data(), values.data(), values.size());
    } else {
        fail(who, "tensor '" + t.name() + "' has dtype " + dtype_name(t.dtype()) + " (expected F32 or BF16)");
    }
}

void init_uniform(const Tensor& t, float lo, float hi, Rng& rng) {
    if (!(lo <= hi)) fail("init_uniform", "empty interval (expected lo <= hi, got " +
                          std::to_string(lo) + " > " + std::to_string(hi) + ")");
    std::vector<float> values((size_t)t.numel());
    for (float& value : values) value = lo + (hi - lo) * rng_uniform(rng);
    store_values(t, values, "init_uniform");
}

void init_normal(const Tensor& t, float mean, float std, Rng& rng) {
    if (!(std >= 0)) fail("init_normal", "negative std (got " + std::to_string(std) + ")");
    std::vector<float> values((size_t)t.numel());
    for (float& value : values) value = mean + std * rng_normal(rng);
    store_values(t, values, "init_normal");
}

float kaiming_uniform_bound(int64_t fan_in, float a) {
    if (fan_in <= 0) fail("kaiming_uniform", "fan_in must be positive (got " + std::to_string(fan_in) + ")");
    double gain = std::sqrt(2.0 / (1.0 + (double)a * a));
    return (float)(gain * std::sqrt(3.0 / (double)fan_in));
}

void init_kaiming_uniform(const Tensor& weight, float a, Rng& rng) {
    if (!weight.defined() || weight.ndim() < 2) {
        fail("init_kaiming_uniform", "weight must be at least 2-D (out, in) (got " +
             (weight.defined() ? shape_str(weight.shape()) : std::string("undefined")) + ")");
    }
    int64_t fan_in = 1;
    for (int i = 1; i < weight.ndim(); i++) fan_in *= weight.dim(i);
    float bound = kaiming_uniform_bound(fan_in, a);
    init_uniform(weight, -bound, bound, rng);
}
