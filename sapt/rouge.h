// rouge.h — ROUGE-1 and ROUGE-L F-measures as the official SAPT evaluation computes them (its copy of
// Google's rouge_score with use_stemmer=True): lower-case, keep only [a-z0-9] runs as tokens, Porter-stem
// tokens longer than 3 characters. Not here: ROUGE-2/Lsum, bootstrap aggregation, the xlingual tokenizer.
#pragma once
#include <string>
#include <vector>

// Tokens as rouge_score's tokenize(text, stemmer) makes them. Every non-ASCII character is a separator,
// so "café" → ["caf"], and CJK or fullwidth digits vanish.
std::vector<std::string> rouge_tokenize(const std::string& text);

struct RougeScore {
    double precision = 0, recall = 0, f = 0;
};

// Clipped unigram overlap. P = overlap / max(|prediction|, 1), R = overlap / max(|reference|, 1).
RougeScore rouge1(const std::string& prediction, const std::string& reference);
// Longest common subsequence. All zero when either side has no tokens.
RougeScore rougeL(const std::string& prediction, const std::string& reference);

RougeScore rouge1_from_tokens(const std::vector<std::string>& prediction, const std::vector<std::string>& reference);
RougeScore rougeL_from_tokens(const std::vector<std::string>& prediction, const std::vector<std::string>& reference);
