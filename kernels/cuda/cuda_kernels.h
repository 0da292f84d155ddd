// cuda_kernels.h — the CUDA kernels of the Kernels table (namespace cuda), declared one by one so that
// the table in cuda_kernels.cu and the tests can name them. Every pointer is device memory; scalars,
// shapes and strides are host values. Semantics are documented once, at each field of kernels/kernels.h.
// Calls are asynchronous on cuda_stream(), except those that return a value (they wait for it).
#pragma once
#include "kernels/kernels.h"

namespace cuda {

// gemm_cublas.cu: cuBLAS (real GPU) or the CPU GEMM (emulation)
void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);
void gemm_batched(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                  long stride_a, const float* B, int ldb, long stride_b, float beta, float* C, int ldc,
                  long stride_c, int batch);
void gemm_bf16b(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                const bf16* B, int ldb, float beta, float* C, int ldc);

// elementwise.cu: conversions, elementwise, broadcasts, activations, dropout, strided copies
void bf16_to_f32(float* out, const bf16* inp, size_t n);
void f32_to_bf16(bf16* out, const float* inp, size_t n);
void add(float* out, const float* a, const float* b, size_t n);
void mul(float* out, const float* a, const float* b, size_t n);
void scale(float* out, const float* a, float s, size_t n);
void axpy(float* y, float alpha, const float* x, size_t n);
void fill(float* out, float value, size_t n);
void add_row(float* out, const float* a, const float* row, size_t rows, size_t cols);
void mul_row(float* out, const float* a, const float* row, size_t rows, size_t cols);
void relu_forward(float* out, const float* inp, size_t n);
void relu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void gelu_forward(float* out, const float* inp, size_t n);
void gelu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void silu_forward(float* out, const float* inp, size_t n);
void silu_backward(float* dinp, const float* dout, const float* inp, size_t n);
void dropout_forward(float* out, const float* inp, const uint8_t* keep, float p, size_t n);
void copy_strided(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides);
void add_strided(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides);

// reductions.cu: sums over everything or over rows
void sum_rows(float* drow, const float* dout, size_t rows, size_t cols);
double sum(const float* x, size_t n);
double sum_squares(const float* x, size_t n);
void sum_squares_to(double* out, const float* x, size_t n);

// norms.cu
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, size_t N, size_t C,
                     float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, size_t N, size_t C);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, size_t N, size_t C, float eps);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* weight, const float* mean, const float* rstd, size_t N, size_t C);

// softmax_loss.cu: softmax, log-softmax, fused cross-entropy, KL
void softmax_forward(float* out, const float* inp, size_t N, size_t C);
void softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C);
void log_softmax_forward(float* out, const float* inp, size_t N, size_t C);
void log_softmax_backward(float* dinp, const float* dout, const float* out, size_t N, size_t C);
long cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, size_t N,
                           size_t V);
void cross_entropy_backward(float* dlogits, const float* logits, const float* lse, const int32_t* targets,
                            float dloss_per_row, size_t N, size_t V);
double kl_div_forward(const float* logp, const float* target, size_t N, size_t C);
void kl_div_backward(float* dlogp, const float* target, float scale, size_t N, size_t C);

// embedding_pool.cu: embedding, rotary embedding, SAPT's masked max-pool
void embedding_forward(float* out, const int32_t* ids, const float* table, size_t N, size_t C);
void embedding_forward_bf16(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C);
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C);
void rope_forward(float* out, const float* inp, const int32_t* positions, size_t B, size_t T, size_t H,
                  size_t D, float theta);
void rope_backward(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T, size_t H,
                   size_t D, float theta);
void maxpool_seq_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, size_t B,
                         size_t T, size_t C);
void maxpool_seq_backward(float* dinp, const float* dout, const int32_t* argmax, size_t B, size_t T, size_t C);

// attention.cu: flash-style fused attention, and the choice between it and attention_gemm.cu
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const float* pos_bias, const uint8_t* key_mask, AttentionShape s);
void attention_backward(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const float* pos_bias, const uint8_t* key_mask, AttentionShape s);

// attention_gemm.cu: the same through cuBLAS products over a stored (Hq, rows, Tk) score buffer
void attention_forward_gemm(float* out, float* lse, const float* q, const float* k, const float* v,
                            const float* pos_bias, const uint8_t* key_mask, AttentionShape s);
void attention_backward_gemm(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout, const float* q,
                             const float* k, const float* v, const float* out, const float* lse,
                             const float* pos_bias, const uint8_t* key_mask, AttentionShape s);

// adamw.cu
void adamw_step(float* param, const float* grad, float* m, float* v, size_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, int t);

}  // namespace cuda
