// double_array.h — the double-array trie of darts-clone, the format SentencePiece stores inside .model
// files (precompiled_charsmap). We read that format, walk it one byte at a time, and build our own
// arrays in the same format (for the piece vocabulary and for charsmaps we write). Keys are byte
// strings without NUL bytes; values are non-negative ints. No deletion, no other darts features.
//
// A unit is one uint32: bits 0-7 label (bit 31 set marks a leaf, whose low 31 bits are the value),
// bit 8 "has a leaf child", bit 9 "offset is stored shifted by 8", bits 10-30 offset. From node unit
// at index p, the child for byte b sits at (p ^ offset(unit[p])) ^ b and must carry label b; a key
// ending at node p has its value in the leaf unit at p ^ offset(unit[p]).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

struct DoubleArray {
    std::vector<uint32_t> units;  // empty = a trie with no keys
};

inline uint32_t da_offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }
inline uint32_t da_label(uint32_t unit) { return unit & 0x800000ffu; }
inline bool da_has_leaf(uint32_t unit) { return (unit >> 8) & 1; }

// Follows byte `byte` from node `node`; returns false (node unchanged) when there is no such edge.
inline bool da_step(const DoubleArray& trie, size_t& node, uint8_t byte) {
    const size_t child = (node ^ da_offset(trie.units[node])) ^ byte;
    if (child >= trie.units.size() || da_label(trie.units[child]) != byte) return false;
    node = child;
    return true;
}

// The value of the key that ends at `node`, or -1 when no key ends there. A value unit carries bit 31;
// a trie read from a file may point at another kind of unit, which must not be taken for a value
// (parse_charsmap validates exactly the units with bit 31).
inline int da_value_at(const DoubleArray& trie, size_t node) {
    const uint32_t unit = trie.units[node];
    if (!da_has_leaf(unit)) return -1;
    const size_t leaf = node ^ da_offset(unit);
    if (leaf >= trie.units.size() || !(trie.units[leaf] & 0x80000000u)) return -1;
    return int(trie.units[leaf] & 0x7fffffffu);
}

// Longest key that is a prefix of [text, text + size): returns its value and sets `length`,
// or returns -1 with length 0.
int da_longest_prefix(const DoubleArray& trie, const char* text, size_t size, size_t& length);

// Value of the exact key [text, text + size), or -1.
int da_exact(const DoubleArray& trie, const char* text, size_t size);

// Builds a trie of `keys` (any order; duplicates and keys with NUL bytes are rejected).
DoubleArray build_double_array(std::vector<std::pair<std::string, int>> keys, const std::string& where);
