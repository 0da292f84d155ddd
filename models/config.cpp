// config.cpp — config.json -> T5Config / LlamaConfig, with transformers-4.30 defaults and the checks
// that turn a config we cannot run into a clear error instead of a silently wrong model.
#include "models/config.h"

#include <climits>
#include <nlohmann/json.hpp>

#include "engine/error.h"

using json = nlohmann::json;

static json parse_json(const std::string& text, const std::string& where) {
    try {
        json j = json::parse(text);
        if (!j.is_object()) fail(where, "expected a JSON object at the top level");
        return j;
    } catch (const json::exception& e) {
        fail(where, std::string("not valid JSON (") + e.what() + ")");
    }
}

// Reads j[key] into `out` when present and not null; `required` makes absence an error.
template <typename Value>
static void read_field(const json& j, const char* key, Value& out, const std::string& where, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) fail(where, std::string("missing field \"") + key + "\"");
        return;
    }
    try {
        out = it->get<Value>();
    } catch (const json::exception&) {
        fail(where, std::string("field \"") + key + "\" has the wrong type (got " + it->dump() + ")");
    }
}

// Integer fields: a float (2.5) or a number outside int would otherwise be converted silently, or with
// undefined behaviour for a float beyond int's range.
static void read_field(const json& j, const char* key, int& out, const std::string& where, bool required) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) fail(where, std::string("missing field \"") + key + "\"");
        return;
    }
    if (!it->is_number_integer()) {
        fail(where, std::string("field \"") + key + "\" has the wrong type (expected an integer, got " + it->dump() + ")");
    }
    const bool fits = it->is_number_unsigned() ? it->get<uint64_t>() <= (uint64_t)INT_MAX
                                               : it->get<int64_t>() >= INT_MIN && it->get<int64_t>() <= INT_MAX;
    if (!fits) fail(where, std::string("field \"") + key + "\" is out of range (expected an int, got " + it->dump() + ")");
    out = (int)it->get<int64_t>();
}

static void check_positive(int value, const char* key, const std::string& where) {
    if (value <= 0) fail(where, std::string("\"") + key + "\" must be positive (got " + std::to_string(value) + ")");
}

ModelKind config_model_kind(const std::string& json_text, const std::string& where) {
    json j = parse_json(json_text, where);
    std::string model_type;
    read_field(j, "model_type", model_type, where, false);
    if (model_type == "t5") return ModelKind::T5;
    if (model_type == "llama") return ModelKind::Llama;
    if (model_type.empty()) {
        // Old configs without model_type: the field names tell the family apart.
        if (j.contains("d_model") && j.contains("d_kv")) return ModelKind::T5;
        if (j.contains("hidden_size") && j.contains("intermediate_size")) return ModelKind::Llama;
    }
    fail(where, "unsupported model_type (expected \"t5\" or \"llama\", got \"" + model_type + "\")");
}

T5Config t5_config_from_json(const std::string& json_text, const std::string& where) {
    json j = parse_json(json_text, where);
    T5Config c;
    read_field(j, "d_model", c.d_model, where, true);
    read_field(j, "d_kv", c.d_kv, where, true);
    read_field(j, "d_ff", c.d_ff, where, true);
    read_field(j, "num_heads", c.num_heads, where, true);
    read_field(j, "num_layers", c.num_layers, where, true);
    c.num_decoder_layers = c.num_layers;  // HF: num_decoder_layers defaults to num_layers
    read_field(j, "num_decoder_layers", c.num_decoder_layers, where, false);
    read_field(j, "vocab_size", c.vocab_size, where, true);
    read_field(j, "relative_attention_num_buckets", c.relative_attention_num_buckets, where, false);
    read_field(j, "relative_attention_max_distance", c.relative_attention_max_distance, where, false);
    read_field(j, "tie_word_embeddings", c.tie_word_embeddings, where, false);
    double eps = c.layer_norm_epsilon, dropout = c.dropout_rate;
    read_field(j, "layer_norm_epsilon", eps, where, false);
    read_field(j, "dropout_rate", dropout, where, false);
    c.layer_norm_epsilon = (float)eps;
    c.dropout_rate = (float)dropout;
    read_field(j, "pad_token_id", c.pad_token_id, where, false);
    read_field(j, "eos_token_id", c.eos_token_id, where, false);
    read_field(j, "decoder_start_token_id", c.decoder_start_token_id, where, false);

    // HF T5Config.__init__: "gated-gelu" means the tanh GELU (gelu_new); otherwise the last word
    // names the activation and a leading "gated" makes the FFN gated.
    std::string proj = "relu";
    read_field(j, "feed_forward_proj", proj, where, false);
    std::string act = proj;
    c.is_gated_act = false;
    if (proj.rfind("gated-", 0) == 0) {
        c.is_gated_act = true;
        act = proj.substr(6);
    }
    if (proj == "gated-gelu") act = "gelu_new";
    if (act != "relu" && act != "gelu_new" && act != "silu") {
        fail(where, "unsupported feed_forward_proj (expected relu, gated-gelu, gated-relu, silu or gated-silu, got \"" +
                        proj + "\")");
    }
    c.dense_act_fn = act;

    check_positive(c.d_model, "d_model", where);
    check_positive(c.d_kv, "d_kv", where);
    check_positive(c.d_ff, "d_ff", where);
    check_positive(c.num_heads, "num_heads", where);
    check_positive(c.num_layers, "num_layers", where);
    check_positive(c.num_decoder_layers, "num_decoder_layers", where);
    check_positive(c.vocab_size, "vocab_size", where);
    check_positive(c.relative_attention_num_buckets, "relative_attention_num_buckets", where);
    check_positive(c.relative_attention_max_distance, "relative_attention_max_distance", where);
    return c;
}

LlamaConfig llama_config_from_json(const std::string& json_text, const std::string& where) {
    json j = parse_json(json_text, where);
    LlamaConfig c;
    read_field(j, "hidden_size", c.hidden_size, where, true);
    read_field(j, "intermediate_size", c.intermediate_size, where, true);
    read_field(j, "num_attention_heads", c.num_attention_heads, where, true);
    read_field(j, "num_hidden_layers", c.num_hidden_layers, where, true);
    read_field(j, "vocab_size", c.vocab_size, where, true);
    c.num_key_value_heads = c.num_attention_heads;  // HF: None means no grouping
    read_field(j, "num_key_value_heads", c.num_key_value_heads, where, false);
    double eps = c.rms_norm_eps, theta = c.rope_theta;
    read_field(j, "rms_norm_eps", eps, where, false);
    read_field(j, "rope_theta", theta, where, false);
    c.rms_norm_eps = (float)eps;
    c.rope_theta = (float)theta;
    read_field(j, "max_position_embeddings", c.max_position_embeddings, where, false);
    read_field(j, "tie_word_embeddings", c.tie_word_embeddings, where, false);
    read_field(j, "bos_token_id", c.bos_token_id, where, false);
    read_field(j, "eos_token_id", c.eos_token_id, where, false);
    read_field(j, "pad_token_id", c.pad_token_id, where, false);

    std::string act = "silu";
    read_field(j, "hidden_act", act, where, false);
    if (act != "silu") fail(where, "unsupported hidden_act (expected \"silu\", got \"" + act + "\")");
    auto scaling = j.find("rope_scaling");
    if (scaling != j.end() && !scaling->is_null()) {
        fail(where, "rope_scaling is not supported (expected null, got " + scaling->dump() + ")");
    }

    check_positive(c.hidden_size, "hidden_size", where);
    check_positive(c.intermediate_size, "intermediate_size", where);
    check_positive(c.num_attention_heads, "num_attention_heads", where);
    check_positive(c.num_key_value_heads, "num_key_value_heads", where);
    check_positive(c.num_hidden_layers, "num_hidden_layers", where);
    check_positive(c.vocab_size, "vocab_size", where);
    if (c.hidden_size % c.num_attention_heads != 0) {
        fail(where, "hidden_size must be a multiple of num_attention_heads (got " + std::to_string(c.hidden_size) +
                        " and " + std::to_string(c.num_attention_heads) + ")");
    }
    if (c.num_attention_heads % c.num_key_value_heads != 0) {
        fail(where, "num_attention_heads must be a multiple of num_key_value_heads (got " +
                        std::to_string(c.num_attention_heads) + " and " + std::to_string(c.num_key_value_heads) + ")");
    }
    if (c.head_dim() % 2 != 0) fail(where, "RoPE needs an even head dim (got " + std::to_string(c.head_dim()) + ")");
    return c;
}
