// t5.h — T5 (v1.0, v1.1, Flan) as in transformers 4.30: the weights of an encoder-decoder, its forward
// pass on the engine's ops (so backward comes from the tape), and the loss. The PET hook adapts q and v
// of every attention: encoder self, decoder self and decoder cross. Not here: loading (t5_weights.cpp,
// checkpoint.h), the cached step-by-step decoder used by greedy generation (generate.h).
#pragma once
#include <vector>

#include "engine/tensor.h"
#include "models/config.h"
#include "models/pet_hook.h"

struct T5Attention {
    Tensor q, k, v;                // (H*D, C)
    Tensor o;                      // (C, H*D)
    int site_q = -1, site_v = -1;  // PetHook sites of q and v
};

struct T5FeedForward {
    Tensor wi;          // (d_ff, C), ungated FFN
    Tensor wi_0, wi_1;  // (d_ff, C) each, gated FFN: act(wi_0 x) * (wi_1 x)
    Tensor wo;          // (C, d_ff)
};

struct T5Block {
    Tensor self_attn_norm;  // (C)
    T5Attention self_attn;
    Tensor cross_attn_norm;  // (C), decoder blocks only
    T5Attention cross_attn;  // decoder blocks only
    Tensor ffn_norm;         // (C)
    T5FeedForward ffn;
};

struct T5Model {
    T5Config config;
    Tensor shared;                 // (V, C) token embedding of both stacks
    Tensor lm_head;                // (V, C); undefined when tied (then `shared` is the head)
    Tensor encoder_relative_bias;  // (num_buckets, H), block 0's table, used by every encoder block
    Tensor decoder_relative_bias;  // (num_buckets, H)
    std::vector<T5Block> encoder, decoder;
    Tensor encoder_final_norm, decoder_final_norm;  // (C)
};

// Options of one forward. Dropout (config.dropout_rate) is applied where HF applies it when `training`;
// the one place we do not is the attention probabilities (the fused attention keeps no probabilities).
// recompute_layers: each block keeps only its input on the tape and runs again during backward
// (engine/autograd.h, recompute_in_backward); same losses and gradients, a fraction of the memory.
struct T5RunOptions {
    bool training = false;
    bool recompute_layers = false;
};

// The adapted projections, in site order: encoder blocks (self q, self v), then decoder blocks
// (self q, self v, cross q, cross v). Names are the HF module names ("...SelfAttention.q").
std::vector<AdaptedSite> t5_adapted_sites(const T5Config& config);

// ---- position bias (t5_position.cpp) -----------------------------------------------------------
// HF's _relative_position_bucket for relative_position = key_pos - query_pos.
int t5_relative_position_bucket(int relative_position, bool bidirectional, int num_buckets, int max_distance);
// table (num_buckets, H) -> bias (H, Tq, Tk) for queries at positions query_start .. query_start+Tq-1 and
// keys at 0 .. Tk-1.
Tensor t5_position_bias(const Tensor& table, const T5Config& config, bool bidirectional, int query_start, int Tq,
                        int Tk);

// ---- forward -------------------------------------------------------------------------------------
struct T5EncoderOutput {
    Tensor states;  // (B, P + Ts, C) after the final norm (P = soft-prompt length, 0 without one)
    Tensor mask;    // (B, P + Ts) U8: the key mask cross-attention must use
};

// input_ids (B, Ts) I32, attention_mask (B, Ts) U8 (1 = token). hidden_states, when given, receives
// HF's encoder_hidden_states: the embeddings, each block's output, and the final-norm output.
T5EncoderOutput t5_encode(const T5Model& model, const Tensor& input_ids, const Tensor& attention_mask,
                          const PetHook* hook, const T5RunOptions& options,
                          std::vector<Tensor>* hidden_states = nullptr);

// decoder_input_ids (B, Tt) I32 -> logits (B, Tt, V). Decoder self-attention is causal only (no padding
// mask, as in HF when no decoder_attention_mask is given).
Tensor t5_decode(const T5Model& model, const Tensor& decoder_input_ids, const T5EncoderOutput& encoded,
                 const PetHook* hook, const T5RunOptions& options, std::vector<Tensor>* hidden_states = nullptr);

// labels (B, Tt) I32 with -100 on padding -> HF's decoder_input_ids: shifted right, start id first,
// -100 replaced by pad.
Tensor t5_shift_right(const Tensor& labels, const T5Config& config);

// Mean cross-entropy of logits (B, Tt, V) against labels (B, Tt), ignoring -100.
Tensor t5_loss(const Tensor& logits, const Tensor& labels);

// ---- pieces shared with the cached decoder of generate.cpp ------------------------------------------
// Self- or cross-attention sublayer output (before the residual add) from precomputed k, v (B, Tk, H, D).
Tensor t5_attention_core(const T5Model& model, const T5Attention& attn, const Tensor& x, const Tensor& k,
                         const Tensor& v, const Tensor& pos_bias, const Tensor& key_mask, bool causal,
                         const PetHook* hook);
// k and v (B, Tk, H, D) of `kv` (B, Tk, C); v carries the hook's delta.
void t5_keys_values(const T5Model& model, const T5Attention& attn, const Tensor& kv, const PetHook* hook, Tensor* k,
                    Tensor* v);
Tensor t5_feed_forward(const T5Model& model, const T5FeedForward& ffn, const Tensor& x, const T5RunOptions& options);
// Final decoder hidden states (B, T, C) after the final norm -> logits (B, T, V), with the tied rescale;
// (B, T, V + E) with the hook's extra_vocab rows.
Tensor t5_logits(const T5Model& model, const Tensor& decoder_states, const PetHook* hook);
