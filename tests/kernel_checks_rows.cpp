// kernel_checks_rows.cpp — compare_backend's cases for the row-wise kernels: softmax and log-softmax,
// RMSNorm and LayerNorm (with and without parameter gradients), embedding (with repeated ids, so that the
// backward's scatter-add collides), rope, SAPT's max-pool (ties, masks, a fully masked row), the losses
// (ignored rows, zero targets) and AdamW.
#include <cmath>

#include "tests/kernel_checks_harness.h"

static const Kernels& ref = cpu_reference_kernels;
struct RowsCols {
    size_t rows, cols;
};
static const RowsCols kRows[] = {{1, 1}, {1, 7}, {7, 33}, {33, 129}, {5, 1027}, {64, 17}};
// C = 1 is left out for the norms: a one-wide row normalises to 0 (LayerNorm outputs its bias), so the
// backward is pure cancellation and only f32 rounding noise would be compared.
static const RowsCols kNormRows[] = {{1, 2}, {1, 7}, {7, 33}, {33, 129}, {5, 1027}, {64, 17}};

static void check_softmax(CheckRun& run) {
    for (RowsCols m : kRows)
        for (float spread : {1.0f, 30.0f}) {  // 30: large logits, where a missing max-subtraction overflows
            size_t n = m.rows * m.cols;
            std::vector<float> x = random_floats(run, n, -spread, spread);
            std::vector<float> y(n), logy(n);
            ref.softmax_forward(y.data(), x.data(), m.rows, m.cols);
            ref.log_softmax_forward(logy.data(), x.data(), m.rows, m.cols);
            std::string shape = " " + std::to_string(m.rows) + "x" + std::to_string(m.cols);
            if (run.begin_case("softmax_forward")) {
                Twin inp = twin(run, x), out = twin(run, random_floats(run, n));
                ref.softmax_forward(out.ref<float>(), inp.ref<float>(), m.rows, m.cols);
                run.candidate.softmax_forward(out.dev<float>(), inp.dev<float>(), m.rows, m.cols);
                expect_close(run, out, kLoose, "softmax_forward" + shape);
            }
            if (run.begin_case("log_softmax_forward")) {
                Twin inp = twin(run, x), out = twin(run, random_floats(run, n));
                ref.log_softmax_forward(out.ref<float>(), inp.ref<float>(), m.rows, m.cols);
                run.candidate.log_softmax_forward(out.dev<float>(), inp.dev<float>(), m.rows, m.cols);
                expect_close(run, out, kLoose, "log_softmax_forward" + shape);
            }
            std::vector<float> dy = random_floats(run, n), dx0 = random_floats(run, n);
            if (run.begin_case("softmax_backward")) {
                Twin out = twin(run, y), dout = twin(run, dy), dinp = twin(run, dx0);
                ref.softmax_backward(dinp.ref<float>(), dout.ref<float>(), out.ref<float>(), m.rows, m.cols);
                run.candidate.softmax_backward(dinp.dev<float>(), dout.dev<float>(), out.dev<float>(), m.rows, m.cols);
                expect_close(run, dinp, kReduction, "softmax_backward" + shape);
            }
            if (run.begin_case("log_softmax_backward")) {
                Twin out = twin(run, logy), dout = twin(run, dy), dinp = twin(run, dx0);
                ref.log_softmax_backward(dinp.ref<float>(), dout.ref<float>(), out.ref<float>(), m.rows, m.cols);
                run.candidate.log_softmax_backward(dinp.dev<float>(), dout.dev<float>(), out.dev<float>(), m.rows,
                                                   m.cols);
                expect_close(run, dinp, kLoose, "log_softmax_backward" + shape);
            }
        }
}

static void check_norms(CheckRun& run) {
    const float eps = 1e-6f;
    for (RowsCols m : kNormRows) {
        size_t n = m.rows * m.cols;
        std::string shape = " " + std::to_string(m.rows) + "x" + std::to_string(m.cols);
        std::vector<float> x = random_floats(run, n, -2.0f, 3.0f), w = random_floats(run, m.cols, 0.5f, 1.5f);
        std::vector<float> bias = random_floats(run, m.cols), dy = random_floats(run, n);
        if (run.begin_case("rmsnorm_forward")) {
            Twin inp = twin(run, x), weight = twin(run, w), out = twin(run, dy),
                 rstd = twin(run, random_floats(run, m.rows));
            ref.rmsnorm_forward(out.ref<float>(), rstd.ref<float>(), inp.ref<float>(), weight.ref<float>(), m.rows,
                                m.cols, eps);
            run.candidate.rmsnorm_forward(out.dev<float>(), rstd.dev<float>(), inp.dev<float>(), weight.dev<float>(),
                                          m.rows, m.cols, eps);
            expect_close(run, out, kReduction, "rmsnorm_forward out" + shape);
            expect_close(run, rstd, kReduction, "rmsnorm_forward rstd" + shape);
        }
        std::vector<float> rstd_values(m.rows), mean_values(m.rows), scratch(n);
        ref.rmsnorm_forward(scratch.data(), rstd_values.data(), x.data(), w.data(), m.rows, m.cols, eps);
        for (bool with_dweight : {true, false}) {
            if (!run.begin_case("rmsnorm_backward")) continue;
            Twin inp = twin(run, x), weight = twin(run, w), rstd = twin(run, rstd_values), dout = twin(run, dy);
            Twin dinp = twin(run, random_floats(run, n)), dweight = twin(run, random_floats(run, m.cols));
            ref.rmsnorm_backward(dinp.ref<float>(), with_dweight ? dweight.ref<float>() : nullptr, dout.ref<float>(),
                                 inp.ref<float>(), weight.ref<float>(), rstd.ref<float>(), m.rows, m.cols);
            run.candidate.rmsnorm_backward(dinp.dev<float>(), with_dweight ? dweight.dev<float>() : nullptr,
                                           dout.dev<float>(), inp.dev<float>(), weight.dev<float>(), rstd.dev<float>(),
                                           m.rows, m.cols);
            expect_close(run, dinp, kReduction, "rmsnorm_backward dinp" + shape);
            expect_close(run, dweight, kReduction, "rmsnorm_backward dweight" + shape);  // untouched when null
        }
        if (run.begin_case("layernorm_forward")) {
            Twin inp = twin(run, x), weight = twin(run, w), b = twin(run, bias), out = twin(run, dy);
            Twin mean = twin(run, random_floats(run, m.rows)), rstd = twin(run, random_floats(run, m.rows));
            ref.layernorm_forward(out.ref<float>(), mean.ref<float>(), rstd.ref<float>(), inp.ref<float>(),
                                  weight.ref<float>(), b.ref<float>(), m.rows, m.cols, eps);
            run.candidate.layernorm_forward(out.dev<float>(), mean.dev<float>(), rstd.dev<float>(), inp.dev<float>(),
                                            weight.dev<float>(), b.dev<float>(), m.rows, m.cols, eps);
            expect_close(run, out, kLoose, "layernorm_forward out" + shape);
            expect_close(run, mean, kReduction, "layernorm_forward mean" + shape);
            expect_close(run, rstd, kLoose, "layernorm_forward rstd" + shape);
        }
        ref.layernorm_forward(scratch.data(), mean_values.data(), rstd_values.data(), x.data(), w.data(), bias.data(),
                              m.rows, m.cols, eps);
        for (bool with_params : {true, false}) {
            if (!run.begin_case("layernorm_backward")) continue;
            Twin inp = twin(run, x), weight = twin(run, w), mean = twin(run, mean_values),
                 rstd = twin(run, rstd_values);
            Twin dout = twin(run, dy), dinp = twin(run, random_floats(run, n));
            Twin dweight = twin(run, random_floats(run, m.cols)), dbias = twin(run, random_floats(run, m.cols));
            ref.layernorm_backward(dinp.ref<float>(), with_params ? dweight.ref<float>() : nullptr,
                                   with_params ? dbias.ref<float>() : nullptr, dout.ref<float>(), inp.ref<float>(),
                                   weight.ref<float>(), mean.ref<float>(), rstd.ref<float>(), m.rows, m.cols);
            run.candidate.layernorm_backward(dinp.dev<float>(), with_params ? dweight.dev<float>() : nullptr,
                                             with_params ? dbias.dev<float>() : nullptr, dout.dev<float>(),
                                             inp.dev<float>(), weight.dev<float>(), mean.dev<float>(),
                                             rstd.dev<float>(), m.rows, m.cols);
            expect_close(run, dinp, kLoose, "layernorm_backward dinp" + shape);
            expect_close(run, dweight, kReduction, "layernorm_backward dweight" + shape);
            expect_close(run, dbias, kReduction, "layernorm_backward dbias" + shape);
        }
    }
}

static void check_embedding(CheckRun& run) {
    const int32_t vocab = 50;
    for (size_t N : {1, 7, 129, 600})
        for (size_t C : {1, 7, 33, 129}) {
            std::string shape = " N=" + std::to_string(N) + " C=" + std::to_string(C);
            std::vector<int32_t> id_values = random_ints(run, N, 0, vocab - 1);  // N > vocab: ids repeat
            std::vector<float> table_values = random_floats(run, vocab * C);
            if (run.begin_case("embedding_forward")) {
                Twin ids = twin(run, id_values), table = twin(run, table_values),
                     out = twin(run, random_floats(run, N * C));
                ref.embedding_forward(out.ref<float>(), ids.ref<int32_t>(), table.ref<float>(), N, C);
                run.candidate.embedding_forward(out.dev<float>(), ids.dev<int32_t>(), table.dev<float>(), N, C);
                expect_identical(run, out, "embedding_forward" + shape);
            }
            if (run.begin_case("embedding_forward_bf16")) {
                std::vector<uint16_t> table_bf16(table_values.size());
                ref.f32_to_bf16(table_bf16.data(), table_values.data(), table_values.size());
                Twin ids = twin(run, id_values), table = twin(run, table_bf16),
                     out = twin(run, random_floats(run, N * C));
                ref.embedding_forward_bf16(out.ref<float>(), ids.ref<int32_t>(), table.ref<bf16>(), N, C);
                run.candidate.embedding_forward_bf16(out.dev<float>(), ids.dev<int32_t>(), table.dev<bf16>(), N, C);
                expect_identical(run, out, "embedding_forward_bf16" + shape);
            }
            if (run.begin_case("embedding_backward")) {
                Twin ids = twin(run, id_values), dout = twin(run, random_floats(run, N * C)),
                     dtable = twin(run, table_values);
                ref.embedding_backward(dtable.ref<float>(), dout.ref<float>(), ids.ref<int32_t>(), N, C);
                run.candidate.embedding_backward(dtable.dev<float>(), dout.dev<float>(), ids.dev<int32_t>(), N, C);
                expect_close(run, dtable, kReduction, "embedding_backward" + shape);
            }
        }
}

static void check_rope(CheckRun& run) {
    struct RopeShape {
        size_t B, T, H, D;
    };
    for (RopeShape r : {RopeShape{1, 1, 1, 2}, RopeShape{2, 7, 3, 8}, RopeShape{1, 33, 2, 64}, RopeShape{2, 5, 4, 128}})
        for (float theta : {10000.0f, 500000.0f}) {
            size_t n = r.B * r.T * r.H * r.D;
            std::string shape =
                label_of("", {long(r.B), long(r.T), long(r.H), long(r.D)}) + " theta " + std::to_string(theta);
            std::vector<int32_t> positions = random_ints(run, r.B * r.T, 0, 2047);
            if (run.begin_case("rope_forward")) {
                Twin pos = twin(run, positions), inp = twin(run, random_floats(run, n)),
                     out = twin(run, random_floats(run, n));
                ref.rope_forward(out.ref<float>(), inp.ref<float>(), pos.ref<int32_t>(), r.B, r.T, r.H, r.D, theta);
                run.candidate.rope_forward(out.dev<float>(), inp.dev<float>(), pos.dev<int32_t>(), r.B, r.T, r.H, r.D,
                                           theta);
                expect_close(run, out, kLoose, "rope_forward" + shape);
            }
            if (run.begin_case("rope_backward")) {
                Twin pos = twin(run, positions), dout = twin(run, random_floats(run, n)),
                     dinp = twin(run, random_floats(run, n));
                ref.rope_backward(dinp.ref<float>(), dout.ref<float>(), pos.ref<int32_t>(), r.B, r.T, r.H, r.D, theta);
                run.candidate.rope_backward(dinp.dev<float>(), dout.dev<float>(), pos.dev<int32_t>(), r.B, r.T, r.H,
                                            r.D, theta);
                expect_close(run, dinp, kLoose, "rope_backward" + shape);
            }
        }
}

static void check_maxpool(CheckRun& run) {
    for (size_t B : {1, 3})
        for (size_t T : {1, 7, 40})
            for (size_t C : {1, 33, 130})
                for (bool masked : {false, true}) {
                    std::string shape = label_of("", {long(B), long(T), long(C)}) + (masked ? " masked" : "");
                    // Values from {0, 1, 2, 3}: many ties, which must resolve to the first position.
                    std::vector<int32_t> levels = random_ints(run, B * T * C, 0, 3);
                    std::vector<float> x(levels.begin(), levels.end());
                    std::vector<uint8_t> mask_values = random_mask(run, B * T, 0.7);
                    if (B > 1) std::fill(mask_values.begin() + T, mask_values.begin() + 2 * T, 0);  // row 1 all masked
                    std::vector<int32_t> argmax_values(B * C);
                    std::vector<float> pooled(B * C);
                    ref.maxpool_seq_forward(pooled.data(), argmax_values.data(), x.data(),
                                            masked ? mask_values.data() : nullptr, B, T, C);
                    if (run.begin_case("maxpool_seq_forward")) {
                        Twin inp = twin(run, x), mask = twin(run, mask_values),
                             out = twin(run, random_floats(run, B * C));
                        Twin argmax = twin(run, random_ints(run, B * C, -5, 5));
                        ref.maxpool_seq_forward(out.ref<float>(), argmax.ref<int32_t>(), inp.ref<float>(),
                                                masked ? mask.ref<uint8_t>() : nullptr, B, T, C);
                        run.candidate.maxpool_seq_forward(out.dev<float>(), argmax.dev<int32_t>(), inp.dev<float>(),
                                                          masked ? mask.dev<uint8_t>() : nullptr, B, T, C);
                        expect_identical(run, out, "maxpool_seq_forward out" + shape);
                        expect_identical(run, argmax, "maxpool_seq_forward argmax" + shape);
                    }
                    if (run.begin_case("maxpool_seq_backward")) {
                        Twin argmax = twin(run, argmax_values), dout = twin(run, random_floats(run, B * C));
                        Twin dinp = twin(run, random_floats(run, B * T * C));
                        ref.maxpool_seq_backward(dinp.ref<float>(), dout.ref<float>(), argmax.ref<int32_t>(), B, T, C);
                        run.candidate.maxpool_seq_backward(dinp.dev<float>(), dout.dev<float>(), argmax.dev<int32_t>(),
                                                           B, T, C);
                        expect_close(run, dinp, kTight, "maxpool_seq_backward" + shape);
                    }
                }
}

static void check_losses(CheckRun& run) {
    for (size_t N : {1, 7, 33})
        for (size_t V : {1, 7, 1000, 32003}) {
            std::string shape = label_of("", {long(N), long(V)});
            std::vector<float> logits_values = random_floats(run, N * V, -8.0f, 8.0f);
            std::vector<int32_t> target_values = random_ints(run, N, 0, int32_t(V) - 1);
            for (size_t n = 0; n < N; n += 3) target_values[n] = -100;  // ignored rows
            std::vector<float> losses_values(N), lse_values(N);
            ref.cross_entropy_forward(losses_values.data(), lse_values.data(), logits_values.data(),
                                      target_values.data(), N, V);
            if (run.begin_case("cross_entropy_forward")) {
                Twin logits = twin(run, logits_values), targets = twin(run, target_values);
                Twin losses = twin(run, random_floats(run, N)), lse = twin(run, random_floats(run, N));
                long ref_count = ref.cross_entropy_forward(losses.ref<float>(), lse.ref<float>(), logits.ref<float>(),
                                                           targets.ref<int32_t>(), N, V);
                long cand_count = run.candidate.cross_entropy_forward(
                    losses.dev<float>(), lse.dev<float>(), logits.dev<float>(), targets.dev<int32_t>(), N, V);
                expect_same_count(run, ref_count, cand_count, "cross_entropy_forward count" + shape);
                expect_close(run, losses, kLoose, "cross_entropy_forward losses" + shape);
                expect_close(run, lse, kLoose, "cross_entropy_forward lse" + shape);
            }
            if (run.begin_case("cross_entropy_backward")) {
                Twin logits = twin(run, logits_values), targets = twin(run, target_values), lse = twin(run, lse_values);
                Twin dlogits = twin(run, random_floats(run, N * V, -1e-3f, 1e-3f));
                ref.cross_entropy_backward(dlogits.ref<float>(), logits.ref<float>(), lse.ref<float>(),
                                           targets.ref<int32_t>(), 0.37f, N, V);
                run.candidate.cross_entropy_backward(dlogits.dev<float>(), logits.dev<float>(), lse.dev<float>(),
                                                     targets.dev<int32_t>(), 0.37f, N, V);
                expect_close(run, dlogits, kLoose, "cross_entropy_backward" + shape);
            }
        }
    for (RowsCols m : kRows) {
        size_t n = m.rows * m.cols;
        std::string shape = label_of("", {long(m.rows), long(m.cols)});
        std::vector<float> logp_values(n), target_values(n), x = random_floats(run, n, -3.0f, 3.0f);
        ref.log_softmax_forward(logp_values.data(), x.data(), m.rows, m.cols);
        ref.softmax_forward(target_values.data(), random_floats(run, n, -3.0f, 3.0f).data(), m.rows, m.cols);
        for (size_t i = 0; i < n; i += 4) target_values[i] = 0.0f;  // zero targets contribute nothing
        if (run.begin_case("kl_div_forward")) {
            Twin logp = twin(run, logp_values), target = twin(run, target_values);
            double magnitude = 0.0;
            for (size_t i = 0; i < n; i++)
                if (target_values[i] > 0)
                    magnitude += target_values[i] * (std::fabs(std::log(target_values[i])) + std::fabs(logp_values[i]));
            expect_close_scalar(run, ref.kl_div_forward(logp.ref<float>(), target.ref<float>(), m.rows, m.cols),
                                run.candidate.kl_div_forward(logp.dev<float>(), target.dev<float>(), m.rows, m.cols),
                                1e-5 * magnitude, "kl_div_forward" + shape);
        }
        if (run.begin_case("kl_div_backward")) {
            Twin target = twin(run, target_values), dlogp = twin(run, random_floats(run, n));
            ref.kl_div_backward(dlogp.ref<float>(), target.ref<float>(), 0.25f, m.rows, m.cols);
            run.candidate.kl_div_backward(dlogp.dev<float>(), target.dev<float>(), 0.25f, m.rows, m.cols);
            expect_close(run, dlogp, kTight, "kl_div_backward" + shape);
        }
    }
}

static void check_adamw(CheckRun& run) {
    for (size_t n : {1, 7, 33, 129, 4099})
        for (int t : {1, 10}) {
            if (!run.begin_case("adamw_step")) continue;
            float weight_decay = t == 1 ? 0.01f : 0.0f;
            Twin param = twin(run, random_floats(run, n)), grad = twin(run, random_floats(run, n));
            Twin m = twin(run, random_floats(run, n, -0.1f, 0.1f)), v = twin(run, random_floats(run, n, 0.0f, 0.01f));
            ref.adamw_step(param.ref<float>(), grad.ref<float>(), m.ref<float>(), v.ref<float>(), n, 1e-3f, 0.9f,
                           0.999f, 1e-8f, weight_decay, t);
            run.candidate.adamw_step(param.dev<float>(), grad.dev<float>(), m.dev<float>(), v.dev<float>(), n, 1e-3f,
                                     0.9f, 0.999f, 1e-8f, weight_decay, t);
            std::string label = label_of("adamw_step n, t", {long(n), t});
            expect_close(run, param, kTight, label + " param");
            expect_close(run, m, kTight, label + " m");
            expect_close(run, v, kTight, label + " v");
        }
}

void check_row_kernels(CheckRun& run) {
    check_softmax(run);
    check_norms(run);
    check_embedding(run);
    check_rope(run);
    check_maxpool(run);
    check_losses(run);
    check_adamw(run);
}
