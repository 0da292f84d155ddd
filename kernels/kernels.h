// kernels.h — the backend interface: every numeric kernel sapt.cpp runs, as plain functions on raw pointers
// and sizes, declared once, as the fields of struct Kernels. Each backend fills one table by field name (the
// oracle kernels/cpu/reference.cpp in plain loops, the fast CPU one, CUDA); engine/backend.cpp registers it with
// its memory functions (docs/PORTING.md). Nothing here allocates, knows about autograd, or checks user input.
//
// Conventions. All matrices are row-major and contiguous unless a leading dimension says otherwise.
// Letters: B batch, T sequence (Tq queries, Tk keys), C channels, H heads (Hkv key/value heads), D head
// dim, V vocab, N rows (= B*T when flattened), K tasks. Floats are f32 unless the name says bf16.
// "accumulate" arguments: backward kernels ADD into parameter gradients (dweight, dbias, dtable) so that
// gradients accumulate across uses; input gradients (dinp) are ADDED too, so callers zero them first.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

// bf16 = the top 16 bits of an IEEE f32. Stored as uint16_t so that no compiler extension is needed.
typedef uint16_t bf16;

// Masked attention scores are set to exactly -FLT_MAX, as HF's transformers 4.30 does (it clamps the
// additive mask to finfo.min). A query row whose keys are all masked therefore gets a uniform softmax
// over all Tk keys — LLaMA's left-padding rows depend on that.
constexpr float kMaskedScore = -3.4028234663852886e38f;

// How the products of a GEMM are formed, where a backend offers a choice (cpu_set_gemm_precision in
// kernels/cpu/gemm.h, cuda_set_gemm_precision in kernels/cuda/cuda_backend.h):
//   F32  f32 operands, exact products (the default and the conformance tests' mode);
//   TF32 tensor-core products of 10-bit mantissas, f32 accumulation (CUDA only);
//   BF16 the activation operand of gemm_bf16b rounded to bf16 to meet the frozen bf16 weight, products of
//        two bf16 (exact in f32), f32 accumulation.
enum class GemmPrecision { F32, TF32, BF16 };

struct AttentionShape {
    int B, Tq, Tk, Hq, Hkv, D;  // Hq % Hkv == 0: query head h reads key/value head h / (Hq / Hkv)
    float scale;                // multiplies q.k (T5: 1, LLaMA: 1/sqrt(D))
    bool causal;                // key k is masked for query q when k > q + (Tk - Tq)
};

struct Kernels {
    const char* name;

    // ---- conversions ----------------------------------------------------------------------------
    void (*bf16_to_f32)(float* out, const bf16* inp, size_t n);
    void (*f32_to_bf16)(bf16* out, const float* inp, size_t n);  // round to nearest even

    // ---- GEMM: C = alpha * op(A) * op(B) + beta * C -------------------------------------------------
    // op(A) is (M, K), op(B) is (K, N), C is (M, N). trans_a: A is stored (K, M); trans_b: B stored (N, K).
    // Batched: `batch` independent products, operand i at base + i * stride_* (stride 0 = shared operand).
    void (*gemm)(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                 const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);
    void (*gemm_batched)(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                         const float* A, int lda, long stride_a, const float* B, int ldb, long stride_b,
                         float beta, float* C, int ldc, long stride_c, int batch);
    // Frozen bf16 weights: B is bf16, converted on the fly; used for x W^T with W (N, K) bf16 (trans_b).
    void (*gemm_bf16b)(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                       const float* A, int lda, const bf16* B, int ldb, float beta, float* C, int ldc);

    // ---- elementwise (n elements) ---------------------------------------------------------------
    void (*add)(float* out, const float* a, const float* b, size_t n);
    void (*mul)(float* out, const float* a, const float* b, size_t n);
    void (*scale)(float* out, const float* a, float s, size_t n);
    void (*axpy)(float* y, float alpha, const float* x, size_t n);  // y += alpha * x
    void (*fill)(float* out, float value, size_t n);
    // Row broadcast: out[r, c] = a[r, c] (+|*) row[c] for r < rows, c < cols.
    void (*add_row)(float* out, const float* a, const float* row, size_t rows, size_t cols);
    void (*mul_row)(float* out, const float* a, const float* row, size_t rows, size_t cols);
    // drow[c] += sum_r dout[r, c] (the gradient of a broadcast bias).
    void (*sum_rows)(float* drow, const float* dout, size_t rows, size_t cols);
    // Returns sum of x (double accumulation, so that loss sums are stable).
    double (*sum)(const float* x, size_t n);
    double (*sum_squares)(const float* x, size_t n);

    // ---- activations: forward out = f(inp); backward dinp += dout * f'(inp) ---------------------
    void (*relu_forward)(float* out, const float* inp, size_t n);
    void (*relu_backward)(float* dinp, const float* dout, const float* inp, size_t n);
    // GELU, tanh approximation (HF "gelu_new"): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    void (*gelu_forward)(float* out, const float* inp, size_t n);
    void (*gelu_backward)(float* dinp, const float* dout, const float* inp, size_t n);
    void (*silu_forward)(float* out, const float* inp, size_t n);
    void (*silu_backward)(float* dinp, const float* dout, const float* inp, size_t n);
    // Dropout with a precomputed keep mask (0 or 1 per element; the engine's RNG draws it, so every
    // backend drops the same elements): out = inp * mask / (1 - p). Backward is the same with dout.
    void (*dropout_forward)(float* out, const float* inp, const uint8_t* keep, float p, size_t n);

    // ---- layout: out (contiguous, `shape`) gets inp at sum(idx[i] * inp_strides[i]) -------------
    // Transpose, permute, slice and concat are all this one copy with other strides and offsets.
    // shape and inp_strides are host arrays of ndim longs (strides in elements, may be 0 or negative).
    void (*copy_strided)(float* out, const float* inp, int ndim, const long* shape, const long* inp_strides);
    // The backward of copy_strided: dinp[sum(idx * inp_strides)] += dout[idx].
    void (*add_strided)(float* dinp, const float* dout, int ndim, const long* shape, const long* inp_strides);

    // ---- softmax over the last axis of (N, C) ---------------------------------------------------
    void (*softmax_forward)(float* out, const float* inp, size_t N, size_t C);
    void (*softmax_backward)(float* dinp, const float* dout, const float* out, size_t N, size_t C);
    void (*log_softmax_forward)(float* out, const float* inp, size_t N, size_t C);
    void (*log_softmax_backward)(float* dinp, const float* dout, const float* out, size_t N, size_t C);

    // ---- normalisation over the last axis of (N, C) ---------------------------------------------
    // RMSNorm (T5, LLaMA): out = inp / sqrt(mean(inp^2) + eps) * weight. rstd (N) saved for backward.
    void (*rmsnorm_forward)(float* out, float* rstd, const float* inp, const float* weight,
                            size_t N, size_t C, float eps);
    // dweight may be null (frozen gain).
    void (*rmsnorm_backward)(float* dinp, float* dweight, const float* dout, const float* inp,
                             const float* weight, const float* rstd, size_t N, size_t C);
    // LayerNorm with affine gain and bias; mean and rstd (N) saved. dweight / dbias may be null.
    void (*layernorm_forward)(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                              const float* bias, size_t N, size_t C, float eps);
    void (*layernorm_backward)(float* dinp, float* dweight, float* dbias, const float* dout,
                               const float* inp, const float* weight, const float* mean,
                               const float* rstd, size_t N, size_t C);

    // ---- embedding: out (N, C) = table[ids[n]] ; backward scatter-adds rows into dtable -----------
    void (*embedding_forward)(float* out, const int32_t* ids, const float* table, size_t N, size_t C);
    void (*embedding_forward_bf16)(float* out, const int32_t* ids, const bf16* table, size_t N, size_t C);
    void (*embedding_backward)(float* dtable, const float* dout, const int32_t* ids, size_t N, size_t C);

    // ---- rotary position embedding (LLaMA, HF rotate-half convention) on x (B, T, H, D) ------------
    // angle = positions[b, t] * theta^(-2i/D) for i < D/2, applied to the pair (x[i], x[i + D/2]):
    // out = x cos + rotate_half(x) sin. Backward rotates by -angle (the transpose), adding into dinp.
    void (*rope_forward)(float* out, const float* inp, const int32_t* positions, size_t B, size_t T,
                         size_t H, size_t D, float theta);
    void (*rope_backward)(float* dinp, const float* dout, const int32_t* positions, size_t B, size_t T,
                          size_t H, size_t D, float theta);

    // ---- SAPT's query: max over the sequence (B, T, C) -> (B, C) ---------------------------------
    // mask (B, T) may be null (= every position counts, the official behaviour); argmax (B, C) saved.
    // Ties keep the first position; a batch row with every position masked gets out 0 and argmax -1.
    void (*maxpool_seq_forward)(float* out, int32_t* argmax, const float* inp, const uint8_t* mask,
                                size_t B, size_t T, size_t C);
    void (*maxpool_seq_backward)(float* dinp, const float* dout, const int32_t* argmax,
                                 size_t B, size_t T, size_t C);

    // ---- fused attention ---------------------------------------------------------------------
    // q (B, Tq, Hq, D), k and v (B, Tk, Hkv, D), out (B, Tq, Hq, D); lse (B, Hq, Tq) = log-sum-exp of each
    // score row, saved so that backward recomputes the probabilities instead of storing (Tq, Tk) of them.
    // score = scale * q.k + pos_bias[h, q, k] (pos_bias (Hq, Tq, Tk), may be null); the score is
    // kMaskedScore where key_mask[b, k] == 0 (key_mask (B, Tk), may be null) or where causal masks it.
    void (*attention_forward)(float* out, float* lse, const float* q, const float* k, const float* v,
                              const float* pos_bias, const uint8_t* key_mask, AttentionShape s);
    // Adds into dq, dk, dv and (when not null) dpos_bias (Hq, Tq, Tk, summed over the batch).
    // A masked score is a constant: no gradient reaches q, k or pos_bias through it. A fully masked row
    // (its lse rounds to kMaskedScore) has probabilities 1/Tk: only dv receives dout / Tk from it.
    void (*attention_backward)(float* dq, float* dk, float* dv, float* dpos_bias, const float* dout,
                               const float* q, const float* k, const float* v, const float* out,
                               const float* lse, const float* pos_bias, const uint8_t* key_mask,
                               AttentionShape s);

    // ---- losses --------------------------------------------------------------------------------
    // Cross-entropy fused with log-softmax over logits (N, V); rows whose target is -100 are ignored.
    // losses (N) gets -log p[target] (0 on ignored rows); lse (N) saved. Returns the count of
    // non-ignored rows. No (N, V) probabilities are kept. lse is written for ignored rows too.
    long (*cross_entropy_forward)(float* losses, float* lse, const float* logits, const int32_t* targets,
                                  size_t N, size_t V);
    // dlogits += dloss_per_row * (softmax - onehot) for non-ignored rows; dloss_per_row is the same
    // for every row (the mean's 1 / count times the upstream gradient).
    void (*cross_entropy_backward)(float* dlogits, const float* logits, const float* lse,
                                   const int32_t* targets, float dloss_per_row, size_t N, size_t V);
    // KL(target || p) with logp = log p given, summed: sum_{n,c} t (log t - logp), terms with t == 0
    // count 0 (torch KLDivLoss). batchmean = divide by N, done by the caller.
    double (*kl_div_forward)(const float* logp, const float* target, size_t N, size_t C);
    // dlogp += -target * scale.
    void (*kl_div_backward)(float* dlogp, const float* target, float scale, size_t N, size_t C);

    // ---- optimizer ---------------------------------------------------------------------------
    // torch.optim.AdamW, one step t (1-based) over n parameters: decoupled decay p -= lr*wd*p first,
    // then m, v moments, bias corrections 1-beta^t, p -= lr * mhat / (sqrt(vhat) + eps).
    void (*adamw_step)(float* param, const float* grad, float* m, float* v, size_t n, double lr,
                       double beta1, double beta2, double eps, double weight_decay, int t);

    // ---- reductions that stay on the device ----------------------------------------------------
    // *out = sum of x^2 in double, written to `out` in the backend's own memory: nothing returns to the
    // host and nothing waits. The training step writes one per gradient into an array and reads the
    // array back once, for the non-finite check and the clipping norm together.
    void (*sum_squares_to)(double* out, const float* x, size_t n);
};

// Every field of struct Kernels by name, in the order of the struct: the one list that lets a backend declare its
// kernels from the fields above instead of repeating each signature. In the backend's namespace,
//     namespace fast { SAPT_KERNEL_NAMES(SAPT_DECLARE_KERNEL) }
// declares fast::add, fast::gelu_forward, ... with exactly the type of their field, so that a definition with
// another signature fails to link instead of filling the table. The conformance test walks the same list
// (kernel_names) to require that every kernel of every registered table is set and was compared.
// (A macro because C++17 cannot loop over a struct's fields. A field missing from the list fails a
// static_assert in kernels/kernels.cpp; a name that is no field fails to compile.)
#define SAPT_KERNEL_NAMES(X)                                                                                       \
    X(bf16_to_f32) X(f32_to_bf16) X(gemm) X(gemm_batched) X(gemm_bf16b) X(add) X(mul) X(scale) X(axpy) X(fill)    \
    X(add_row) X(mul_row) X(sum_rows) X(sum) X(sum_squares) X(relu_forward) X(relu_backward) X(gelu_forward)       \
    X(gelu_backward) X(silu_forward) X(silu_backward) X(dropout_forward) X(copy_strided) X(add_strided)            \
    X(softmax_forward) X(softmax_backward) X(log_softmax_forward) X(log_softmax_backward) X(rmsnorm_forward)       \
    X(rmsnorm_backward) X(layernorm_forward) X(layernorm_backward) X(embedding_forward)                            \
    X(embedding_forward_bf16) X(embedding_backward) X(rope_forward) X(rope_backward) X(maxpool_seq_forward)        \
    X(maxpool_seq_backward) X(attention_forward) X(attention_backward) X(cross_entropy_forward)                    \
    X(cross_entropy_backward) X(kl_div_forward) X(kl_div_backward) X(adamw_step) X(sum_squares_to)
#define SAPT_DECLARE_KERNEL(field) std::remove_pointer_t<decltype(Kernels::field)> field;

// The field names as strings, in the same order (kernels/kernels.cpp), and how many there are.
extern const char* const kernel_names[];
extern const int n_kernels;
// The names of the kernels `table` leaves unset (null): empty for a complete table.
std::vector<std::string> kernels_missing(const Kernels& table);

// The CPU tables, which every build has. cpu_reference_kernels is the oracle; cpu_kernels is the fast CPU
// backend. A GPU backend's table is declared in its own folder (cuda_kernels: kernels/cuda/cuda_backend.h).
extern const Kernels cpu_reference_kernels;
extern const Kernels cpu_kernels;
