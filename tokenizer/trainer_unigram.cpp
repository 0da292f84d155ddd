// trainer_unigram.cpp — unigram LM training (Kudo 2018, "Subword Regularization"), small and plain: the
// vocabulary is a set of pieces with log-probabilities; EM re-estimates them from expected counts (the
// forward-backward sums over every segmentation of every word), and pruning drops the least used pieces
// until the vocabulary has the requested size. Single characters are never pruned, so every word keeps
// a segmentation.
#include "engine/error.h"
#include "tokenizer/double_array.h"
#include "tokenizer/trainer.h"
#include "tokenizer/vocab.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace {

struct Candidate {
    std::string piece;
    bool is_char;
    double score;  // log-probability
};

double log_add(double a, double b) {
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    return std::max(a, b) + std::log1p(std::exp(-std::fabs(a - b)));
}

std::vector<size_t> char_starts(const std::string& word) {
    std::vector<size_t> starts;
    for (size_t pos = 0; pos < word.size(); pos += std::min<size_t>(utf8_char_length(uint8_t(word[pos])), word.size() - pos)) {
        starts.push_back(pos);
    }
    starts.push_back(word.size());
    return starts;
}

// One EM step: expected count of every candidate over all words, then score = log(count / total).
// Returns the expected counts.
std::vector<double> em_step(std::vector<Candidate>& candidates, const std::map<std::string, int64_t>& words) {
    std::vector<std::pair<std::string, int>> keys;
    for (size_t i = 0; i < candidates.size(); ++i) keys.emplace_back(candidates[i].piece, int(i));
    const DoubleArray trie = build_double_array(keys, "train_unigram");

    std::vector<double> expected(candidates.size(), 0.0);
    std::vector<double> alpha, beta;
    struct Edge { size_t start, end; int piece; };  // byte offsets in the word
    std::vector<Edge> edges;
    for (const auto& [word, count] : words) {
        const size_t n = word.size();
        edges.clear();
        for (size_t start : char_starts(word)) {
            size_t node = 0;
            for (size_t end = start; end < n;) {
                if (!da_step(trie, node, uint8_t(word[end]))) break;
                ++end;
                const int piece = da_value_at(trie, node);
                if (piece >= 0) edges.push_back({start, end, piece});
            }
        }
        // Edges come sorted by start; alpha needs them by end, beta by start (reversed).
        alpha.assign(n + 1, -INFINITY);
        beta.assign(n + 1, -INFINITY);
        alpha[0] = 0.0;
        std::vector<Edge> by_end = edges;
        std::sort(by_end.begin(), by_end.end(), [](const Edge& a, const Edge& b) { return a.end < b.end; });
        for (const Edge& e : by_end) alpha[e.end] = log_add(alpha[e.end], alpha[e.start] + candidates[e.piece].score);
        beta[n] = 0.0;
        for (auto e = edges.rbegin(); e != edges.rend(); ++e) {
            beta[e->start] = log_add(beta[e->start], beta[e->end] + candidates[e->piece].score);
        }
        const double total = alpha[n];
        for (const Edge& e : edges) {
            expected[e.piece] += double(count) * std::exp(alpha[e.start] + candidates[e.piece].score + beta[e.end] - total);
        }
    }
    double sum = 0.0;
    for (double c : expected) sum += c;
    for (size_t i = 0; i < candidates.size(); ++i) {
        candidates[i].score = std::log(std::max(expected[i], 1e-10)) - std::log(sum);
    }
    return expected;
}

}  // namespace

SentencePieceModel train_unigram(const std::vector<std::string>& corpus, int vocab_size, const UnigramTrainerOptions& options) {
    const std::string where = "train_unigram";
    SentencePieceModel model = make_trainer_model(ModelType::unigram, options.nfkc, options.byte_fallback);
    const std::map<std::string, int64_t> words = count_normalized_words(corpus, model.normalizer);
    const int n_fixed = int(model.pieces.size());
    const int n_target = vocab_size - n_fixed;

    // Seeds: every character, and every substring of 2..max_piece_chars characters seen at least twice.
    std::unordered_map<std::string, int64_t> char_counts, substring_counts;
    for (const auto& [word, count] : words) {
        const std::vector<size_t> starts = char_starts(word);
        const size_t n_chars = starts.size() - 1;
        for (size_t i = 0; i < n_chars; ++i) {
            char_counts[word.substr(starts[i], starts[i + 1] - starts[i])] += count;
            for (size_t j = i + 2; j <= std::min(n_chars, i + size_t(options.max_piece_chars)); ++j) {
                substring_counts[word.substr(starts[i], starts[j] - starts[i])] += count;
            }
        }
    }
    if (int(char_counts.size()) > n_target) {
        fail(where, "vocab_size too small (expected at least " + std::to_string(n_fixed + int(char_counts.size())) + " for " +
                        std::to_string(char_counts.size()) + " characters, got " + std::to_string(vocab_size) + ")");
    }
    std::vector<std::pair<int64_t, std::string>> seeds;
    for (const auto& [piece, count] : substring_counts) {
        if (count >= 2) seeds.emplace_back(-count * int64_t(char_starts(piece).size() - 1), piece);
    }
    std::sort(seeds.begin(), seeds.end());
    const size_t max_seeds = size_t(std::max(4 * vocab_size, 1000));
    if (seeds.size() > max_seeds) seeds.resize(max_seeds);
    if (int(char_counts.size() + seeds.size()) < n_target) {
        fail(where, "corpus too small for vocab_size " + std::to_string(vocab_size) + " (only " +
                        std::to_string(n_fixed + char_counts.size() + seeds.size()) + " pieces could be made)");
    }

    std::vector<Candidate> candidates;
    for (const auto& [piece, count] : char_counts) candidates.push_back({piece, true, std::log(double(count))});
    for (const auto& [negative_weight, piece] : seeds) candidates.push_back({piece, false, std::log(double(substring_counts[piece]))});
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.piece < b.piece; });

    while (true) {
        std::vector<double> expected;
        for (int iteration = 0; iteration < options.em_iterations; ++iteration) expected = em_step(candidates, words);
        if (int(candidates.size()) <= n_target) break;
        // Keep every character and the most used other pieces (ties: by text, for determinism).
        const size_t keep = std::max<size_t>(size_t(n_target), size_t(double(candidates.size()) * options.shrinking_factor));
        std::vector<size_t> order(candidates.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            if (candidates[a].is_char != candidates[b].is_char) return candidates[a].is_char;
            if (expected[a] != expected[b]) return expected[a] > expected[b];
            return candidates[a].piece < candidates[b].piece;
        });
        order.resize(keep);
        std::sort(order.begin(), order.end());
        std::vector<Candidate> kept;
        for (size_t i : order) kept.push_back(candidates[i]);
        candidates = std::move(kept);
    }

    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
    for (const Candidate& c : candidates) model.pieces.push_back({c.piece, float(c.score), PieceType::normal});
    model.trainer.vocab_size = int(model.pieces.size());
    return model;
}
