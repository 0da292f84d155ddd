// pseudo_quality.cpp — the well-formed check, the routing share and their report forms. See pseudo_quality.h.
#include "sapt/pseudo_quality.h"

#include <cstdio>

#include "engine/autograd.h"
#include "engine/error.h"
#include "sapt/evaluate.h"

namespace {

const std::string kGen = "__gen__", kInp = "__inp__", kAns = "__ans__";

bool blank(const std::string& s, size_t begin, size_t end) {
    for (size_t i = begin; i < end && i < s.size(); i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return false;
    }
    return true;
}

size_t count(const std::string& text, const std::string& marker) {
    size_t n = 0;
    for (size_t pos = text.find(marker); pos != std::string::npos; pos = text.find(marker, pos + marker.size())) n++;
    return n;
}

std::string percent(double share) {
    if (std::isnan(share)) return "n/a";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.0f%%", 100.0 * share);
    return buf;
}

nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

}  // namespace

GeneratedCheck check_generated_text(const std::string& text, bool ended_with_eos) {
    GeneratedCheck check;
    const size_t inp = text.find(kInp), ans = text.find(kAns);
    if (!ended_with_eos) check.problem = "cut at the length limit";
    else if (count(text, kGen) > 0) check.problem = "__gen__ in the text";
    else if (inp == std::string::npos) check.problem = "no __inp__";
    else if (count(text, kInp) > 1) check.problem = "__inp__ twice";
    else if (count(text, kAns) > 1) check.problem = "__ans__ twice";
    else if (ans != std::string::npos && ans < inp) check.problem = "__ans__ before __inp__";
    else if (blank(text, 0, inp)) check.problem = "empty instruction";
    else if (blank(text, inp + kInp.size(), ans == std::string::npos ? text.size() : ans)) check.problem = "empty input";
    else if (ans != std::string::npos && blank(text, ans + kAns.size(), text.size())) check.problem = "empty answer";
    check.well_formed = check.problem.empty();
    return check;
}

double routing_share(const std::vector<std::vector<double>>& weights, int block) {
    if (weights.empty()) return std::nan("");
    int home = 0;
    for (const std::vector<double>& row : weights) {
        if (block < 0 || block >= (int)row.size()) {
            fail("routing_share", "block " + std::to_string(block) + " is not among the row's " +
                                      std::to_string(row.size()) + " blocks (expected 0.." +
                                      std::to_string((int)row.size() - 1) + ")");
        }
        size_t best = 0;
        for (size_t k = 1; k < row.size(); k++) {
            if (row[k] > row[best]) best = k;
        }
        home += (int)best == block;
    }
    return (double)home / (double)weights.size();
}

std::vector<std::vector<double>> pseudo_selection_weights(const Model& model, const SaptState& state,
                                                          const Tokenizer& tokenizer,
                                                          const std::vector<Instance>& samples,
                                                          const BatchingOptions& batching, int batch_size) {
    NoGradScope no_grad;
    const std::vector<EncodedExample> examples = encode_examples(samples, tokenizer, batching);
    std::vector<int> all(examples.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = (int)i;
    std::vector<std::vector<double>> rows;
    for (const std::vector<int>& batch_of : batch_rows(all, std::max(1, batch_size))) {
        const Batch batch = make_batch(examples, batch_of, batching, false);
        const Tensor weights = sapt_selection(state, model, batch.selection_ids, batch.selection_mask).weights;
        const std::vector<float> values = tensor_values(weights);  // (B, K), newest block first
        const size_t K = (size_t)weights.dim(1);
        for (size_t b = 0; b < batch_of.size(); b++) {
            std::vector<double> slots(values.begin() + (long)(b * K), values.begin() + (long)((b + 1) * K));
            rows.push_back(slots_to_task_order(slots));
        }
    }
    tape_clear();
    return rows;
}

PseudoQuality measure_pseudo_quality(const Model& model, const SaptState& state, const Tokenizer& tokenizer,
                                     int task, const std::string& name, const std::vector<Instance>& samples,
                                     const std::vector<GeneratedCheck>& checks, const BatchingOptions& batching,
                                     int batch_size) {
    PseudoQuality quality;
    quality.task = task;
    quality.name = name;
    quality.samples = (int)samples.size();
    if (!checks.empty()) {
        quality.well_formed = 0;
        for (const GeneratedCheck& check : checks) {
            if (check.well_formed) quality.well_formed++;
            else quality.problems[check.problem]++;
        }
    }
    quality.routed_when_made =
        routing_share(pseudo_selection_weights(model, state, tokenizer, samples, batching, batch_size), task);
    return quality;
}

std::string format_pseudo_quality(const PseudoQuality& q) {
    std::string out = "pseudo samples of T" + std::to_string(q.task + 1) + " " + q.name + ": ";
    if (q.well_formed < 0) {
        out += std::to_string(q.samples) + " read, not checked";
    } else {
        out += std::to_string(q.well_formed) + "/" + std::to_string(q.samples) + " well-formed";
        std::string problems;
        for (const auto& [problem, n] : q.problems) problems += (problems.empty() ? "" : ", ") + std::to_string(n) + " " + problem;
        if (!problems.empty()) out += " (" + problems + ")";
    }
    out += "; routed to block " + std::to_string(q.task + 1) + ": " + percent(q.routed_when_made) + " when made, " +
           percent(q.routed_at_end) + " at the end";
    return out;
}

std::string pseudo_quality_markdown(const std::vector<PseudoQuality>& tasks) {
    if (tasks.empty()) return "";
    std::string md =
        "Pseudo samples per task: well-formed = ended by EOS within the length limit, exactly one `__inp__`, no "
        "`__gen__`, at most one `__ans__` after it, non-empty instruction, input (and answer, when there is "
        "one). Routed home = the share whose largest selection weight is the task's own block, right after "
        "the task and at the end of the run.\n\n| task | samples | well-formed | routed home when made | routed "
        "home at the end |\n|---|---:|---:|---:|---:|\n";
    for (const PseudoQuality& q : tasks) {
        const std::string formed = q.well_formed < 0 ? "not checked"
                                                     : std::to_string(q.well_formed) + " (" +
                                                           percent((double)q.well_formed / std::max(1, q.samples)) + ")";
        md += "| T" + std::to_string(q.task + 1) + " " + q.name + " | " + std::to_string(q.samples) + " | " + formed +
              " | " + percent(q.routed_when_made) + " | " + percent(q.routed_at_end) + " |\n";
    }
    return md + "\n";
}

nlohmann::json pseudo_quality_to_json(const PseudoQuality& q) {
    return {{"task", q.task},
            {"name", q.name},
            {"samples", q.samples},
            {"well_formed", q.well_formed < 0 ? nlohmann::json(nullptr) : nlohmann::json(q.well_formed)},
            {"problems", q.problems},
            {"routed_when_made", number_or_null(q.routed_when_made)},
            {"routed_at_end", number_or_null(q.routed_at_end)}};
}

PseudoQuality pseudo_quality_from_json(const nlohmann::json& j, const std::string& where) {
    PseudoQuality q;
    try {
        q.task = j.at("task").get<int>();
        q.name = j.at("name").get<std::string>();
        q.samples = j.at("samples").get<int>();
        q.well_formed = j.at("well_formed").is_null() ? -1 : j.at("well_formed").get<int>();
        q.problems = j.at("problems").get<std::map<std::string, int>>();
        q.routed_when_made = j.at("routed_when_made").is_null() ? std::nan("") : j.at("routed_when_made").get<double>();
        q.routed_at_end = j.at("routed_at_end").is_null() ? std::nan("") : j.at("routed_at_end").get<double>();
    } catch (const nlohmann::json::exception& e) {
        fail(where, std::string("pseudo_quality: ") + e.what() + " (expected task, name, samples, well_formed, "
                                                                  "problems, routed_when_made, routed_at_end)");
    }
    if (q.task < 0 || q.samples < 0 || q.well_formed > q.samples) {
        fail(where, "pseudo_quality: counts out of range (expected task >= 0 and 0 <= well_formed <= samples, got task " +
                        std::to_string(q.task) + ", " + std::to_string(q.well_formed) + " of " + std::to_string(q.samples) + ")");
    }
    return q;
}
