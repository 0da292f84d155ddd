// t5_position.cpp — T5's relative position bias: key-minus-query offsets fall into buckets (exact for
// small offsets, logarithmic up to max_distance), each bucket has one learned scalar per head. The
// encoder is bidirectional (half the buckets for each sign), the decoder causal (only past offsets).
// Not here: absolute positions (T5 has none) or any bias in cross-attention (T5 has none).
#include <cmath>

#include "engine/ops.h"
#include "models/layers.h"
#include "models/t5.h"

int t5_relative_position_bucket(int relative_position, bool bidirectional, int num_buckets, int max_distance) {
    int bucket = 0;
    int n;  // distance, >= 0
    if (bidirectional) {
        num_buckets /= 2;
        if (relative_position > 0) bucket += num_buckets;  // keys after the query use the upper half
        n = std::abs(relative_position);
    } else {
        n = relative_position < 0 ? -relative_position : 0;  // future keys all share bucket 0 (masked anyway)
    }
    int max_exact = num_buckets / 2;
    if (n < max_exact) return bucket + n;
    // HF computes this in float32 and truncates toward zero; the float32 log decides edge buckets, so the
    // order of operations (divide, log, divide by a double log cast to float, multiply) follows it.
    float ratio = (float)n / (float)max_exact;
    float scaled =
        std::log(ratio) / (float)std::log((double)max_distance / max_exact) * (float)(num_buckets - max_exact);
    int large = max_exact + (int)scaled;
    if (large > num_buckets - 1) large = num_buckets - 1;
    return bucket + large;
}

Tensor t5_position_bias(const Tensor& table, const T5Config& config, bool bidirectional, int query_start, int Tq,
                        int Tk) {
    std::vector<int32_t> buckets((size_t)Tq * Tk);
    for (int q = 0; q < Tq; q++) {
        for (int k = 0; k < Tk; k++) {
            buckets[(size_t)q * Tk + k] =
                t5_relative_position_bucket(k - (query_start + q), bidirectional, config.relative_attention_num_buckets,
                                            config.relative_attention_max_distance);
        }
    }
    Tensor ids = index_tensor({Tq, Tk}, buckets, table.device());
    Tensor bias = embedding(ids, table);  // (Tq, Tk, H)
    return permute(bias, {2, 0, 1});      // (H, Tq, Tk)
}
