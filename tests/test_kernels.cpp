// test_kernels.cpp — [kernels]: the checker behind the conformance test (compare_backend, kernel_checks.h)
// catches a broken table, and the reference agrees with values computed by hand or by PyTorch 1.13 (the
// Python line is quoted next to each). Every registered table against the reference: kernel_checks_conformance.cpp.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <vector>

#include "kernels/kernels.h"
#include "tests/kernel_checks.h"

static const Kernels& ref = cpu_reference_kernels;

// A checker that never fails proves nothing: break one kernel at a time and require that it is noticed.
static void gelu_erf_forward(float* out, const float* inp, size_t n) {  // the exact GELU, not the tanh form
    for (size_t i = 0; i < n; i++) out[i] = 0.5f * inp[i] * (1.0f + std::erf(inp[i] / std::sqrt(2.0f)));
}
static void fill_one_too_many(float* out, float value, size_t n) {
    for (size_t i = 0; i <= n; i++) out[i] = value;
}
static void softmax_backward_overwriting(float* dinp, const float* dout, const float* out, size_t N, size_t C) {
    std::vector<float> zeros(N * C, 0.0f);
    for (size_t i = 0; i < N * C; i++) dinp[i] = 0.0f;
    ref.softmax_backward(dinp, dout, out, N, C);  // right values, but forgets to ADD into dinp
}
static void attention_forward_ignoring_mask(float* out, float* lse, const float* q, const float* k, const float* v,
                                            const float* pos_bias, const uint8_t*, AttentionShape s) {
    ref.attention_forward(out, lse, q, k, v, pos_bias, nullptr, s);
}

TEST_CASE("compare_backend reports a broken kernel, a stray write and a missing accumulation", "[kernels]") {
    Kernels broken = cpu_reference_kernels;
    broken.gelu_forward = gelu_erf_forward;
    broken.fill = fill_one_too_many;
    broken.softmax_backward = softmax_backward_overwriting;
    broken.attention_forward = attention_forward_ignoring_mask;
    for (const char* field : {"gelu_forward", "fill", "softmax_backward", "attention_forward"}) {
        BackendReport report = compare_backend(broken, cpu_backend, field);
        INFO(field);
        CHECK(report.cases > 0);
        CHECK(!report.failures.empty());
    }
    BackendReport untouched = compare_backend(broken, cpu_backend, "gelu_backward");
    CHECK(untouched.cases > 0);
    CHECK(untouched.failures.empty());
}

TEST_CASE("reference conversions: bf16 rounds to nearest even and keeps NaN", "[kernels]") {
    const float inputs[] = {1.0f, 1.00390625f, 1.01171875f, -2.5f, INFINITY, NAN, FLT_MAX, 1.0f + 1.0f / 512};
    // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (down); 1 + 3 * 2^-8 ties up;
    // FLT_MAX rounds up to infinity; 1 + 2^-9 is below halfway.
    const bf16 expected[] = {0x3F80, 0x3F80, 0x3F82, 0xC020, 0x7F80, 0x7FC0, 0x7F80, 0x3F80};
    bf16 out[8];
    ref.f32_to_bf16(out, inputs, 8);
    for (int i = 0; i < 8; i++) CHECK(out[i] == expected[i]);
    float back[8];
    ref.bf16_to_f32(back, expected, 8);
    CHECK(back[3] == -2.5f);
    CHECK(std::isnan(back[5]));
}

TEST_CASE("reference gemm multiplies with transposes, alpha and beta", "[kernels]") {
    const float A[] = {1, 2, 3, 4, 5, 6};  // (2, 3)
    const float B[] = {1, 0, 2, 1, 0, 1};  // (3, 2)
    float C[] = {1, 1, 1, 1};
    ref.gemm(false, false, 2, 2, 3, 1.0f, A, 3, B, 2, 0.5f, C, 2);  // A B = [[5, 5], [14, 11]]
    CHECK(C[0] == 5.5f);
    CHECK(C[1] == 5.5f);
    CHECK(C[2] == 14.5f);
    CHECK(C[3] == 11.5f);
    const float At[] = {1, 4, 2, 5, 3, 6};  // A stored transposed (3, 2)
    float D[4];
    ref.gemm(true, false, 2, 2, 3, 2.0f, At, 2, B, 2, 0.0f, D, 2);
    CHECK(D[0] == 10.0f);
    CHECK(D[3] == 22.0f);
}

TEST_CASE("reference softmax, layernorm and rmsnorm of known rows", "[kernels]") {
    const float row[] = {1.0f, 2.0f, 3.0f};
    float out[3], mean, rstd;
    ref.softmax_forward(out, row, 1, 3);  // torch.softmax(torch.tensor([1., 2., 3.]), 0)
    CHECK(out[0] == Approx(0.0900305733).epsilon(1e-6));
    CHECK(out[1] == Approx(0.2447284758).epsilon(1e-6));
    CHECK(out[2] == Approx(0.6652409434).epsilon(1e-6));
    ref.log_softmax_forward(out, row, 1, 3);
    CHECK(out[2] == Approx(std::log(0.6652409434)).epsilon(1e-6));

    const float ones[] = {1, 1, 1}, zeros[] = {0, 0, 0};
    ref.layernorm_forward(out, &mean, &rstd, row, ones, zeros, 1, 3, 1e-5f);
    // mean 2, biased variance 2/3: (x - 2) / sqrt(2/3 + 1e-5) = -1.2247356, 0, 1.2247356
    CHECK(mean == 2.0f);
    CHECK(out[0] == Approx(-1.2247356).epsilon(1e-6));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == Approx(1.2247356).epsilon(1e-6));

    const float pair[] = {3.0f, 4.0f}, gain[] = {1.0f, 2.0f};
    ref.rmsnorm_forward(out, &rstd, pair, gain, 1, 2, 1e-6f);  // mean square 12.5
    CHECK(rstd == Approx(1.0 / std::sqrt(12.5 + 1e-6)).epsilon(1e-6));
    CHECK(out[0] == Approx(0.8485280871).epsilon(1e-6));
    CHECK(out[1] == Approx(2 * 1.1313707828).epsilon(1e-6));
}

TEST_CASE("reference activations: gelu tanh form, silu, relu and their derivatives", "[kernels]") {
    const float x[] = {1.0f, -0.5f, 0.0f};
    float out[3];
    ref.gelu_forward(out, x, 3);  // torch.nn.functional.gelu(x, approximate='tanh')
    CHECK(out[0] == Approx(0.8411920).epsilon(1e-6));
    CHECK(out[1] == Approx(-0.1542860).epsilon(1e-6));
    CHECK(out[2] == 0.0f);
    ref.silu_forward(out, x, 1);
    CHECK(out[0] == Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-6));
    // Backward adds: dinp starts at 1, silu'(0) = 1/2, relu'(-0.5) = 0.
    const float dout[] = {1.0f, 1.0f, 1.0f};
    float dinp[3] = {1.0f, 1.0f, 1.0f};
    ref.silu_backward(dinp + 2, dout, x + 2, 1);
    ref.relu_backward(dinp + 1, dout, x + 1, 1);
    CHECK(dinp[2] == 1.5f);
    CHECK(dinp[1] == 1.0f);
    // gelu'(x) by central differences in double
    ref.gelu_backward(dinp, dout, x, 1);
    double h = 1e-3,
           gelu_plus = 0.5 * (1 + h) * (1 + std::tanh(0.7978845608 * ((1 + h) + 0.044715 * std::pow(1 + h, 3))));
    double gelu_minus = 0.5 * (1 - h) * (1 + std::tanh(0.7978845608 * ((1 - h) + 0.044715 * std::pow(1 - h, 3))));
    CHECK(dinp[0] - 1.0f == Approx((gelu_plus - gelu_minus) / (2 * h)).epsilon(1e-4));
}

TEST_CASE("reference cross-entropy ignores -100 rows and counts the rest", "[kernels]") {
    const float logits[] = {2.0f, 0.5f, -1.0f, 0.1f, 0.2f, 0.3f};
    const int32_t targets[] = {0, -100};
    float losses[2], lse[2];
    long count = ref.cross_entropy_forward(losses, lse, logits, targets, 2, 3);
    // torch.nn.functional.cross_entropy(x, torch.tensor([0, -100]), reduction='none') = [0.2413113, 0]
    CHECK(count == 1);
    CHECK(losses[0] == Approx(0.2413113266).epsilon(1e-6));
    CHECK(losses[1] == 0.0f);
    float dlogits[6] = {0, 0, 0, 0, 0, 0};
    ref.cross_entropy_backward(dlogits, logits, lse, targets, 1.0f, 2, 3);
    CHECK(dlogits[0] == Approx(std::exp(-0.2413113266) - 1.0).epsilon(1e-5));
    CHECK(dlogits[0] + dlogits[1] + dlogits[2] == Approx(0.0).margin(1e-6));
    CHECK(dlogits[3] == 0.0f);
}

TEST_CASE("reference KL divergence: zero targets count zero", "[kernels]") {
    const float target[] = {0.0f, 0.25f, 0.75f};
    const float logp[] = {-100.0f, std::log(0.5f), std::log(0.5f)};
    double kl = ref.kl_div_forward(logp, target, 1, 3);
    CHECK(kl == Approx(0.25 * std::log(0.5) + 0.75 * std::log(1.5)).epsilon(1e-6));
}

TEST_CASE("reference AdamW matches torch.optim.AdamW over two steps", "[kernels]") {
    // p = torch.tensor([1., -2., .5]); AdamW([p], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    // step 1 with grad [0.5, -1, 0], step 2 with grad [0.25, 2, -1].
    float param[] = {1.0f, -2.0f, 0.5f}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
    const float grad1[] = {0.5f, -1.0f, 0.0f}, grad2[] = {0.25f, 2.0f, -1.0f};
    ref.adamw_step(param, grad1, m, v, 3, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
    // After one step mhat / sqrt(vhat) = sign(grad): p (1 - lr wd) - lr sign(grad).
    CHECK(param[0] == Approx(0.899).epsilon(1e-6));
    CHECK(param[1] == Approx(-1.898).epsilon(1e-6));
    CHECK(param[2] == Approx(0.4995).epsilon(1e-6));
    ref.adamw_step(param, grad2, m, v, 3, 0.1, 0.9, 0.999, 1e-8, 0.01, 2);
    CHECK(param[0] == Approx(0.8048830628).epsilon(1e-6));
    CHECK(param[1] == Approx(-1.9327124357).epsilon(1e-6));
    CHECK(param[2] == Approx(0.5734142065).epsilon(1e-6));
    CHECK(m[1] == Approx(0.11).epsilon(1e-6));
    // 1 - beta2 is formed in double (as torch does with the Python float 0.999), then rounded.
    CHECK(v[1] == Approx(0.004999).epsilon(1e-6));
}

TEST_CASE("reference rope rotates pairs (i, i + D/2) by position * theta^(-2i/D)", "[kernels]") {
    // D = 4: pair 0 turns by position * 1, pair 1 by position / 100 (theta 10000).
    const float x[] = {1.0f, 2.0f, 3.0f, 4.0f};
    const int32_t position[] = {3};
    float out[4];
    ref.rope_forward(out, x, position, 1, 1, 1, 4, 10000.0f);
    CHECK(out[0] == Approx(1 * std::cos(3.0) - 3 * std::sin(3.0)).epsilon(1e-5));
    CHECK(out[2] == Approx(3 * std::cos(3.0) + 1 * std::sin(3.0)).epsilon(1e-5));
    CHECK(out[1] == Approx(2 * std::cos(0.03) - 4 * std::sin(0.03)).epsilon(1e-5));
    CHECK(out[3] == Approx(4 * std::cos(0.03) + 2 * std::sin(0.03)).epsilon(1e-5));
    float back[4] = {0, 0, 0, 0};  // the backward is the inverse rotation
    ref.rope_backward(back, out, position, 1, 1, 1, 4, 10000.0f);
    for (int i = 0; i < 4; i++) CHECK(back[i] == Approx(x[i]).epsilon(1e-5));
}

TEST_CASE("reference maxpool keeps the first of tied maxima and skips masked positions", "[kernels]") {
    const float x[] = {1, 5, 5, 5, 3, 5};  // (B 1, T 3, C 2): column 1 ties at t = 0, 1, 2
    const uint8_t mask[] = {0, 1, 1};
    float out[2];
    int32_t argmax[2];
    ref.maxpool_seq_forward(out, argmax, x, nullptr, 1, 3, 2);
    CHECK(argmax[0] == 1);
    CHECK(argmax[1] == 0);
    CHECK(out[1] == 5.0f);
    ref.maxpool_seq_forward(out, argmax, x, mask, 1, 3, 2);
    CHECK(argmax[0] == 1);
    CHECK(argmax[1] == 1);
}

TEST_CASE("reference attention: causal offset, GQA, and a fully masked row averages every value", "[kernels]") {
    // B 1, Tq 2, Tk 3, Hq 2, Hkv 1, D 1, causal: query 0 sees keys 0..1 (offset Tk - Tq = 1).
    AttentionShape s = {1, 2, 3, 2, 1, 1, 1.0f, true};
    const float q[] = {0, 0, 0, 0};  // zero queries: equal scores, so probabilities are uniform over the allowed keys
    const float k[] = {1, 2, 3};
    const float v[] = {10, 20, 60};
    float out[4], lse[4];
    ref.attention_forward(out, lse, q, k, v, nullptr, nullptr, s);
    CHECK(out[0] == Approx(15.0));  // (b 0, t 0, h 0): mean of v0, v1
    CHECK(out[1] == Approx(15.0));  // head 1 shares the single key/value head
    CHECK(out[2] == Approx(30.0));  // t 1: all three keys
    CHECK(lse[0] == Approx(std::log(2.0)));
    // Mask every key: HF's -FLT_MAX scores give a uniform softmax over all Tk keys, causal ones included.
    const uint8_t none[] = {0, 0, 0};
    ref.attention_forward(out, lse, q, k, v, nullptr, none, s);
    CHECK(out[0] == Approx(30.0));
    CHECK(out[2] == Approx(30.0));
}
