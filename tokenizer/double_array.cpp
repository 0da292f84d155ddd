// double_array.cpp — lookups and a first-fit builder for darts-clone double arrays. The builder places
// each node's children at base ^ label for the first base whose slots are all free and not used as
// another node's base (two nodes sharing a base would see each other's children).
#include "tokenizer/double_array.h"

#include "engine/error.h"

#include <algorithm>

int da_longest_prefix(const DoubleArray& trie, const char* text, size_t size, size_t& length) {
    length = 0;
    if (trie.units.empty()) return -1;
    int best = -1;
    size_t node = 0;
    for (size_t i = 0; i < size; ++i) {
        if (!da_step(trie, node, uint8_t(text[i]))) break;
        const int value = da_value_at(trie, node);
        if (value >= 0) {
            best = value;
            length = i + 1;
        }
    }
    return best;
}

int da_exact(const DoubleArray& trie, const char* text, size_t size) {
    if (trie.units.empty()) return -1;
    size_t node = 0;
    for (size_t i = 0; i < size; ++i) {
        if (!da_step(trie, node, uint8_t(text[i]))) return -1;
    }
    return da_value_at(trie, node);
}

namespace {

// A free unit carries label 0x800000ff, which no input byte can match.
constexpr uint32_t kFreeUnit = 0x800000ffu;
constexpr uint32_t kMaxOffset = 1u << 21;  // offsets at or above need the shifted form; we never need it

struct Builder {
    const std::vector<std::pair<std::string, int>>& keys;
    const std::string& where;
    std::vector<uint32_t> units;
    std::vector<char> used;       // slot holds a node or a leaf
    std::vector<char> base_used;  // slot is some node's base
    std::vector<size_t> next_free_link;  // union-find: a slot at or after i that may be free
    size_t first_free = 1;
    size_t high_water = 0;  // highest slot used so far

    void ensure(size_t size) {
        if (units.size() >= size) return;
        const size_t grown = std::max(size, units.size() * 2) | 0xff;  // whole 256-unit blocks
        units.resize(grown + 1, kFreeUnit);
        used.resize(grown + 1, 0);
        base_used.resize(grown + 1, 0);
        const size_t old_size = next_free_link.size();
        next_free_link.resize(grown + 1);
        for (size_t i = old_size; i <= grown; ++i) next_free_link[i] = i;
    }

    // The first free slot at or after `slot` (path-halving union-find over used slots).
    size_t next_free(size_t slot) {
        ensure(slot + 2);
        while (next_free_link[slot] != slot) {
            next_free_link[slot] = next_free_link[next_free_link[slot]];
            slot = next_free_link[slot];
            ensure(slot + 2);
        }
        return slot;
    }

    // Like darts-clone, only free slots near the end are tried (the union-find skips used ones):
    // old holes that failed to fit before rarely fit later, and retrying them all is quadratic.
    size_t find_base(const std::vector<uint8_t>& labels) {
        const size_t kSearchWindow = 4096;
        const size_t start = std::max(first_free, high_water > kSearchWindow ? high_water - kSearchWindow : size_t(1));
        for (size_t slot = next_free(start);; slot = next_free(slot + 1)) {
            const size_t base = slot ^ labels[0];
            ensure((base | 0xff) + 1);
            if (base_used[base]) continue;
            bool fits = true;
            for (uint8_t label : labels) {
                const size_t child = base ^ label;
                if (child == 0 || used[child]) { fits = false; break; }
            }
            if (fits) return base;
        }
    }

    void mark_used(size_t slot) {
        used[slot] = 1;
        ensure(slot + 2);
        next_free_link[slot] = slot + 1;
        high_water = std::max(high_water, slot);
        first_free = next_free(first_free);
    }

    // keys[begin, end) share their first `depth` bytes; `node` is the unit of that prefix.
    void build(size_t node, size_t begin, size_t end, size_t depth) {
        std::vector<uint8_t> labels;
        std::vector<size_t> starts;  // starts[k] = first key of child k; one more entry = end
        const bool terminal = keys[begin].first.size() == depth;
        if (terminal) labels.push_back(0);
        for (size_t k = terminal ? begin + 1 : begin; k < end; ++k) {
            const uint8_t byte = uint8_t(keys[k].first[depth]);
            if (starts.empty() || byte != uint8_t(keys[starts.back()].first[depth])) {
                labels.push_back(byte);
                starts.push_back(k);
            }
        }
        starts.push_back(end);

        const size_t base = find_base(labels);
        const size_t offset = node ^ base;
        if (offset >= kMaxOffset) fail(where, "too many keys for a double-array trie (offset exceeds 2^21)");
        base_used[base] = 1;
        units[node] = (units[node] & 0xffu) | uint32_t(offset << 10) | (terminal ? 1u << 8 : 0u);
        for (uint8_t label : labels) mark_used(base ^ label);
        if (terminal) units[base] = uint32_t(keys[begin].second) | 0x80000000u;

        const size_t first_child_label = terminal ? 1 : 0;
        for (size_t c = 0; c + 1 < starts.size(); ++c) {
            const uint8_t label = labels[first_child_label + c];
            units[base ^ label] = label;
        }
        for (size_t c = 0; c + 1 < starts.size(); ++c) {
            build(base ^ labels[first_child_label + c], starts[c], starts[c + 1], depth + 1);
        }
    }
};

}  // namespace

DoubleArray build_double_array(std::vector<std::pair<std::string, int>> keys, const std::string& where) {
    DoubleArray trie;
    if (keys.empty()) return trie;
    std::sort(keys.begin(), keys.end());
    for (size_t k = 0; k < keys.size(); ++k) {
        if (keys[k].first.empty() || keys[k].first.find('\0') != std::string::npos) {
            fail(where, "trie keys must be non-empty and free of NUL bytes (got key #" + std::to_string(k) + ")");
        }
        if (keys[k].second < 0) fail(where, "trie values must be non-negative (got " + std::to_string(keys[k].second) + ")");
        if (k > 0 && keys[k].first == keys[k - 1].first) fail(where, "duplicate trie key \"" + keys[k].first + "\"");
    }
    Builder builder{keys, where, {}, {}, {}, {}, 1, 0};
    builder.ensure(256);
    builder.units[0] = 0;
    builder.used[0] = 1;
    builder.build(0, 0, keys.size(), 0);
    // Trim to the last used 256-unit block: every base ^ byte stays inside the base's own block, so
    // lookups never read past the end (sentencepiece's darts does not bounds-check).
    size_t last_used = 0;
    for (size_t i = 0; i < builder.units.size(); ++i) {
        if (builder.used[i] || builder.base_used[i]) last_used = i;
    }
    builder.units.resize((last_used | 0xff) + 1);
    trie.units = std::move(builder.units);
    return trie;
}
