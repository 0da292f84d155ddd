// ops_linear.cpp — matmul and linear, forward and backward, on the backend's GEMM.
// C = op(A) op(B), where op transposes the last two axes when asked. The chain rule gives
//   d op(A) = dC op(B)^T      d op(B) = op(A)^T dC
// and every case below is one of those two products with the transposes folded into GEMM flags.
// Three layouts: 2-D x 2-D; (..., M, K) x (K, N), whose leading axes fold into M (one GEMM); and batched
// (..., M, K) x (..., K, N) with equal leading axes (gemm_batched). A bf16 B is a frozen weight: no grad.
#include "engine/ops_common.h"

// One product C = op(A) op(B), possibly repeated over `batch` operands at fixed strides (0 = shared).
struct GemmPlan {
    bool trans_a, trans_b;
    int M, N, K, batch;
    int lda, ldb;  // leading dimensions of A and B as stored
    long stride_a, stride_b, stride_c;
};

// C (+)= op(A) op(B) over the batch. beta = 1 accumulates. When C is shared across the batch
// (stride_c 0, the weight gradient of a shared B), the products run one after another so that
// each adds into the same C.
static void run_gemm(const Kernels& k, bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda,
                     long stride_a, const float* B, int ldb, long stride_b, float beta, float* C, int ldc,
                     long stride_c, int batch) {
    if (batch == 1) {
        k.gemm(trans_a, trans_b, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
    } else if (stride_c == 0) {
        for (int i = 0; i < batch; i++) {
            k.gemm(trans_a, trans_b, M, N, K, 1.0f, A + i * stride_a, lda, B + i * stride_b, ldb,
                   i == 0 ? beta : 1.0f, C, ldc);
        }
    } else {
        k.gemm_batched(trans_a, trans_b, M, N, K, 1.0f, A, lda, stride_a, B, ldb, stride_b, beta, C, ldc,
                       stride_c, batch);
    }
}

static Tensor matmul_impl(const char* op, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
    check_f32(op, a, "a");
    if (!b.defined() || (b.dtype() != DType::F32 && b.dtype() != DType::BF16)) {
        fail(op, "b must be an f32 or bf16 tensor");
    }
    check_same_device(op, {&a, &b});
    check_frozen_if_bf16(op, b, "b");
    if (a.ndim() < 2 || b.ndim() < 2) {
        fail(op, "both operands need at least 2 axes (got " + shape_str(a.shape()) + " and " + shape_str(b.shape()) + ")");
    }
    const bool b_is_bf16 = b.dtype() == DType::BF16;
    const int64_t a_rows = a.dim(-2), a_cols = a.dim(-1), b_rows = b.dim(-2), b_cols = b.dim(-1);
    const int64_t M = trans_a ? a_cols : a_rows, K = trans_a ? a_rows : a_cols;
    const int64_t K_b = trans_b ? b_cols : b_rows, N = trans_b ? b_rows : b_cols;
    if (K != K_b) {
        fail(op, "inner dimensions differ (expected op(a) (M, K) x op(b) (K, N), got a " + shape_str(a.shape()) +
                     (trans_a ? "^T" : "") + " x b " + shape_str(b.shape()) + (trans_b ? "^T" : "") + ", K " +
                     std::to_string(K) + " vs " + std::to_string(K_b) + ")");
    }
    std::vector<int64_t> lead(a.shape().begin(), a.shape().end() - 2);
    const int batch_count = (int)shape_numel(lead);
    const bool b_batched = b.ndim() > 2;
    if (b_batched && std::vector<int64_t>(b.shape().begin(), b.shape().end() - 2) != lead) {
        fail(op, "batched operands need equal leading axes (got a " + shape_str(a.shape()) + ", b " +
                     shape_str(b.shape()) + ")");
    }
    if (b_is_bf16 && (b_batched || trans_a)) {
        fail(op, "a bf16 b must be a 2-D weight and a must not be transposed (got a " + shape_str(a.shape()) +
                     (trans_a ? "^T" : "") + ", b " + shape_str(b.shape()) + ")");
    }

    GemmPlan p;
    p.trans_a = trans_a;
    p.trans_b = trans_b;
    p.N = (int)N;
    p.K = (int)K;
    p.lda = (int)a_cols;
    p.ldb = (int)b_cols;
    if (!b_batched && !trans_a) {
        // (..., M, K) x (K, N): the leading axes are just more rows of one GEMM.
        p.M = (int)(batch_count * M);
        p.batch = 1;
        p.stride_a = p.stride_b = p.stride_c = 0;
    } else {
        p.M = (int)M;
        p.batch = batch_count;
        p.stride_a = (long)(a_rows * a_cols);
        p.stride_b = b_batched ? (long)(b_rows * b_cols) : 0;
        p.stride_c = (long)(M * N);
    }

    std::vector<int64_t> out_shape = lead;
    out_shape.push_back(M);
    out_shape.push_back(N);
    Tensor out = tensor_empty(out_shape, DType::F32, a.device());
    const Kernels& k = kernels_for(a.device());
    if (b_is_bf16) {
        k.gemm_bf16b(false, trans_b, p.M, p.N, p.K, 1.0f, a.f32(), p.lda, b.bf16_data(), p.ldb, 0.0f, out.f32(), p.N);
    } else {
        run_gemm(k, trans_a, trans_b, p.M, p.N, p.K, a.f32(), p.lda, p.stride_a, b.f32(), p.ldb, p.stride_b, 0.0f,
                 out.f32(), p.N, p.stride_c, p.batch);
    }

    if (needs_grad({&a, &b})) {
        record_backward(op, out, [a, b, out, p, b_is_bf16]() {
            const Kernels& k = kernels_for(a.device());
            const float* dC = out.grad();  // (M, N) per product
            if (a.requires_grad()) {
                float* dA = a.grad();
                if (b_is_bf16) {
                    // dA (M, K) += dC (M, N) op(B)^T, B read as bf16.
                    k.gemm_bf16b(false, !p.trans_b, p.M, p.K, p.N, 1.0f, dC, p.N, b.bf16_data(), p.ldb, 1.0f, dA, p.K);
                } else if (!p.trans_a) {
                    // dA (M, K) += dC (M, N) op(B)^T
                    run_gemm(k, false, !p.trans_b, p.M, p.K, p.N, dC, p.N, p.stride_c, b.f32(), p.ldb, p.stride_b,
                             1.0f, dA, p.K, p.stride_a, p.batch);
                } else {
                    // A is stored (K, M): dA = (dC op(B)^T)^T = op(B) dC^T, (K, M).
                    run_gemm(k, p.trans_b, true, p.K, p.M, p.N, b.f32(), p.ldb, p.stride_b, dC, p.N, p.stride_c,
                             1.0f, dA, p.M, p.stride_a, p.batch);
                }
            }
            if (b.requires_grad()) {
                float* dB = b.grad();
                if (!p.trans_b) {
                    // dB (K, N) += op(A)^T (K, M) dC (M, N)
                    run_gemm(k, !p.trans_a, false, p.K, p.N, p.M, a.f32(), p.lda, p.stride_a, dC, p.N, p.stride_c,
                             1.0f, dB, p.N, p.stride_b, p.batch);
                } else {
                    // B is stored (N, K): dB = (op(A)^T dC)^T = dC^T (N, M) op(A) (M, K).
                    run_gemm(k, true, p.trans_a, p.N, p.K, p.M, dC, p.N, p.stride_c, a.f32(), p.lda, p.stride_a,
                             1.0f, dB, p.K, p.stride_b, p.batch);
                }
            }
        });
    }
    return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
    return matmul_impl("matmul", a, b, trans_a, trans_b);
}

Tensor linear(const Tensor& x, const Tensor& weight) {
    if (!weight.defined() || weight.ndim() != 2) {
        fail("linear", "weight must be (out, in) (got " +
                           (weight.defined() ? shape_str(weight.shape()) : std::string("undefined")) + ")");
    }
    if (!x.defined() || x.ndim() < 1 || x.dim(-1) != weight.dim(1)) {
        fail("linear", "x must end in the weight's input width " + std::to_string(weight.dim(1)) + " (got " +
                           (x.defined() ? shape_str(x.shape()) : std::string("undefined")) + ")");
    }
    if (x.ndim() == 1) return reshape(matmul_impl("linear", reshape(x, {1, x.dim(0)}), weight, false, true), {weight.dim(0)});
    return matmul_impl("linear", x, weight, false, true);
}
