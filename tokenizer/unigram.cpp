// unigram.cpp — Viterbi over UTF-8 byte positions (sentencepiece unigram_model.cc, EncodeOptimized):
// best[e] is the best path ending at byte e; from each character start we walk the piece trie byte by
// byte and relax best[start + length]. Nothing but best[] is stored.
#include "tokenizer/unigram.h"

#include <algorithm>

namespace {

struct BestPath {
    float score = 0.0f;  // total log-probability of the best path ending here
    int start = -1;      // where its last piece starts (-1: no path yet)
    int id = -1;         // its last piece
};

// spm scores an unknown character as min_score - kUnkPenalty, so any known path is preferred.
constexpr float kUnkPenalty = 10.0f;

}  // namespace

void unigram_encode(const Vocab& vocab, std::string_view normalized, std::vector<PieceSpan>& out) {
    const int size = int(normalized.size());
    if (size == 0) return;
    thread_local std::vector<BestPath> best;
    best.assign(size + 1, BestPath{});
    const float unk_score = vocab.min_score - kUnkPenalty;
    const char* text = normalized.data();

    for (int start = 0; start < size;) {
        const float score_here = best[start].score;
        const int char_length = std::min(utf8_char_length(uint8_t(text[start])), size - start);
        bool covers_one_char = false;
        size_t node = 0;
        for (int end = start; end < size;) {
            if (!da_step(vocab.encodable, node, uint8_t(text[end]))) break;
            ++end;
            const int id = da_value_at(vocab.encodable, node);
            if (id < 0 || vocab.types[id] == PieceType::unused) continue;
            const int length = end - start;
            // spm computes this in double (the user-defined branch is double, so the ?: is), compares
            // it with the stored float and stores it rounded to float; ties keep the earlier start.
            const double piece_score = vocab.types[id] == PieceType::user_defined
                                           ? double(float(length) * vocab.max_score) - 0.1
                                           : double(vocab.scores[id]);
            const double candidate = piece_score + double(score_here);
            BestPath& target = best[end];
            if (target.start == -1 || candidate > double(target.score)) {
                target.score = float(candidate);
                target.start = start;
                target.id = id;
            }
            if (length == char_length) covers_one_char = true;
        }
        if (!covers_one_char) {
            BestPath& target = best[start + char_length];
            const float candidate = unk_score + score_here;
            if (target.start == -1 || candidate > target.score) {
                target.score = candidate;
                target.start = start;
                target.id = vocab.unk_id;
            }
        }
        start += char_length;
    }

    const size_t first = out.size();
    for (int end = size; end > 0; end = best[end].start) {
        out.push_back({uint32_t(best[end].start), uint32_t(end - best[end].start), best[end].id});
    }
    std::reverse(out.begin() + first, out.end());
}
