// test_gemm.cpp — the fast CPU GEMM (kernels/cpu/gemm.cpp) against a plain triple loop in double, on odd
// shapes that hit the tiny direct path, partial register tiles and several cache blocks, every transpose
// combination, padded leading dimensions, alpha / beta (beta = 0 over NaN), batches with shared operands
// and bf16 B, with f32 or bf16 products. It does not test speed: bench/gemm.cpp does.
#include "kernels/cpu/gemm.h"
#include "tests/precision_scope.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {

struct Shape {
    int M, N, K;
};

// Row-major storage of op(X) (rows, cols) when transposed = false, or of its transpose otherwise, with
// `pad` extra columns per stored row so that the leading dimension exceeds the width.
struct StoredMatrix {
    int rows, cols, ld;
    bool transposed;
    std::vector<float> data;
    float at(int r, int c) const { return transposed ? data[(size_t)c * ld + r] : data[(size_t)r * ld + c]; }
};

StoredMatrix random_matrix(int rows, int cols, bool transposed, int pad, std::mt19937& rng) {
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    int stored_rows = transposed ? cols : rows;
    int stored_cols = transposed ? rows : cols;
    StoredMatrix m{rows, cols, stored_cols + pad, transposed, {}};
    m.data.resize((size_t)stored_rows * m.ld);
    for (float& x : m.data) x = uniform(rng);
    return m;
}

bf16 f32_to_bf16_truncated(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return (bf16)(bits >> 16);
}

float bf16_to_f32(bf16 h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
}

// The oracle: alpha * sum_k op(A)[i,k] op(B)[k,j] + beta * C_old[i,j] in double; beta = 0 ignores C_old.
std::vector<double> reference_gemm(const StoredMatrix& A, const StoredMatrix& B, float alpha, float beta,
                                   const std::vector<float>& C_old, int ldc) {
    int M = A.rows, K = A.cols, N = B.cols;
    std::vector<double> C((size_t)M * N);
    for (int i = 0; i < M; ++i) {
        for (int j = 0; j < N; ++j) {
            double sum = 0.0;
            for (int k = 0; k < K; ++k) sum += (double)A.at(i, k) * B.at(k, j);
            double old = beta == 0.0f ? 0.0 : (double)beta * C_old[(size_t)i * ldc + j];
            C[(size_t)i * N + j] = alpha * sum + old;
        }
    }
    return C;
}

// Inputs lie in [-1, 1], so rounding error grows at most linearly with K.
double tolerance(int K, float alpha, float beta) {
    return 1e-6 * (K + 1) * (std::fabs(alpha) + std::fabs(beta) + 1.0);
}

// Checks the (M, N) result inside C (row stride ldc) and that the padding columns still hold C_old.
void check_result(const std::vector<float>& C, const std::vector<float>& C_old, int ldc,
                  const std::vector<double>& expected, int M, int N, int K, float alpha, float beta) {
    double tol = tolerance(K, alpha, beta);
    int wrong = 0, padding_written = 0;
    double worst = 0.0;
    for (int i = 0; i < M; ++i) {
        for (int j = 0; j < ldc; ++j) {
            float got = C[(size_t)i * ldc + j];
            if (j >= N) {
                if (got != C_old[(size_t)i * ldc + j]) ++padding_written;
                continue;
            }
            double err = std::fabs(got - expected[(size_t)i * N + j]);
            if (!(err <= tol)) ++wrong;  // also counts NaN
            if (err > worst || std::isnan(err)) worst = err;
        }
    }
    INFO("M=" << M << " N=" << N << " K=" << K << " alpha=" << alpha << " beta=" << beta << " worst error "
              << worst << " tolerance " << tol);
    CHECK(wrong == 0);
    CHECK(padding_written == 0);
}

// Which product: cpu_gemm; cpu_gemm_bf16b at the default f32 precision; cpu_gemm_bf16b at bf16 precision.
enum class Operands { f32, bf16_b, bf16_products };

// A copy of `m` rounded to bf16 by the reference kernel (nearest, ties to even) and widened back.
StoredMatrix rounded_to_bf16(StoredMatrix m) {
    std::vector<bf16> half(m.data.size());
    cpu_reference_kernels.f32_to_bf16(half.data(), m.data.data(), half.size());
    cpu_reference_kernels.bf16_to_f32(m.data.data(), half.data(), half.size());
    return m;
}

// Runs cpu_gemm (or cpu_gemm_bf16b) on one case and compares it with the oracle. With bf16 products the
// oracle multiplies A rounded to bf16, and the result must also be measurably off the unrounded product
// (else the kernel ignored the precision).
void check_gemm(Shape s, bool trans_a, bool trans_b, float alpha, float beta, int pad, Operands operands,
                unsigned seed) {
    std::mt19937 rng(seed);
    StoredMatrix A = random_matrix(s.M, s.K, trans_a, pad, rng);
    StoredMatrix B = random_matrix(s.K, s.N, trans_b, pad, rng);
    bool bf16_b = operands != Operands::f32;
    std::vector<bf16> B_half;
    if (bf16_b) {
        // The oracle multiplies by exactly the values the kernel sees.
        for (float& x : B.data) {
            B_half.push_back(f32_to_bf16_truncated(x));
            x = bf16_to_f32(B_half.back());
        }
    }
    const float pad_sentinel = 12345.0f;
    int ldc = s.N + pad;
    std::vector<float> C((size_t)s.M * ldc, pad_sentinel);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (int i = 0; i < s.M; ++i) {
        for (int j = 0; j < s.N; ++j) {
            C[(size_t)i * ldc + j] = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : uniform(rng);
        }
    }
    bool bf16_products = operands == Operands::bf16_products;
    std::vector<double> expected = reference_gemm(bf16_products ? rounded_to_bf16(A) : A, B, alpha, beta, C, ldc);
    std::vector<float> C_old = C;
    if (bf16_products) {
        CpuGemmPrecisionScope precision(GemmPrecision::BF16);
        cpu_gemm_bf16b(trans_a, trans_b, s.M, s.N, s.K, alpha, A.data.data(), A.ld, B_half.data(), B.ld, beta,
                       C.data(), ldc);
    } else if (bf16_b) {
        cpu_gemm_bf16b(trans_a, trans_b, s.M, s.N, s.K, alpha, A.data.data(), A.ld, B_half.data(), B.ld, beta,
                       C.data(), ldc);
    } else {
        cpu_gemm(trans_a, trans_b, s.M, s.N, s.K, alpha, A.data.data(), A.ld, B.data.data(), B.ld, beta,
                 C.data(), ldc);
    }
    INFO("trans_a=" << trans_a << " trans_b=" << trans_b << " pad=" << pad << " operands=" << int(operands));
    check_result(C, C_old, ldc, expected, s.M, s.N, s.K, alpha, beta);
    if (bf16_products && s.M * s.N * s.K >= 64) {  // enough products that some rounding of A shows
        std::vector<double> unrounded = reference_gemm(A, B, alpha, beta, C_old, ldc);
        double largest_gap = 0.0;
        for (int i = 0; i < s.M; ++i) {
            for (int j = 0; j < s.N; ++j) {
                double gap = std::fabs(C[(size_t)i * ldc + j] - unrounded[(size_t)i * s.N + j]);
                largest_gap = gap > largest_gap ? gap : largest_gap;
            }
        }
        CHECK(largest_gap > tolerance(s.K, alpha, beta));
    }
}

// Thin shapes (a side <= 4) take the direct loops, and so do few rows (M <= 16) against B stored (N, K) (the
// 4 x 4 dot blocks: M = 5, 13 and 16 leave partial blocks, 4100 columns split across threads); the rest cross partial register tiles and several
// KC / MC / NC blocks (K = 1100 > 2 KC; M = 700 > 2 MC; N = 2100 > NC) so that the block seams, and
// threads sharing packed blocks (or, for few rows, splitting columns), are exercised.
const Shape kShapes[] = {{1, 1, 1},      {7, 13, 29},   {1000, 1, 1000}, {1, 1000, 1000}, {33, 65, 17},
                         {3, 50, 70},    {50, 3, 70},   {40, 50, 2},     {130, 97, 1100}, {700, 40, 300},
                         {20, 2100, 40}, {130, 2100, 20}, {8, 97, 1100},  {16, 530, 37},
                         {5, 4100, 64},  {13, 6, 300}};

}  // namespace

TEST_CASE("cpu_gemm matches a double triple loop for every transpose combination", "[gemm]") {
    unsigned seed = 1;
    for (Shape s : kShapes) {
        for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, 1.0f, 0.0f, 0, Operands::f32, seed++);
    }
}

TEST_CASE("cpu_gemm honours leading dimensions larger than the rows", "[gemm]") {
    unsigned seed = 100;
    for (Shape s : kShapes) {
        for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, 1.0f, 0.0f, 5, Operands::f32, seed++);
    }
}

TEST_CASE("cpu_gemm scales by alpha and adds beta times the old C; beta 0 ignores NaN in C", "[gemm]") {
    const float alpha_beta[][2] = {{0.5f, 0.0f}, {1.0f, 1.0f}, {-2.0f, 0.25f}, {1.5f, -1.0f}};
    unsigned seed = 200;
    for (Shape s : {Shape{1, 1, 1}, Shape{7, 13, 29}, Shape{1, 300, 70}, Shape{33, 65, 17},
                    Shape{130, 97, 1100}}) {
        for (auto ab : alpha_beta) {
            for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, ab[0], ab[1], 3, Operands::f32, seed++);
        }
    }
}

TEST_CASE("cpu_gemm with alpha 0 or K 0 only scales C", "[gemm]") {
    std::vector<float> C = {1.0f, 2.0f, std::numeric_limits<float>::quiet_NaN(), 4.0f};
    std::vector<float> A = {1.0f, 1.0f}, B = {1.0f, 1.0f};
    cpu_gemm(false, false, 2, 2, 0, 1.0f, A.data(), 1, B.data(), 2, 0.0f, C.data(), 2);
    CHECK(C == std::vector<float>({0.0f, 0.0f, 0.0f, 0.0f}));
    C = {1.0f, 2.0f, 3.0f, 4.0f};
    cpu_gemm(false, false, 2, 2, 1, 0.0f, A.data(), 1, B.data(), 2, 2.0f, C.data(), 2);
    CHECK(C == std::vector<float>({2.0f, 4.0f, 6.0f, 8.0f}));
}

TEST_CASE("cpu_gemm_bf16b widens bf16 B exactly", "[gemm]") {
    unsigned seed = 300;
    for (Shape s : kShapes) {
        for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, 1.0f, 0.0f, 2, Operands::bf16_b, seed++);
    }
    check_gemm({33, 65, 17}, false, true, 0.5f, 2.0f, 0, Operands::bf16_b, seed++);
}

// The bf16 pairs path: odd depths (a zero step pads the last pair), several KC blocks, partial tiles, the
// thin forms (which round a copy of A), and the decoding form, for every transpose combination.
TEST_CASE("cpu_gemm_bf16b at bf16 precision multiplies A rounded to bf16", "[gemm]") {
    unsigned seed = 350;
    for (Shape s : kShapes) {
        for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, 1.0f, 0.0f, 3, Operands::bf16_products, seed++);
    }
    for (Shape s : {Shape{33, 65, 17}, Shape{130, 97, 1101}}) {
        for (int t = 0; t < 4; ++t) check_gemm(s, t & 1, t & 2, -1.5f, 0.5f, 0, Operands::bf16_products, seed++);
    }
}

TEST_CASE("cpu_gemm_bf16b at bf16 precision keeps NaN and infinity, and the precision is reported", "[gemm]") {
    CpuGemmPrecisionScope precision(GemmPrecision::BF16);
    CHECK(cpu_gemm_precision() == GemmPrecision::BF16);
    // 40 x 40 x 40 takes the blocked path: a NaN row of A and an infinite one must come out as such.
    const int n = 40;
    std::vector<float> A((size_t)n * n, 0.5f), C((size_t)n * n, 0.0f);
    std::vector<bf16> B((size_t)n * n, 0x3F80);  // 1.0
    A[0] = std::numeric_limits<float>::quiet_NaN();
    A[(size_t)n] = std::numeric_limits<float>::infinity();
    cpu_gemm_bf16b(false, true, n, n, n, 1.0f, A.data(), n, B.data(), n, 0.0f, C.data(), n);
    CHECK(std::isnan(C[0]));
    CHECK(std::isinf(C[(size_t)n]));
    CHECK(C[(size_t)2 * n] == Approx(0.5 * n));
    CHECK_THROWS_WITH(cpu_set_gemm_precision(GemmPrecision::TF32), Catch::Contains("tf32"));
}

TEST_CASE("cpu_gemm_batched runs each product, with stride 0 sharing an operand", "[gemm]") {
    // Batches of tiny products (split across threads by product) and of larger ones (each product
    // split across threads), with A shared, B shared, or neither.
    for (Shape s : {Shape{7, 13, 29}, Shape{130, 97, 300}}) {
        for (int shared = 0; shared < 3; ++shared) {
            for (int t = 0; t < 4; ++t) {
                bool trans_a = t & 1, trans_b = t & 2;
                const int batch = 5;
                const float alpha = 0.75f, beta = 0.5f;
                std::mt19937 rng(400 + shared * 4 + t);
                std::vector<StoredMatrix> As, Bs;
                for (int b = 0; b < batch; ++b) {
                    As.push_back(random_matrix(s.M, s.K, trans_a, 1, rng));
                    Bs.push_back(random_matrix(s.K, s.N, trans_b, 1, rng));
                }
                if (shared == 1) As.assign(batch, As[0]);
                if (shared == 2) Bs.assign(batch, Bs[0]);
                long stride_a = shared == 1 ? 0 : (long)As[0].data.size();
                long stride_b = shared == 2 ? 0 : (long)Bs[0].data.size();
                std::vector<float> A_all, B_all;
                for (int b = 0; b < batch; ++b) {
                    if (b == 0 || stride_a) A_all.insert(A_all.end(), As[b].data.begin(), As[b].data.end());
                    if (b == 0 || stride_b) B_all.insert(B_all.end(), Bs[b].data.begin(), Bs[b].data.end());
                }
                int ldc = s.N + 2;
                long stride_c = (long)s.M * ldc;
                std::vector<float> C(stride_c * batch);
                std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
                for (float& x : C) x = uniform(rng);
                std::vector<float> C_old = C;
                cpu_gemm_batched(trans_a, trans_b, s.M, s.N, s.K, alpha, A_all.data(), As[0].ld, stride_a,
                                 B_all.data(), Bs[0].ld, stride_b, beta, C.data(), ldc, stride_c, batch);
                for (int b = 0; b < batch; ++b) {
                    auto item_begin = C_old.begin() + b * stride_c;
                    std::vector<float> C_old_b(item_begin, item_begin + stride_c);
                    std::vector<float> C_b(C.begin() + b * stride_c, C.begin() + (b + 1) * stride_c);
                    std::vector<double> expected = reference_gemm(As[b], Bs[b], alpha, beta, C_old_b, ldc);
                    INFO("batch item " << b << " shared=" << shared << " trans_a=" << trans_a
                                       << " trans_b=" << trans_b);
                    check_result(C_b, C_old_b, ldc, expected, s.M, s.N, s.K, alpha, beta);
                }
            }
        }
    }
}
