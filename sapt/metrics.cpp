// metrics.cpp — see metrics.h. Sums run left to right in doubles, as Python's += loop does, so the
// aggregated values equal the official ones bit for bit before and after rounding.
#include "sapt/metrics.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "data/python_text.h"
#include "engine/error.h"
#include "sapt/rouge.h"

std::string normalize_answer(const std::string& text) {
    static const char* punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";  // Python's string.punctuation
    std::string lower = python_lower(text), kept;
    kept.reserve(lower.size());
    for (char c : lower) {
        if (c == '\0' || !std::strchr(punctuation, c)) kept.push_back(c);
    }
    std::string joined;
    for (const std::string& word : python_split(kept)) {
        if (!joined.empty()) joined.push_back(' ');
        joined += word;
    }
    return joined;
}

bool exact_match(const std::string& prediction, const std::string& reference) {
    return normalize_answer(prediction) == normalize_answer(reference);
}

double python_round4(double x) {
    // glibc's printf converts the exact binary value and breaks exact ties to even, like CPython's
    // round(), which uses the correctly rounded dtoa.
    char buf[400];
    std::snprintf(buf, sizeof(buf), "%.4f", x);
    return std::strtod(buf, nullptr);
}

MetricScores compute_metrics(const std::vector<std::string>& predictions,
                             const std::vector<std::vector<std::string>>& references) {
    if (predictions.size() != references.size()) {
        fail("compute_metrics", "one reference list per prediction (expected " + std::to_string(predictions.size()) +
                                    " reference lists, got " + std::to_string(references.size()) + ")");
    }
    if (predictions.empty()) fail("compute_metrics", "no predictions to score (expected at least 1, got 0)");
    long exact_matches = 0;
    double rouge1_sum = 0, rougeL_sum = 0;
    for (size_t i = 0; i < predictions.size(); i++) {
        if (references[i].empty()) fail("compute_metrics", "prediction " + std::to_string(i) + " has no reference");
        std::vector<std::string> prediction_tokens = rouge_tokenize(predictions[i]);
        bool best_match = false;
        double best_rouge1 = 0, best_rougeL = 0;
        for (size_t r = 0; r < references[i].size(); r++) {
            std::vector<std::string> reference_tokens = rouge_tokenize(references[i][r]);
            bool match = exact_match(predictions[i], references[i][r]);
            double r1 = rouge1_from_tokens(prediction_tokens, reference_tokens).f;
            double rl = rougeL_from_tokens(prediction_tokens, reference_tokens).f;
            best_match = r == 0 ? match : (best_match || match);
            best_rouge1 = r == 0 ? r1 : std::max(best_rouge1, r1);
            best_rougeL = r == 0 ? rl : std::max(best_rougeL, rl);
        }
        exact_matches += best_match ? 1 : 0;
        rouge1_sum += best_rouge1;
        rougeL_sum += best_rougeL;
    }
    double n = (double)predictions.size();
    MetricScores s;
    s.exact_match = python_round4(100.0 * (double)exact_matches / n);
    s.rouge1 = python_round4(100.0 * rouge1_sum / n);
    s.rougeL = python_round4(100.0 * rougeL_sum / n);
    return s;
}

MetricScores compute_metrics_single(const std::vector<std::string>& predictions,
                                    const std::vector<std::string>& references) {
    std::vector<std::vector<std::string>> wrapped;
    wrapped.reserve(references.size());
    for (const auto& r : references) wrapped.push_back({r});
    return compute_metrics(predictions, wrapped);
}

std::vector<GroupMetrics> compute_grouped_metrics(const std::vector<std::string>& predictions,
                                                  const std::vector<std::vector<std::string>>& references,
                                                  const std::vector<std::string>& groups) {
    if (predictions.size() != references.size() || predictions.size() != groups.size()) {
        fail("compute_grouped_metrics", "predictions, references and groups differ in length (got " +
                                            std::to_string(predictions.size()) + ", " +
                                            std::to_string(references.size()) + ", " + std::to_string(groups.size()) + ")");
    }
    std::vector<std::string> order;
    std::unordered_map<std::string, std::vector<size_t>> members;
    for (size_t i = 0; i < groups.size(); i++) {
        auto& list = members[groups[i]];
        if (list.empty()) order.push_back(groups[i]);
        list.push_back(i);
    }
    std::vector<GroupMetrics> results;
    for (const std::string& group : order) {
        std::vector<std::string> group_predictions;
        std::vector<std::vector<std::string>> group_references;
        for (size_t i : members[group]) {
            group_predictions.push_back(predictions[i]);
            group_references.push_back(references[i]);
        }
        results.push_back({group, compute_metrics(group_predictions, group_references)});
    }
    return results;
}

std::string answer_after_output_prefix(const std::string& decoded) {
    static const std::string prefix = "Output:";
    size_t last = decoded.rfind(prefix);
    if (last == std::string::npos) return "";
    return python_strip(decoded.substr(last + prefix.size()));
}
