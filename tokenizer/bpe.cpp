// bpe.cpp — sentencepiece bpe_model.cc's algorithm: a doubly linked list of symbols over the normalised
// bytes and a max-heap of candidate merges. A merge is applied by growing the left symbol over the right
// one, so a symbol's start never moves and an entry is stale exactly when a side became empty or the
// two sizes no longer add up to the size recorded when it was pushed.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>

namespace {

constexpr size_t kNoNode = size_t(-1);
const char kSpaceSymbol[] = "\xE2\x96\x81";  // ▁

struct Symbol {
    int prev;        // -1 at the start
    int next;        // -1 at the end
    uint32_t begin;  // bytes [begin, begin + size) of the normalised text; size 0 = merged away
    uint32_t size;
    size_t node;     // trie node of the symbol's text, kNoNode if no piece starts with it
    bool frozen;     // a user-defined symbol: never merged
};

struct Merge {
    float score;
    int left;
    int right;
    uint32_t size;  // left.size + right.size when pushed
    size_t node;    // trie node of the merged text
};

// Heap order: higher score first; on equal scores the smaller left index (the leftmost pair).
struct MergesLater {
    bool operator()(const Merge& a, const Merge& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

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

size_t walk(const DoubleArray& trie, size_t node, const char* text, size_t size) {
    for (size_t i = 0; i < size; ++i) {
        if (!da_step(trie, node, uint8_t(text[i]))) return kNoNode;
    }
    return node;
}

// BPE on normalized[begin, end), appending pieces with offsets into `normalized`.
void bpe_encode_range(const Vocab& vocab, std::string_view normalized, uint32_t begin, uint32_t end,
                      std::vector<PieceSpan>& out) {
    const char* text = normalized.data();
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<Merge> heap;
    symbols.clear();
    heap.clear();
    SplitMap splits;

    for (uint32_t pos = begin; pos < end;) {
        size_t length = 0;
        const bool frozen = !vocab.user_defined.units.empty() &&
                            da_longest_prefix(vocab.user_defined, text + pos, end - pos, length) >= 0;
        if (!frozen) length = std::min<uint32_t>(utf8_char_length(uint8_t(text[pos])), end - pos);
        const int index = int(symbols.size());
        symbols.push_back({index - 1, pos + length < end ? index + 1 : -1, pos, uint32_t(length),
                           walk(vocab.encodable, 0, text + pos, length), frozen});
        pos += uint32_t(length);
    }

    auto push_if_piece = [&](int left, int right) {
        if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen || symbols[left].node == kNoNode) return;
        const size_t node = walk(vocab.encodable, symbols[left].node, text + symbols[right].begin, symbols[right].size);
        if (node == kNoNode) return;
        const int id = da_value_at(vocab.encodable, node);
        if (id < 0) return;
        const uint32_t merged_size = symbols[left].size + symbols[right].size;
        heap.push_back({vocab.scores[id], left, right, merged_size, node});
        std::push_heap(heap.begin(), heap.end(), MergesLater());
        if (vocab.types[id] == PieceType::unused) {
            splits[std::string_view(text + symbols[left].begin, merged_size)] = {
                std::string_view(text + symbols[left].begin, symbols[left].size),
                std::string_view(text + symbols[right].begin, symbols[right].size)};
        }
    };

    for (int i = 1; i < int(symbols.size()); ++i) push_if_piece(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), MergesLater());
        const Merge top = heap.back();
        heap.pop_back();
        Symbol& left = symbols[top.left];
        Symbol& right = symbols[top.right];
        if (left.size == 0 || right.size == 0 || left.size + right.size != top.size) continue;
        left.size += right.size;
        left.node = top.node;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.left;
        right.size = 0;
        push_if_piece(left.prev, top.left);
        push_if_piece(top.left, left.next);
    }

    for (int i = 0; i != -1; i = symbols[i].next) {
        const std::string_view piece(text + symbols[i].begin, symbols[i].size);
        if (!vocab.has_unused) {
            // piece_to_id, reusing the trie node we already hold: reserved pieces first, then encodable.
            int id = da_exact(vocab.reserved, piece.data(), piece.size());
            if (id < 0 && symbols[i].node != kNoNode) id = da_value_at(vocab.encodable, symbols[i].node);
            out.push_back({symbols[i].begin, symbols[i].size, id >= 0 ? id : vocab.unk_id});
        } else {
            resegment(vocab, splits, normalized, piece, out);
        }
    }
}

}  // namespace

void bpe_encode(const Vocab& vocab, std::string_view normalized, std::vector<PieceSpan>& out) {
    const uint32_t size = uint32_t(normalized.size());
    if (!vocab.bpe_can_split_before_space) {
        if (size > 0) bpe_encode_range(vocab, normalized, 0, size, out);
        return;
    }
    // No piece contains "x▁" with x not ▁, so no merge can cross the start of a ▁ that follows another
    // character: the words are independent, and encoding them one by one gives the same result with
    // small heaps.
    const char* text = normalized.data();
    uint32_t chunk_begin = 0;
    for (uint32_t pos = 1; pos + 3 <= size; ++pos) {
        if (std::memcmp(text + pos, kSpaceSymbol, 3) != 0) continue;
        if (pos >= 3 && std::memcmp(text + pos - 3, kSpaceSymbol, 3) == 0) continue;
        bpe_encode_range(vocab, normalized, chunk_begin, pos, out);
        chunk_begin = pos;
        pos += 2;
    }
    if (chunk_begin < size) bpe_encode_range(vocab, normalized, chunk_begin, size, out);
}
