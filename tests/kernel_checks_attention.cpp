// kernel_checks_attention.cpp — compare_backend's cases for fused attention: T5-style (scale 1, pos_bias),
// LLaMA-style (GQA, causal, left padding whose query rows are fully masked), cross attention with Tq != Tk,
// decoding with a cache (Tq < Tk), Tq > Tk under causal (early queries fully masked), and sizes that cross
// the fast kernels' block boundaries. The backward runs on the reference forward's out and lse.
#include <cmath>

#include "tests/kernel_checks_harness.h"

static const Kernels& ref = cpu_reference_kernels;

struct AttentionCase {
    const char* what;
    AttentionShape shape;
    bool with_pos_bias;
    bool with_dpos_bias;
    int key_mask_kind;  // 0 none, 1 random keys, 2 left padding 3b, 3 batch 0 entirely masked, 4 left padding 40b
};

static std::vector<uint8_t> make_key_mask(CheckRun& run, const AttentionShape& s, int kind) {
    std::vector<uint8_t> mask = random_mask(run, size_t(s.B) * s.Tk, 0.75);
    for (int b = 0; b < s.B; b++)
        for (int k = 0; k < s.Tk; k++) {
            uint8_t& keep = mask[size_t(b) * s.Tk + k];
            if (kind == 2) keep = k >= 3 * b;  // batch b padded on the left by 3b tokens
            if (kind == 3 && b == 0) keep = 0;
            if (kind == 4) keep = k >= 40 * b;
        }
    return mask;
}

static void check_attention_case(CheckRun& run, const AttentionCase& c) {
    const AttentionShape& s = c.shape;
    size_t q_size = size_t(s.B) * s.Tq * s.Hq * s.D, kv_size = size_t(s.B) * s.Tk * s.Hkv * s.D;
    size_t bias_size = size_t(s.Hq) * s.Tq * s.Tk, lse_size = size_t(s.B) * s.Hq * s.Tq;
    std::string label = std::string(c.what) + label_of(" B Tq Tk Hq Hkv D", {s.B, s.Tq, s.Tk, s.Hq, s.Hkv, s.D});

    std::vector<float> q_values = random_floats(run, q_size), k_values = random_floats(run, kv_size);
    std::vector<float> v_values = random_floats(run, kv_size), bias_values = random_floats(run, bias_size, -2.0f, 2.0f);
    std::vector<uint8_t> mask_values = make_key_mask(run, s, c.key_mask_kind);
    const float* bias_host = c.with_pos_bias ? bias_values.data() : nullptr;
    const uint8_t* mask_host = c.key_mask_kind ? mask_values.data() : nullptr;
    std::vector<float> out_values(q_size), lse_values(lse_size);
    ref.attention_forward(out_values.data(), lse_values.data(), q_values.data(), k_values.data(), v_values.data(),
                          bias_host, mask_host, s);

    Twin q = twin(run, q_values), k = twin(run, k_values), v = twin(run, v_values);
    Twin pos_bias = twin(run, bias_values), key_mask = twin(run, mask_values);
    if (run.begin_case("attention_forward")) {
        Twin out = twin(run, random_floats(run, q_size)), lse = twin(run, random_floats(run, lse_size));
        ref.attention_forward(out.ref<float>(), lse.ref<float>(), q.ref<float>(), k.ref<float>(), v.ref<float>(),
                              c.with_pos_bias ? pos_bias.ref<float>() : nullptr,
                              c.key_mask_kind ? key_mask.ref<uint8_t>() : nullptr, s);
        run.candidate.attention_forward(out.dev<float>(), lse.dev<float>(), q.dev<float>(), k.dev<float>(),
                                        v.dev<float>(), c.with_pos_bias ? pos_bias.dev<float>() : nullptr,
                                        c.key_mask_kind ? key_mask.dev<uint8_t>() : nullptr, s);
        expect_close(run, out, kLoose, "attention_forward out " + label);
        expect_close(run, lse, kLoose, "attention_forward lse " + label);
    }
    if (run.begin_case("attention_backward")) {
        Twin out = twin(run, out_values), lse = twin(run, lse_values), dout = twin(run, random_floats(run, q_size));
        Twin dq = twin(run, random_floats(run, q_size)), dk = twin(run, random_floats(run, kv_size));
        Twin dv = twin(run, random_floats(run, kv_size)), dpos_bias = twin(run, random_floats(run, bias_size));
        ref.attention_backward(dq.ref<float>(), dk.ref<float>(), dv.ref<float>(),
                               c.with_dpos_bias ? dpos_bias.ref<float>() : nullptr, dout.ref<float>(), q.ref<float>(),
                               k.ref<float>(), v.ref<float>(), out.ref<float>(), lse.ref<float>(),
                               c.with_pos_bias ? pos_bias.ref<float>() : nullptr,
                               c.key_mask_kind ? key_mask.ref<uint8_t>() : nullptr, s);
        run.candidate.attention_backward(dq.dev<float>(), dk.dev<float>(), dv.dev<float>(),
                                         c.with_dpos_bias ? dpos_bias.dev<float>() : nullptr, dout.dev<float>(),
                                         q.dev<float>(), k.dev<float>(), v.dev<float>(), out.dev<float>(),
                                         lse.dev<float>(), c.with_pos_bias ? pos_bias.dev<float>() : nullptr,
                                         c.key_mask_kind ? key_mask.dev<uint8_t>() : nullptr, s);
        expect_close(run, dq, kLoose, "attention_backward dq " + label);
        expect_close(run, dk, kLoose, "attention_backward dk " + label);
        expect_close(run, dv, kLoose, "attention_backward dv " + label);
        expect_close(run, dpos_bias, kLoose, "attention_backward dpos_bias " + label);
    }
}

void check_attention_kernels(CheckRun& run) {
    const float llama_scale_64 = 0.125f, llama_scale_128 = 1.0f / std::sqrt(128.0f);
    const AttentionCase cases[] = {
        // what                               B  Tq  Tk Hq Hkv   D  scale            causal  bias  dbias mask
        {"single element",                   {1, 1, 1, 1, 1, 1, 1.0f, false},            false, false, 0},
        {"T5 encoder, pos_bias, padding",    {2, 7, 7, 4, 4, 16, 1.0f, false},           true,  true,  1},
        {"T5 decoder self, causal",          {2, 9, 9, 2, 2, 8, 1.0f, true},             true,  true,  0},
        {"T5 frozen pos_bias (no dbias)",    {1, 7, 7, 2, 2, 8, 1.0f, false},            true,  false, 1},
        {"T5 cross attention Tq != Tk",      {2, 7, 129, 3, 3, 32, 1.0f, false},         false, false, 1},
        {"batch 0 fully masked",             {2, 5, 33, 2, 2, 16, 1.0f, false},          true,  true,  3},
        {"LLaMA GQA causal left padding",    {3, 33, 33, 4, 2, 64, llama_scale_64, true}, false, false, 2},
        {"decode with cache Tq < Tk",        {2, 5, 37, 4, 1, 8, 0.35f, true},           true,  true,  0},
        {"causal Tq > Tk",                   {1, 9, 4, 2, 1, 8, 0.35f, true},            false, false, 0},
        {"block boundaries, MQA",            {1, 130, 130, 2, 1, 128, llama_scale_128, true}, false, false, 2},
        {"block boundaries, non-causal",     {1, 65, 200, 2, 2, 33, 0.2f, false},        true,  true,  1},
        // Queries 0..39 of batch 1 see no key: whole query blocks are fully masked, and the key blocks that
        // causal masking hides from them must still count (uniform over all Tk keys).
        {"long left padding across blocks",  {2, 100, 100, 2, 1, 16, 0.25f, true},       true,  true,  4},
        // Batch 2's keys 0..79 are padding: the fast kernels skip its whole first key tile (64 keys).
        {"a key tile all padding, skipped",  {3, 20, 150, 2, 2, 24, 0.3f, false},        true,  true,  4},
    };
    for (const AttentionCase& c : cases) check_attention_case(run, c);
}
