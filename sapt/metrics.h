// metrics.h — exact match and ROUGE aggregated the way SAPT's compute_metrics / compute_grouped_metrics
// do it (×100, mean over instances, Python's round(x, 4)), plus the LLaMA answer extraction of
// skip_instructions. Single scores live in rouge.h; continual-learning scores in cl_scores.h.
// Not here: the cross-lingual (GPT-2 tokenizer) path, which SAPT never uses.
#pragma once
#include <string>
#include <vector>

// SQuAD-style normalization WITHOUT article removal: Python str.lower(), delete the 32 ASCII
// characters of string.punctuation (and nothing else: ’ « — stay), collapse Unicode whitespace.
std::string normalize_answer(const std::string& text);
bool exact_match(const std::string& prediction, const std::string& reference);

// Python's round(x, 4): the exact binary value rounded to 4 decimals, ties to even
// (1/128 · 100 = 0.78125 → 0.7812, where floor(x·1e4 + 0.5) would give 0.7813).
double python_round4(double x);

struct MetricScores {
    double exact_match = 0;  // percent, rounded to 4 decimals
    double rouge1 = 0;       // percent (F-measure), rounded
    double rougeL = 0;       // percent (F-measure), rounded; the official key is "eval_rougeL"
};

// Each prediction is scored against the best of its references (SuperNI's own evaluation: max over
// every gold output). Passing one reference per prediction reproduces SAPT's compute_metrics exactly,
// because SAPT's loader already drew a single label (see data/cl_benchmark.h, compat_official).
MetricScores compute_metrics(const std::vector<std::string>& predictions,
                             const std::vector<std::vector<std::string>>& references);
// Convenience: exactly one reference per prediction.
MetricScores compute_metrics_single(const std::vector<std::string>& predictions,
                                    const std::vector<std::string>& references);

// compute_grouped_metrics: the same metrics per group (task name), groups in first-seen order.
// SAPT reports them as "<metric>_for_<group>".
struct GroupMetrics {
    std::string group;
    MetricScores scores;
};
std::vector<GroupMetrics> compute_grouped_metrics(const std::vector<std::string>& predictions,
                                                  const std::vector<std::vector<std::string>>& references,
                                                  const std::vector<std::string>& groups);

// LLaMA answers (skip_instructions): the decoded prompt+generation is split on "Output:" and the last
// piece, stripped, is the prediction; without any "Output:" the prediction is "".
std::string answer_after_output_prefix(const std::string& decoded);
