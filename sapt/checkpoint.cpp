// checkpoint.cpp — the loop checkpoint's JSON part and the file write. See checkpoint.h.
#include "sapt/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/device.h"
#include "engine/safetensors.h"
#include "tokenizer/model_proto.h"

using nlohmann::json;

// JSON has no NaN: a not-evaluated cell is null.
static json matrix_json(const std::vector<std::vector<double>>& m) {
    json rows = json::array();
    for (const auto& row : m) {
        json r = json::array();
        for (double v : row) r.push_back(std::isnan(v) ? json(nullptr) : json(v));
        rows.push_back(r);
    }
    return rows;
}

// A checkpoint may be damaged or hostile: every number is checked for its type and range before use
// (get<int> of a JSON float out of int range is undefined behaviour), and the shapes for consistency.
static int64_t integer_or_minus_one(const json& v) {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > (uint64_t)INT64_MAX)) return -1;
    return v.get<int64_t>();
}

static int64_t integer_at(const json& j, const char* key, int64_t max_value, const std::string& where) {
    const json& v = j.at(key);
    const int64_t value = integer_or_minus_one(v);
    if (value < 0 || value > max_value) {
        fail(where, std::string("loop.state: '") + key + "' must be an integer in 0.." + std::to_string(max_value) +
                        " (got " + v.dump().substr(0, 40) + ")");
    }
    return value;
}

// T rows (or, allow_empty, none) of at most T numbers; the matrix has exactly T in each row.
static void check_rows(const std::vector<std::vector<double>>& m, size_t T, bool per_stage_weights,
                       const std::string& where) {
    bool ok = m.size() == T || (per_stage_weights && m.empty());
    for (const auto& row : m) ok = ok && (per_stage_weights ? row.size() <= T : row.size() == T);
    if (!ok) {
        fail(where, std::string("loop.state: ") + (per_stage_weights ? "each stage's weights must be none or " : "the matrix must be ") +
                        std::to_string(T) + " rows of " + (per_stage_weights ? "at most " : "") + std::to_string(T) + " numbers");
    }
}

static std::vector<std::vector<double>> matrix_from(const json& rows, const std::string& what, const std::string& where) {
    if (!rows.is_array()) fail(where, "loop.state: " + what + " must be an array of rows");
    std::vector<std::vector<double>> m;
    for (const json& r : rows) {
        if (!r.is_array()) fail(where, "loop.state: " + what + " must be an array of rows");
        std::vector<double> row;
        for (const json& v : r) {
            if (!v.is_null() && !v.is_number()) fail(where, "loop.state: " + what + " holds a non-number");
            row.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
        }
        m.push_back(row);
    }
    return m;
}

std::string loop_state_to_json(const LoopState& loop) {
    json j;
    j["method"] = loop.method;
    j["tasks"] = loop.tasks;
    j["completed"] = loop.completed;
    j["matrix"] = matrix_json(loop.matrix);
    json weights = json::array();
    for (const auto& stage : loop.weights) weights.push_back(matrix_json(stage));
    j["weights"] = weights;
    json pseudo = json::array();
    for (const auto& samples : loop.pseudo) {
        json list = json::array();
        for (const Instance& s : samples) list.push_back({{"input", s.input}, {"prompt", s.prompt}});
        pseudo.push_back(list);
    }
    j["pseudo"] = pseudo;
    for (const PseudoQuality& q : loop.pseudo_quality) j["pseudo_quality"].push_back(pseudo_quality_to_json(q));
    j["in_task"] = loop.in_task;
    if (loop.in_task) {
        const TrainPosition& p = loop.position;
        j["position"] = {{"step", p.step}, {"epoch", p.epoch}, {"next_batch", p.next_batch},
                         {"micro_steps", p.micro_steps}, {"order", p.order}, {"data_rng", rng_to_string(p.data_rng)}};
    }
    j["global_rng"] = loop.global_rng;
    if (!loop.model_fingerprint.empty()) j["model_fingerprint"] = loop.model_fingerprint;
    if (!loop.tokenizer_fingerprint.empty()) j["tokenizer_fingerprint"] = loop.tokenizer_fingerprint;
    return j.dump();
}

LoopState loop_state_from_json(const std::string& text, const std::string& where) {
    LoopState loop;
    try {
        const json j = json::parse(text);
        loop.method = j.at("method").get<std::string>();
        loop.tasks = j.at("tasks").get<std::vector<std::string>>();
        const size_t T = loop.tasks.size();
        loop.completed = (int)integer_at(j, "completed", (int64_t)T, where);
        loop.matrix = matrix_from(j.at("matrix"), "matrix", where);
        check_rows(loop.matrix, T, false, where);
        for (const json& stage : j.at("weights")) {
            loop.weights.push_back(matrix_from(stage, "weights", where));
            check_rows(loop.weights.back(), T, true, where);
        }
        for (const json& list : j.at("pseudo")) {
            std::vector<Instance> samples;
            for (const json& s : list) {
                Instance instance;
                instance.index = (int)samples.size();
                instance.id = std::to_string(instance.index);
                instance.input = s.at("input").get<std::string>();
                instance.prompt = s.at("prompt").get<std::string>();
                instance.outputs = {""};
                samples.push_back(instance);
            }
            loop.pseudo.push_back(samples);
        }
        if (loop.weights.size() != T || loop.pseudo.size() != T) {
            fail(where, "loop.state: weights and pseudo must have one entry per task (expected " + std::to_string(T) +
                            ", got " + std::to_string(loop.weights.size()) + " and " + std::to_string(loop.pseudo.size()) + ")");
        }
        if (j.contains("pseudo_quality")) {  // absent in checkpoints written before it was measured
            for (const json& q : j.at("pseudo_quality")) loop.pseudo_quality.push_back(pseudo_quality_from_json(q, where));
        }
        loop.in_task = j.at("in_task").get<bool>();
        if (loop.in_task) {
            if (loop.completed >= (int)T) fail(where, "loop.state: in_task after the last task");
            const json& p = j.at("position");
            loop.position.step = integer_at(p, "step", INT64_MAX, where);
            loop.position.epoch = (int)integer_at(p, "epoch", INT32_MAX, where);
            loop.position.next_batch = (int)integer_at(p, "next_batch", INT32_MAX, where);
            loop.position.micro_steps = integer_at(p, "micro_steps", INT64_MAX, where);
            const json& order = p.at("order");
            if (!order.is_array()) fail(where, "loop.state: the data order must be an array");
            std::vector<bool> seen(order.size(), false);
            for (const json& v : order) {  // a permutation of 0..n-1: the trainer indexes examples with it
                const int64_t id = integer_or_minus_one(v);
                if (id < 0 || id >= (int64_t)order.size() || seen[(size_t)id]) {
                    fail(where, "loop.state: the data order must be a permutation of 0.." + std::to_string(order.size() - 1));
                }
                seen[(size_t)id] = true;
                loop.position.order.push_back((int)id);
            }
            loop.position.data_rng = rng_from_string(p.at("data_rng").get<std::string>(), where);
        }
        loop.global_rng = j.at("global_rng").get<std::string>();
        rng_from_string(loop.global_rng, where);  // checked now rather than after the model is set up
        if (j.contains("model_fingerprint")) loop.model_fingerprint = j.at("model_fingerprint").get<std::string>();
        if (j.contains("tokenizer_fingerprint")) loop.tokenizer_fingerprint = j.at("tokenizer_fingerprint").get<std::string>();
    } catch (const json::exception& e) {
        fail(where, std::string("malformed loop.state metadata (") + e.what() + ")");
    }
    return loop;
}

static uint64_t fnv1a(uint64_t hash, const void* data, size_t bytes) {
    const unsigned char* p = (const unsigned char*)data;
    for (size_t i = 0; i < bytes; i++) hash = (hash ^ p[i]) * 1099511628211ull;
    return hash;
}

static std::string hex(uint64_t hash) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)hash);
    return buf;
}

std::string model_fingerprint(const Model& model) {
    Model handles = model;  // model_weights wants a mutable model; this copies tensor handles only
    uint64_t hash = fnv1a(1469598103934665603ull, &handles.kind, sizeof(handles.kind));
    for (const NamedWeight& w : model_weights(handles)) {
        const Tensor& t = *w.tensor;
        hash = fnv1a(hash, w.name.data(), w.name.size() + 1);
        if (!t.defined()) continue;
        const int dtype = (int)t.dtype();
        hash = fnv1a(hash, &dtype, sizeof dtype);
        for (int64_t d : t.shape()) hash = fnv1a(hash, &d, sizeof d);
        const size_t element = dtype_size(t.dtype()), total = (size_t)t.numel() * element;
        const size_t edge = std::min(total, 64 * element);
        std::vector<unsigned char> bytes(edge);
        for (size_t from : {(size_t)0, total - edge}) {  // the first and the last values (on the host or a device)
            copy_bytes(bytes.data(), Device::CPU, (const char*)t.raw() + from, t.device(), edge);
            hash = fnv1a(hash, bytes.data(), edge);
        }
    }
    return hex(hash);
}

std::string tokenizer_fingerprint(const Tokenizer& tokenizer) {
    const std::string proto = serialize_model_proto(tokenizer.model);
    uint64_t hash = fnv1a(1469598103934665603ull, proto.data(), proto.size());
    return hex(fnv1a(hash, &tokenizer.n_extra_ids, sizeof tokenizer.n_extra_ids));
}

void save_loop_checkpoint(const std::string& path, const SaptState& state, const LoopState& loop,
                          const AdamW* optimizer, const std::vector<std::pair<std::string, Tensor>>& method_tensors,
                          const std::string& method_state) {
    std::vector<std::pair<std::string, Tensor>> tensors = sapt_tensors(state);
    if (optimizer) {
        for (auto& entry : adamw_state(*optimizer)) tensors.push_back(entry);
    }
    for (const auto& entry : method_tensors) tensors.push_back(entry);
    std::map<std::string, std::string> metadata = sapt_metadata(state);
    metadata["loop.state"] = loop_state_to_json(loop);
    if (!method_state.empty()) metadata["method.state"] = method_state;
    safetensors_save(path, tensors, metadata);
}
