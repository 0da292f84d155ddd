// bpe.cpp — sentencepiece bpe_model.cc's algorithm: a doubly linked list of symbols over the normalised
// bytes and a max-heap of candidate merges. A merge is applied by growing the left symbol over the right
// one, so a symbol's start never moves and an entry is stale exactly when a side became empty or the
// two sizes no longer add up to the size recorded when it was pushed.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace {

struct Symbol {
    int prev;        // -1 at the start
    int next;        // -1 at the end
    uint32_t begin;  // bytes [begin, begin + size) of the normalised text; size 0 = merged away
    uint32_t size;
    bool frozen;     // a user-defined symbol: never merged
};

struct Merge {
    float score;
    int left;
    int right;
    uint32_t size;  // left.size + right.size when pushed
};

// Heap order: higher score first; on equal scores the smaller left index (the leftmost pair).
bool merges_later(const Merge& a, const Merge& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
}

// Span → the two spans it was merged from, kept only for UNUSED pieces, which spm splits back.
using SplitMap = std::unordered_map<std::string_view, std::pair<std::string_view, std::string_view>>;

void resegment(const Vocab& vocab, const SplitMap& splits, std::string_view text, std::string_view piece,
               std::vector<PieceSpan>& out) {
    const int id = piece_to_id(vocab, piece);
    if (vocab.types[id] == PieceType::unused) {
        const auto split = splits.find(piece);
        if (split != splits.end()) {
            resegment(vocab, splits, text, split->second.first, out);
            resegment(vocab, splits, text, split->second.second, out);
            return;
        }
    }
    out.push_back({uint32_t(piece.data() - text.data()), uint32_t(piece.size()), id});
}

}  // namespace

void bpe_encode(const Vocab& vocab, std::string_view normalized, std::vector<PieceSpan>& out) {
    if (normalized.empty()) return;
    const char* text = normalized.data();
    const uint32_t size = uint32_t(normalized.size());
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<Merge> heap;
    symbols.clear();
    heap.clear();
    SplitMap splits;

    for (uint32_t pos = 0; pos < size;) {
        size_t length = 0;
        const bool frozen = !vocab.user_defined.units.empty() &&
                            da_longest_prefix(vocab.user_defined, text + pos, size - pos, length) >= 0;
        if (!frozen) length = std::min<uint32_t>(utf8_char_length(uint8_t(text[pos])), size - pos);
        const int index = int(symbols.size());
        symbols.push_back({index - 1, pos + length < size ? index + 1 : -1, pos, uint32_t(length), frozen});
        pos += uint32_t(length);
    }

    auto push_if_piece = [&](int left, int right) {
        if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
        const uint32_t merged_size = symbols[left].size + symbols[right].size;
        const int id = da_exact(vocab.encodable, text + symbols[left].begin, merged_size);
        if (id < 0) return;
        heap.push_back({vocab.scores[id], left, right, merged_size});
        std::push_heap(heap.begin(), heap.end(), merges_later);
        if (vocab.types[id] == PieceType::unused) {
            splits[std::string_view(text + symbols[left].begin, merged_size)] = {
                std::string_view(text + symbols[left].begin, symbols[left].size),
                std::string_view(text + symbols[right].begin, symbols[right].size)};
        }
    };

    for (int i = 1; i < int(symbols.size()); ++i) push_if_piece(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), merges_later);
        const Merge top = heap.back();
        heap.pop_back();
        Symbol& left = symbols[top.left];
        Symbol& right = symbols[top.right];
        if (left.size == 0 || right.size == 0 || left.size + right.size != top.size) continue;
        left.size += right.size;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.left;
        right.size = 0;
        push_if_piece(left.prev, top.left);
        push_if_piece(top.left, left.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece(text + symbols[i].begin, symbols[i].size);
        if (!vocab.has_unused) {
            out.push_back({symbols[i].begin, symbols[i].size, piece_to_id(vocab, piece)});
        } else {
            resegment(vocab, splits, normalized, piece, out);
        }
    }
}
