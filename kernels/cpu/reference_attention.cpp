// reference_attention.cpp — the oracle for attention: for every (batch, head, query) the whole score row is
// built, softmaxed in double and applied to V, exactly as the textbook formula reads. The backward ignores
// the saved lse and recomputes the softmax from scratch, so it checks the fast kernels' use of lse too.
// Deliberately unfused and slow (O(Tk) scratch per row); the flash-style version is fast_attention.cpp.
#include "kernels/cpu/reference.h"

#include <cmath>
#include <vector>

namespace reference {

// q (B, Tq, Hq, D) at (b, t, h); k and v (B, Tk, Hkv, D) at (b, t, h).
static const float* row_q(const float* q, const AttentionShape& s, int b, int t, int h) {
    return q + ((long(b) * s.Tq + t) * s.Hq + h) * s.D;
}
static const float* row_kv(const float* kv, const AttentionShape& s, int b, int t, int h) {
    return kv + ((long(b) * s.Tk + t) * s.Hkv + h) * s.D;
}

static bool is_masked(const AttentionShape& s, const uint8_t* key_mask, int b, int query, int key) {
    if (key_mask && !key_mask[long(b) * s.Tk + key]) return true;
    // Causal with queries aligned to the END of the keys (a decoder step sees the whole cache).
    return s.causal && key > query + (s.Tk - s.Tq);
}

// One score row (Tk) and its softmax in double. A fully masked row is all kMaskedScore, so its max is
// kMaskedScore and every exp(score - max) is 1: the uniform row HF produces. Returns the row's log-sum-exp.
static double score_row(std::vector<float>& scores, std::vector<double>& probs, const float* q, const float* k,
                        const float* pos_bias, const uint8_t* key_mask, const AttentionShape& s, int b, int h,
                        int query) {
    int kv_head = h / (s.Hq / s.Hkv);
    const float* qrow = row_q(q, s, b, query, h);
    for (int key = 0; key < s.Tk; key++) {
        const float* krow = row_kv(k, s, b, key, kv_head);
        double dot = 0.0;
        for (int d = 0; d < s.D; d++) dot += double(qrow[d]) * krow[d];
        float score = float(s.scale * dot);
        if (pos_bias) score += pos_bias[(long(h) * s.Tq + query) * s.Tk + key];
        scores[key] = is_masked(s, key_mask, b, query, key) ? kMaskedScore : score;
    }
    float maxval = scores[0];
    for (int key = 1; key < s.Tk; key++) maxval = std::fmax(maxval, scores[key]);
    double total = 0.0;
    for (int key = 0; key < s.Tk; key++) {
        probs[key] = std::exp(double(scores[key]) - double(maxval));
        total += probs[key];
    }
    for (int key = 0; key < s.Tk; key++) probs[key] /= total;
    return maxval + std::log(total);
}

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const float* pos_bias,
                       const uint8_t* key_mask, AttentionShape s) {
    std::vector<float> scores(s.Tk);
    std::vector<double> probs(s.Tk);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.Hq; h++)
            for (int query = 0; query < s.Tq; query++) {
                double row_lse = score_row(scores, probs, q, k, pos_bias, key_mask, s, b, h, query);
                int kv_head = h / (s.Hq / s.Hkv);
                float* orow = out + ((long(b) * s.Tq + query) * s.Hq + h) * s.D;
                for (int d = 0; d < s.D; d++) {
                    double acc = 0.0;
                    for (int key = 0; key < s.Tk; key++) acc += probs[key] * row_kv(v, s, b, key, kv_head)[d];
                    orow[d] = float(acc);
                }
                lse[(long(b) * s.Hq + h) * s.Tq + query] = float(row_lse);
            }
}

// With P = softmax(S) and O = P V: dV += P^T dO; dP = dO V^T; dS = P (dP - rowsum(dP P));
// dQ += scale dS K; dK += scale dS^T Q; dpos_bias += dS. A masked score is the constant kMaskedScore,
// so no gradient flows through it to q, k or pos_bias.
void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* /*out: recomputed*/,
                        const float* /*lse: recomputed*/, const float* pos_bias, const uint8_t* key_mask,
                        AttentionShape s) {
    std::vector<float> scores(s.Tk);
    std::vector<double> probs(s.Tk), dprobs(s.Tk);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.Hq; h++)
            for (int query = 0; query < s.Tq; query++) {
                score_row(scores, probs, q, k, pos_bias, key_mask, s, b, h, query);
                int kv_head = h / (s.Hq / s.Hkv);
                const float* dorow = dout + ((long(b) * s.Tq + query) * s.Hq + h) * s.D;
                double row_dot = 0.0;  // sum_k dP_k P_k
                for (int key = 0; key < s.Tk; key++) {
                    const float* vrow = row_kv(v, s, b, key, kv_head);
                    double dp = 0.0;
                    for (int d = 0; d < s.D; d++) dp += double(dorow[d]) * vrow[d];
                    dprobs[key] = dp;
                    row_dot += dp * probs[key];
                }
                const float* qrow = row_q(q, s, b, query, h);
                float* dqrow = dq + ((long(b) * s.Tq + query) * s.Hq + h) * s.D;
                for (int key = 0; key < s.Tk; key++) {
                    float* dvrow = dv + ((long(b) * s.Tk + key) * s.Hkv + kv_head) * s.D;
                    for (int d = 0; d < s.D; d++) dvrow[d] += float(probs[key] * dorow[d]);
                    if (is_masked(s, key_mask, b, query, key)) continue;
                    double dscore = probs[key] * (dprobs[key] - row_dot);
                    const float* krow = row_kv(k, s, b, key, kv_head);
                    float* dkrow = dk + ((long(b) * s.Tk + key) * s.Hkv + kv_head) * s.D;
                    for (int d = 0; d < s.D; d++) {
                        dqrow[d] += float(s.scale * dscore * krow[d]);
                        dkrow[d] += float(s.scale * dscore * qrow[d]);
                    }
                    if (dpos_bias) dpos_bias[(long(h) * s.Tq + query) * s.Tk + key] += float(dscore);
                }
            }
}

}  // namespace reference
