// checkpoint.cpp — the loop checkpoint's JSON part and the file write. See checkpoint.h.
#include "sapt/checkpoint.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/safetensors.h"

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

static std::vector<std::vector<double>> matrix_from(const json& rows) {
    std::vector<std::vector<double>> m;
    for (const json& r : rows) {
        std::vector<double> row;
        for (const json& v : r) row.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN() : v.get<double>());
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
    j["in_task"] = loop.in_task;
    if (loop.in_task) {
        const TrainPosition& p = loop.position;
        j["position"] = {{"step", p.step}, {"epoch", p.epoch}, {"next_batch", p.next_batch},
                         {"micro_steps", p.micro_steps}, {"order", p.order}, {"data_rng", rng_to_string(p.data_rng)}};
    }
    j["global_rng"] = loop.global_rng;
    return j.dump();
}

LoopState loop_state_from_json(const std::string& text, const std::string& where) {
    LoopState loop;
    try {
        const json j = json::parse(text);
        loop.method = j.at("method").get<std::string>();
        loop.tasks = j.at("tasks").get<std::vector<std::string>>();
        loop.completed = j.at("completed").get<int>();
        loop.matrix = matrix_from(j.at("matrix"));
        for (const json& stage : j.at("weights")) loop.weights.push_back(matrix_from(stage));
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
        loop.in_task = j.at("in_task").get<bool>();
        if (loop.in_task) {
            const json& p = j.at("position");
            loop.position.step = p.at("step").get<int64_t>();
            loop.position.epoch = p.at("epoch").get<int>();
            loop.position.next_batch = p.at("next_batch").get<int>();
            loop.position.micro_steps = p.at("micro_steps").get<int64_t>();
            loop.position.order = p.at("order").get<std::vector<int>>();
            loop.position.data_rng = rng_from_string(p.at("data_rng").get<std::string>(), where);
        }
        loop.global_rng = j.at("global_rng").get<std::string>();
    } catch (const json::exception& e) {
        fail(where, std::string("malformed loop.state metadata (") + e.what() + ")");
    }
    return loop;
}

void save_loop_checkpoint(const std::string& path, const SaptState& state, const LoopState& loop,
                          const AdamW* optimizer) {
    std::vector<std::pair<std::string, Tensor>> tensors = sapt_tensors(state);
    if (optimizer) {
        for (auto& entry : adamw_state(*optimizer)) tensors.push_back(entry);
    }
    std::map<std::string, std::string> metadata = sapt_metadata(state);
    metadata["loop.state"] = loop_state_to_json(loop);
    safetensors_save(path, tensors, metadata);
}
