// reference.h — the plain-loop CPU kernels (namespace reference), the oracle every other backend is tested
// against. Declared here so that the table in reference.cpp and the tests can name them one by one.
// Semantics of each function are documented once, at its field in kernels/kernels.h; nothing is repeated here.
#pragma once
#include "kernels/kernels.h"

namespace reference {

// reference_dense.cpp: conversions, GEMM, elementwise, activations, layout
void bf16_to_f32(float* out, const bf16* inp, size_t n);
void f32_to_bf16(bf16* out, const float* inp, size_t n);
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
          int ldb, float beta, float* C, int ldc);
void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, long stride_a,
                  const float* B, int ldb, long stride_b, float beta, float* C, int ldc, long stride_c, int batch);
void gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const bf16* B,
                int ldb, float beta, float* C, int ldc);
void add(float* out, const float* a, const float* b, size_t n);
void mul(float* out, const float* a, const float* b, size_t n);
void scale(float* out, const float* a, float s, size_t n);
void axpy(float* y, float alpha, const float* x, size_t n);
void fill(float* out, float value, size_t n);
void add_row(float* out, const float* a, const float* row, size_t rows, size_t cols);
void mul_row(float* out, const float* a, const float* row, size_t rows, size_t cols);
void sum_rows(float* drow, const float* dout, size_t rows, size_t cols);
double sum(const float* x, size_t n);
double sum_squares(const float* x, size_t n);
void sum_squares_to(double* out, const float* x, size_t n);
void relu_forward(float* out, const float* inp, size_t n);
void relu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void silu_forward(float* out, const float* inp, size_t n);
void silu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void dropout_forward(float* out, const float* inp, const uint8_t* keep, float p, size_t n);
void copy_strided(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides);
void add_strided(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides);

// reference_rows.cpp: softmax, normalisation, embedding, rope, maxpool, losses, optimizer
void softmax_forward(float* out, const float* inp, size_t N, size_t C);
void softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C);
void log_softmax_forward(float* out, const float* inp, size_t N, size_t C);
void log_softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C);
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, size_t N, size_t C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, size_t N, size_t C);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       size_t N, size_t C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C);
void embedding_forward(float* out, const int32_t* ids, const float* table, size_t N, size_t C);
void embedding_forward_bf16(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C);
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C);
void rope_forward(float* out, const float* inp, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                  float theta);
void rope_backward(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T, size_t H, size_t D,
                   float theta);
void maxpool_seq_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, size_t B, size_t T,
                         size_t C);
void maxpool_seq_backward(float* dinp, const float* dout, const int32_t* argmax, size_t B, size_t T, size_t C);
long cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, size_t N, size_t V);
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            float dloss_per_row, size_t N, size_t V);
double kl_div_forward(const float* logp, const float* target, size_t N, size_t C);
void kl_div_backward(float* dlogp, const float* target, float scale, size_t N, size_t C);
void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1, double beta2,
                double eps, double weight_decay, int t);

// reference_attention.cpp
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const float* pos_bias,
                       const uint8_t* key_mask, AttentionShape s);
void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse, const float* pos_bias,
                        const uint8_t* key_mask, AttentionShape s);

}  // namespace reference
