// kernel_checks_dense.cpp — compare_backend's cases for conversions, GEMM, elementwise kernels, activations,
// dropout and strided copies: each kernel on several sizes (1, 7, 33, 129, ... : odd on purpose, so that
// vector tails and thread splits are exercised) against cpu_reference_kernels.
#include <cfloat>
#include <cmath>

#include "tests/kernel_checks_harness.h"

static const Kernels& ref = cpu_reference_kernels;
static const size_t kSizes[] = {1, 7, 33, 129, 1000, 4099};
struct RowsCols {
    size_t rows, cols;
};
static const RowsCols kMatrices[] = {{1, 1}, {1, 7}, {7, 33}, {33, 129}, {5, 1027}, {300, 17}};

static std::vector<uint16_t> bf16_of(const std::vector<float>& values) {
    std::vector<uint16_t> out(values.size());
    ref.f32_to_bf16(out.data(), values.data(), values.size());
    return out;
}

static void check_conversions(CheckRun& run) {
    for (size_t n : kSizes) {
        if (run.begin_case("bf16_to_f32")) {
            std::vector<int32_t> patterns = random_ints(run, n, 0, 0xFFFF);  // every bit pattern, NaNs included
            std::vector<uint16_t> bits(patterns.begin(), patterns.end());
            Twin inp = twin(run, bits), out = twin(run, random_floats(run, n));
            ref.bf16_to_f32(out.ref<float>(), inp.ref<bf16>(), n);
            run.candidate.bf16_to_f32(out.dev<float>(), inp.dev<bf16>(), n);
            expect_identical(run, out, label_of("bf16_to_f32", {long(n)}));
        }
        if (run.begin_case("f32_to_bf16")) {
            std::vector<float> values = random_floats(run, n, -1e4f, 1e4f);
            // Specials and ties: NaN, infinities, signed zeros, the largest float (rounds to inf), and the
            // exact halfway points 1 + 2^-8 (ties down to even) and 1 + 3 * 2^-8 (ties up to even).
            const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MAX, 1.00390625f, 1.01171875f};
            for (size_t i = 0; i < n && i < sizeof specials / sizeof specials[0]; i++) values[i * 7 % n] = specials[i];
            Twin inp = twin(run, values), out = twin(run, std::vector<uint16_t>(n, 0x1234));
            ref.f32_to_bf16(out.ref<bf16>(), inp.ref<float>(), n);
            run.candidate.f32_to_bf16(out.dev<bf16>(), inp.dev<float>(), n);
            expect_identical(run, out, label_of("f32_to_bf16", {long(n)}));
        }
    }
}

struct GemmShape {
    int M, N, K;
};
static const GemmShape kGemmShapes[] = {{1, 1, 1}, {7, 33, 129}, {33, 7, 1}, {65, 67, 64}, {129, 33, 7}, {3, 300, 257}};
static const Tolerance kGemmTolerance = {1e-4, 1e-5};

// Leading dimensions are padded by 3 so that a kernel assuming ld == width fails.
static void check_gemm(CheckRun& run) {
    for (GemmShape g : kGemmShapes)
        for (int transpose = 0; transpose < 4; transpose++) {
            bool ta = transpose & 1, tb = transpose & 2;
            int lda = (ta ? g.M : g.K) + 3, ldb = (tb ? g.K : g.N) + 3, ldc = g.N + 3;
            size_t a_rows = ta ? g.K : g.M, b_rows = tb ? g.N : g.K;
            float alpha = transpose == 1 ? 0.5f : 1.0f, beta = transpose == 0 ? 0.0f : transpose == 3 ? 0.75f : 1.0f;
            std::string label =
                label_of(tb ? (ta ? "gemm TT" : "gemm NT") : (ta ? "gemm TN" : "gemm NN"), {g.M, g.N, g.K});
            std::vector<float> a = random_floats(run, a_rows * lda), b = random_floats(run, b_rows * ldb);
            if (run.begin_case("gemm")) {
                Twin A = twin(run, a), B = twin(run, b), C = twin(run, random_floats(run, size_t(g.M) * ldc));
                ref.gemm(ta, tb, g.M, g.N, g.K, alpha, A.ref<float>(), lda, B.ref<float>(), ldb, beta, C.ref<float>(),
                         ldc);
                run.candidate.gemm(ta, tb, g.M, g.N, g.K, alpha, A.dev<float>(), lda, B.dev<float>(), ldb, beta,
                                   C.dev<float>(), ldc);
                expect_close(run, C, kGemmTolerance, label);
            }
            if (run.begin_case("gemm_bf16b")) {
                Twin A = twin(run, a), B = twin(run, bf16_of(b)), C = twin(run, random_floats(run, size_t(g.M) * ldc));
                ref.gemm_bf16b(ta, tb, g.M, g.N, g.K, alpha, A.ref<float>(), lda, B.ref<bf16>(), ldb, beta,
                               C.ref<float>(), ldc);
                run.candidate.gemm_bf16b(ta, tb, g.M, g.N, g.K, alpha, A.dev<float>(), lda, B.dev<bf16>(), ldb, beta,
                                         C.dev<float>(), ldc);
                expect_close(run, C, kGemmTolerance, "bf16b " + label);
            }
            if (run.begin_case("gemm_batched")) {
                // Three products; B shared (stride 0) on odd transposes, as a weight shared across heads is.
                int batch = 3;
                long stride_a = long(a_rows) * lda, stride_c = long(g.M) * ldc + 5;
                long stride_b = transpose & 1 ? 0 : long(b_rows) * ldb;
                Twin A = twin(run, random_floats(run, batch * stride_a));
                Twin B = twin(run, random_floats(run, stride_b ? batch * stride_b : b_rows * ldb));
                Twin C = twin(run, random_floats(run, batch * stride_c));
                ref.gemm_batched(ta, tb, g.M, g.N, g.K, alpha, A.ref<float>(), lda, stride_a, B.ref<float>(), ldb,
                                 stride_b, beta, C.ref<float>(), ldc, stride_c, batch);
                run.candidate.gemm_batched(ta, tb, g.M, g.N, g.K, alpha, A.dev<float>(), lda, stride_a, B.dev<float>(),
                                           ldb, stride_b, beta, C.dev<float>(), ldc, stride_c, batch);
                expect_close(run, C, kGemmTolerance, "batched " + label);
            }
        }
}

static void check_elementwise(CheckRun& run) {
    for (size_t n : kSizes) {
        std::vector<float> a = random_floats(run, n), b = random_floats(run, n), out0 = random_floats(run, n);
        if (run.begin_case("add")) {
            Twin A = twin(run, a), B = twin(run, b), out = twin(run, out0);
            ref.add(out.ref<float>(), A.ref<float>(), B.ref<float>(), n);
            run.candidate.add(out.dev<float>(), A.dev<float>(), B.dev<float>(), n);
            expect_close(run, out, kTight, label_of("add", {long(n)}));
        }
        if (run.begin_case("mul")) {
            Twin A = twin(run, a), B = twin(run, b), out = twin(run, out0);
            ref.mul(out.ref<float>(), A.ref<float>(), B.ref<float>(), n);
            run.candidate.mul(out.dev<float>(), A.dev<float>(), B.dev<float>(), n);
            expect_close(run, out, kTight, label_of("mul", {long(n)}));
        }
        if (run.begin_case("scale")) {
            Twin A = twin(run, a), out = twin(run, out0);
            ref.scale(out.ref<float>(), A.ref<float>(), -1.7f, n);
            run.candidate.scale(out.dev<float>(), A.dev<float>(), -1.7f, n);
            expect_close(run, out, kTight, label_of("scale", {long(n)}));
        }
        if (run.begin_case("axpy")) {
            Twin x = twin(run, a), y = twin(run, out0);
            ref.axpy(y.ref<float>(), 0.3f, x.ref<float>(), n);
            run.candidate.axpy(y.dev<float>(), 0.3f, x.dev<float>(), n);
            expect_close(run, y, kTight, label_of("axpy", {long(n)}));
        }
        if (run.begin_case("fill")) {
            Twin out = twin(run, out0);
            ref.fill(out.ref<float>(), 2.5f, n);
            run.candidate.fill(out.dev<float>(), 2.5f, n);
            expect_identical(run, out, label_of("fill", {long(n)}));
        }
        if (run.begin_case("sum")) {
            Twin x = twin(run, a);
            double magnitude = 0.0;
            for (float v : a) magnitude += std::fabs(v);
            expect_close_scalar(run, ref.sum(x.ref<float>(), n), run.candidate.sum(x.dev<float>(), n), 1e-6 * magnitude,
                                label_of("sum", {long(n)}));
        }
        if (run.begin_case("sum_squares")) {
            Twin x = twin(run, a);
            double reference = ref.sum_squares(x.ref<float>(), n);
            expect_close_scalar(run, reference, run.candidate.sum_squares(x.dev<float>(), n), 1e-6 * reference,
                                label_of("sum_squares", {long(n)}));
        }
        if (run.begin_case("sum_squares_to")) {
            Twin x = twin(run, a), out = twin(run, std::vector<double>{-1.0});
            ref.sum_squares_to(out.ref<double>(), x.ref<float>(), n);
            run.candidate.sum_squares_to(out.dev<double>(), x.dev<float>(), n);
            const std::vector<unsigned char> bytes = out.fetch(run, label_of("sum_squares_to", {long(n)}));
            double got = 0.0;
            std::memcpy(&got, bytes.data(), sizeof got);
            const double reference = *out.ref<double>();
            expect_close_scalar(run, reference, got, 1e-6 * reference, label_of("sum_squares_to", {long(n)}));
        }
    }
    for (RowsCols m : kMatrices) {
        size_t n = m.rows * m.cols;
        std::vector<float> a = random_floats(run, n), row = random_floats(run, m.cols), out0 = random_floats(run, n);
        if (run.begin_case("add_row")) {
            Twin A = twin(run, a), R = twin(run, row), out = twin(run, out0);
            ref.add_row(out.ref<float>(), A.ref<float>(), R.ref<float>(), m.rows, m.cols);
            run.candidate.add_row(out.dev<float>(), A.dev<float>(), R.dev<float>(), m.rows, m.cols);
            expect_close(run, out, kTight, label_of("add_row", {long(m.rows), long(m.cols)}));
        }
        if (run.begin_case("mul_row")) {
            Twin A = twin(run, a), R = twin(run, row), out = twin(run, out0);
            ref.mul_row(out.ref<float>(), A.ref<float>(), R.ref<float>(), m.rows, m.cols);
            run.candidate.mul_row(out.dev<float>(), A.dev<float>(), R.dev<float>(), m.rows, m.cols);
            expect_close(run, out, kTight, label_of("mul_row", {long(m.rows), long(m.cols)}));
        }
        if (run.begin_case("sum_rows")) {
            Twin dout = twin(run, a), drow = twin(run, row);
            ref.sum_rows(drow.ref<float>(), dout.ref<float>(), m.rows, m.cols);
            run.candidate.sum_rows(drow.dev<float>(), dout.dev<float>(), m.rows, m.cols);
            expect_close(run, drow, kReduction, label_of("sum_rows", {long(m.rows), long(m.cols)}));
        }
    }
}

// Each activation: forward overwrites out, backward adds into a prefilled dinp.
typedef void (*UnaryForward)(float*, const float*, size_t);
typedef void (*UnaryBackward)(float*, const float*, const float*, size_t);

static void check_activation(CheckRun& run, const char* name, UnaryForward ref_fwd, UnaryForward cand_fwd,
                             UnaryBackward ref_bwd, UnaryBackward cand_bwd, Tolerance tol) {
    std::string forward_name = std::string(name) + "_forward", backward_name = std::string(name) + "_backward";
    for (size_t n : kSizes) {
        std::vector<float> x = random_floats(run, n, -6.0f, 6.0f);
        if (run.begin_case(forward_name.c_str())) {
            Twin inp = twin(run, x), out = twin(run, random_floats(run, n));
            ref_fwd(out.ref<float>(), inp.ref<float>(), n);
            cand_fwd(out.dev<float>(), inp.dev<float>(), n);
            expect_close(run, out, tol, label_of(forward_name.c_str(), {long(n)}));
        }
        if (run.begin_case(backward_name.c_str())) {
            Twin inp = twin(run, x), dout = twin(run, random_floats(run, n)), dinp = twin(run, random_floats(run, n));
            ref_bwd(dinp.ref<float>(), dout.ref<float>(), inp.ref<float>(), n);
            cand_bwd(dinp.dev<float>(), dout.dev<float>(), inp.dev<float>(), n);
            expect_close(run, dinp, tol, label_of(backward_name.c_str(), {long(n)}));
        }
    }
}

static void check_activations(CheckRun& run) {
    const Kernels& c = run.candidate;
    check_activation(run, "relu", ref.relu_forward, c.relu_forward, ref.relu_backward, c.relu_backward, kTight);
    check_activation(run, "gelu", ref.gelu_forward, c.gelu_forward, ref.gelu_backward, c.gelu_backward, kLoose);
    check_activation(run, "silu", ref.silu_forward, c.silu_forward, ref.silu_backward, c.silu_backward, kLoose);
    for (size_t n : kSizes)
        for (float p : {0.1f, 0.5f}) {
            if (!run.begin_case("dropout_forward")) continue;
            Twin inp = twin(run, random_floats(run, n)), keep = twin(run, random_mask(run, n, 1.0 - p));
            Twin out = twin(run, random_floats(run, n));
            ref.dropout_forward(out.ref<float>(), inp.ref<float>(), keep.ref<uint8_t>(), p, n);
            run.candidate.dropout_forward(out.dev<float>(), inp.dev<float>(), keep.dev<uint8_t>(), p, n);
            expect_close(run, out, kTight, label_of("dropout_forward", {long(n)}));
        }
}

// A view of an input buffer: its shape, strides and the offset of its first element.
struct StridedView {
    const char* what;
    std::vector<long> shape, strides;
    long offset;
};

static void check_strided(CheckRun& run) {
    const StridedView views[] = {
        {"transpose (33, 7) -> (7, 33)", {7, 33}, {1, 7}, 0},
        {"permute (B T H D) -> (B H T D)", {2, 3, 5, 4}, {60, 4, 12, 1}, 0},
        {"slice [1:5, 2:7] of (6, 9)", {4, 5}, {9, 1}, 11},
        {"every third element", {129}, {3}, 2},
        {"broadcast a row over 4 rows", {4, 7}, {0, 1}, 0},
        {"5-d permute with a size-1 axis", {3, 1, 2, 4, 5}, {1, 120, 60, 15, 3}, 0},
        {"rows reversed (negative stride)", {3, 9}, {9, -1}, 8},
    };
    for (const StridedView& view : views) {
        int ndim = int(view.shape.size());
        long count = 1, last = view.offset;
        for (int d = 0; d < ndim; d++) {
            count *= view.shape[d];
            if (view.strides[d] > 0) last += (view.shape[d] - 1) * view.strides[d];  // the largest offset
        }
        std::vector<float> base = random_floats(run, last + 1);
        if (run.begin_case("copy_strided")) {
            Twin inp = twin(run, base), out = twin(run, random_floats(run, count));
            ref.copy_strided(out.ref<float>(), inp.ref<float>() + view.offset, ndim, view.shape.data(),
                             view.strides.data());
            run.candidate.copy_strided(out.dev<float>(), inp.dev<float>() + view.offset, ndim, view.shape.data(),
                                       view.strides.data());
            expect_identical(run, out, std::string("copy_strided ") + view.what);
        }
        if (run.begin_case("add_strided")) {
            Twin dinp = twin(run, base), dout = twin(run, random_floats(run, count));
            ref.add_strided(dinp.ref<float>() + view.offset, dout.ref<float>(), ndim, view.shape.data(),
                            view.strides.data());
            run.candidate.add_strided(dinp.dev<float>() + view.offset, dout.dev<float>(), ndim, view.shape.data(),
                                      view.strides.data());
            expect_close(run, dinp, kReduction, std::string("add_strided ") + view.what);
        }
    }
}

void check_dense_kernels(CheckRun& run) {
    check_conversions(run);
    check_gemm(run);
    check_elementwise(run);
    check_activations(run);
    check_strided(run);
}
