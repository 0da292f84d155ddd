// pseudo_quality.h — how good a run's pseudo samples are, per task: the share that is well-formed (the
// generator wrote the format it was trained on) and where SALS routes them (the share whose largest
// selection weight is their own task's block), right after they were made and at the end of the run.
// Not here: making them (generator.h) or replaying them (trainer.h).
#pragma once
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/cl_benchmark.h"
#include "models/model.h"
#include "sapt/batching.h"
#include "sapt/sapt.h"

// Well-formed, precisely: the generated ids ended with EOS before the max_new_tokens limit, and the text
// has exactly one "__inp__", no "__gen__", at most one "__ans__" (after "__inp__"), a non-empty instruction
// before "__inp__", a non-empty input after it (up to "__ans__"), and after an "__ans__" a non-empty answer
// (the official generators learn "<definition>__inp__<input>", so an answer is rare). Empty means empty
// once surrounding whitespace is stripped.
struct GeneratedCheck {
    bool well_formed = false;
    std::string problem;  // "" when well-formed, else the first rule above that the sample breaks
};
GeneratedCheck check_generated_text(const std::string& text, bool ended_with_eos);

// weights (N, K): selection weights of N samples over K blocks in task order. The share (0..1) of rows
// whose largest weight (the first one on a tie) is at `block`; NaN for N = 0.
double routing_share(const std::vector<std::vector<double>>& weights, int block);

// Each sample's selection weights (N, K in task order) under the state as it is now; samples are batched
// as evaluation batches them.
std::vector<std::vector<double>> pseudo_selection_weights(const Model& model, const SaptState& state,
                                                          const Tokenizer& tokenizer,
                                                          const std::vector<Instance>& samples,
                                                          const BatchingOptions& batching, int batch_size);

// One task's pseudo samples.
struct PseudoQuality {
    int task = 0;               // index in the order; its own block is this one
    std::string name;
    int samples = 0;
    int well_formed = -1;       // -1: not checked (released samples read from --pseudo-dir)
    std::map<std::string, int> problems;  // how many samples broke each rule first
    double routed_when_made = std::nan("");  // routing_share right after the task (blocks 0..task)
    double routed_at_end = std::nan("");     // routing_share with every block of the finished run
};

// Counts `checks` (one per sample, empty for released samples) and routes the samples now.
PseudoQuality measure_pseudo_quality(const Model& model, const SaptState& state, const Tokenizer& tokenizer,
                                     int task, const std::string& name, const std::vector<Instance>& samples,
                                     const std::vector<GeneratedCheck>& checks, const BatchingOptions& batching,
                                     int batch_size);

// One line for the log and stdout: "pseudo samples of T1 topic: 18/20 well-formed (2 no __inp__), ...".
std::string format_pseudo_quality(const PseudoQuality& quality);
// A report.md section (a table, one row per task, and the definition) and its report.json form.
std::string pseudo_quality_markdown(const std::vector<PseudoQuality>& tasks);
nlohmann::json pseudo_quality_to_json(const PseudoQuality& quality);
PseudoQuality pseudo_quality_from_json(const nlohmann::json& j, const std::string& where);
