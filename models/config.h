// config.h — the hyper-parameters of the two model families, read from a Hugging Face config.json.
// Only the fields the math depends on are kept; defaults are those of transformers 4.30 so that a
// config.json that omits a field means what it means to HF. Not here: weights (checkpoint.h).
#pragma once
#include <string>

// T5 v1.0 (t5-large), v1.1 and Flan-T5.
struct T5Config {
    int d_model = 512;  // C
    int d_kv = 64;      // D (per head)
    int d_ff = 2048;
    int num_heads = 8;   // H
    int num_layers = 6;  // encoder blocks
    int num_decoder_layers = 6;
    int vocab_size = 32128;  // V
    int relative_attention_num_buckets = 32;
    int relative_attention_max_distance = 128;
    std::string dense_act_fn = "relu";  // "relu", "gelu_new" (tanh GELU) or "silu"
    bool is_gated_act = false;          // FFN wo(act(wi_0 x) * wi_1 x) instead of wo(act(wi x))
    bool tie_word_embeddings = true;    // lm_head = shared, and the d_model^-0.5 rescale before it
    float layer_norm_epsilon = 1e-6f;
    float dropout_rate = 0.1f;
    int pad_token_id = 0;
    int eos_token_id = 1;
    int decoder_start_token_id = 0;
};

// LLaMA / LLaMA-2.
struct LlamaConfig {
    int hidden_size = 4096;  // C
    int intermediate_size = 11008;
    int num_attention_heads = 32;  // H
    int num_key_value_heads = 32;  // Hkv (grouped-query attention when < H)
    int num_hidden_layers = 32;
    int vocab_size = 32000;  // V
    float rms_norm_eps = 1e-6f;
    float rope_theta = 10000.0f;
    int max_position_embeddings = 2048;
    bool tie_word_embeddings = false;  // llama2.c checkpoints with a shared classifier
    int bos_token_id = 1;
    int eos_token_id = 2;
    int pad_token_id = 0;  // HF configs often say null; 0 is what we pad with then
    int head_dim() const { return hidden_size / num_attention_heads; }
};

enum class ModelKind { T5, Llama };

// Parses a config.json. `where` names the file in error messages. Throws sapt_error on a missing
// required field, an unsupported architecture or activation, or inconsistent sizes.
ModelKind config_model_kind(const std::string& json_text, const std::string& where);
T5Config t5_config_from_json(const std::string& json_text, const std::string& where);
LlamaConfig llama_config_from_json(const std::string& json_text, const std::string& where);
