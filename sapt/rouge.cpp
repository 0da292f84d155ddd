// rouge.cpp — see rouge.h. The order of floating-point operations follows rouge_score's scoring.py
// (f = 2 * p * r / (p + r)), so results equal the Python doubles bit for bit.
#include "sapt/rouge.h"

#include <algorithm>
#include <unordered_map>

#include "data/python_text.h"
#include "sapt/porter_stemmer.h"

std::vector<std::string> rouge_tokenize(const std::string& text) {
    // Lower-casing first matters: it is Unicode-aware, so U+212A (Kelvin sign) becomes an ASCII 'k'.
    std::string lower = python_lower(text);
    std::vector<std::string> tokens;
    std::string token;
    auto flush = [&]() {
        if (token.empty()) return;
        tokens.push_back(token.size() > 3 ? porter_stem(token) : token);
        token.clear();
    };
    for (char c : lower) {  // any byte of a multi-byte UTF-8 character is >= 0x80: a separator
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            token.push_back(c);
        } else {
            flush();
        }
    }
    flush();
    return tokens;
}

static double f_measure(double precision, double recall) {
    return precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

RougeScore rouge1_from_tokens(const std::vector<std::string>& prediction, const std::vector<std::string>& reference) {
    std::unordered_map<std::string, int> reference_counts, prediction_counts;
    for (const auto& t : reference) reference_counts[t]++;
    for (const auto& t : prediction) prediction_counts[t]++;
    int overlap = 0;
    for (const auto& entry : reference_counts) {
        auto it = prediction_counts.find(entry.first);
        if (it != prediction_counts.end()) overlap += std::min(entry.second, it->second);
    }
    RougeScore s;
    s.precision = (double)overlap / (double)std::max<size_t>(prediction.size(), 1);
    s.recall = (double)overlap / (double)std::max<size_t>(reference.size(), 1);
    s.f = f_measure(s.precision, s.recall);
    return s;
}

// Length of the longest common subsequence, with one rolling row: O(|a|·|b|) time, O(|b|) memory.
static size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    std::vector<size_t> row(b.size() + 1, 0);
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diagonal = 0;  // row[j-1] of the previous row
        for (size_t j = 1; j <= b.size(); j++) {
            size_t above = row[j];
            row[j] = a[i - 1] == b[j - 1] ? diagonal + 1 : std::max(above, row[j - 1]);
            diagonal = above;
        }
    }
    return row[b.size()];
}

RougeScore rougeL_from_tokens(const std::vector<std::string>& prediction, const std::vector<std::string>& reference) {
    RougeScore s;
    if (prediction.empty() || reference.empty()) return s;
    double lcs = (double)lcs_length(reference, prediction);
    s.precision = lcs / (double)prediction.size();
    s.recall = lcs / (double)reference.size();
    s.f = f_measure(s.precision, s.recall);
    return s;
}

RougeScore rouge1(const std::string& prediction, const std::string& reference) {
    return rouge1_from_tokens(rouge_tokenize(prediction), rouge_tokenize(reference));
}

RougeScore rougeL(const std::string& prediction, const std::string& reference) {
    return rougeL_from_tokens(rouge_tokenize(prediction), rouge_tokenize(reference));
}
