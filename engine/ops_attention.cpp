// ops_attention.cpp — multi-head attention as one fused op: softmax(scale q k^T + pos_bias, masked) v.
// The (Tq, Tk) probabilities are never stored: the forward saves one log-sum-exp per score row and the
// backward kernel recomputes the probabilities from it (the flash-attention trade of FLOPs for memory).
// Covers T5 (scale 1, relative position bias, padding mask) and LLaMA (1/sqrt(D), causal, GQA).
#include "engine/ops_common.h"

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& pos_bias, const Tensor& key_mask,
                 float scale, bool causal) {
    const char* op = "attention";
    check_f32(op, q, "q");
    check_f32(op, k, "k");
    check_f32(op, v, "v");
    check_same_device(op, {&q, &k, &v, &pos_bias, &key_mask});
    if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
        fail(op, "q, k, v must be (B, T, H, D) (got " + shape_str(q.shape()) + ", " + shape_str(k.shape()) + ", " +
                     shape_str(v.shape()) + ")");
    }
    AttentionShape s;
    s.B = (int)q.dim(0);
    s.Tq = (int)q.dim(1);
    s.Hq = (int)q.dim(2);
    s.D = (int)q.dim(3);
    s.Tk = (int)k.dim(1);
    s.Hkv = (int)k.dim(2);
    s.scale = scale;
    s.causal = causal;
    if (k.shape() != v.shape() || k.dim(0) != s.B || k.dim(3) != s.D || s.Hkv == 0 || s.Hq % s.Hkv != 0) {
        fail(op, "k and v must be (B, Tk, Hkv, D) with Hq a multiple of Hkv (got q " + shape_str(q.shape()) + ", k " +
                     shape_str(k.shape()) + ", v " + shape_str(v.shape()) + ")");
    }
    if (pos_bias.defined()) {
        check_f32(op, pos_bias, "pos_bias");
        if (pos_bias.shape() != std::vector<int64_t>{s.Hq, s.Tq, s.Tk}) {
            fail(op, "pos_bias must be (Hq, Tq, Tk) = " + shape_str({s.Hq, s.Tq, s.Tk}) + " (got " +
                         shape_str(pos_bias.shape()) + ")");
        }
    }
    if (key_mask.defined()) {
        check_dtype(op, key_mask, DType::U8, "key_mask");
        if (key_mask.shape() != std::vector<int64_t>{s.B, s.Tk}) {
            fail(op, "key_mask must be (B, Tk) = " + shape_str({s.B, s.Tk}) + " (got " + shape_str(key_mask.shape()) + ")");
        }
    }
    const float* bias_data = pos_bias.defined() ? pos_bias.f32() : nullptr;
    const uint8_t* mask_data = key_mask.defined() ? key_mask.u8() : nullptr;
    Tensor out = tensor_empty(q.shape(), DType::F32, q.device());
    Tensor lse = tensor_empty({s.B, s.Hq, s.Tq}, DType::F32, q.device());
    kernels_for(q.device()).attention_forward(out.f32(), lse.f32(), q.f32(), k.f32(), v.f32(), bias_data, mask_data, s);

    if (needs_grad({&q, &k, &v, &pos_bias})) {
        record_backward(op, out, [q, k, v, pos_bias, key_mask, out, lse, s]() {
            // The kernel adds into all three of dq, dk, dv; a constant input gets a throwaway buffer.
            Tensor dq_scratch = q.requires_grad() ? Tensor{} : scratch_like(q);
            Tensor dk_scratch = k.requires_grad() ? Tensor{} : scratch_like(k);
            Tensor dv_scratch = v.requires_grad() ? Tensor{} : scratch_like(v);
            float* dq = q.requires_grad() ? q.grad() : dq_scratch.f32();
            float* dk = k.requires_grad() ? k.grad() : dk_scratch.f32();
            float* dv = v.requires_grad() ? v.grad() : dv_scratch.f32();
            kernels_for(q.device()).attention_backward(dq, dk, dv, grad_or_null(pos_bias), out.grad(), q.f32(), k.f32(),
                                                       v.f32(), out.f32(), lse.f32(),
                                                       pos_bias.defined() ? pos_bias.f32() : nullptr,
                                                       key_mask.defined() ? key_mask.u8() : nullptr, s);
        });
    }
    return out;
}
