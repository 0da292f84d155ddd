// normalizer.cpp — follows sentencepiece normalizer.cc step by step, since every detail shows in the ids:
// which chunk a rule covers, when spaces are dropped, and that a malformed byte costs exactly one byte.
#include "tokenizer/normalizer.h"

#include "engine/error.h"

#include <cstring>
#include <utf8proc.h>

namespace {

const char kSpaceSymbol[] = "\xE2\x96\x81";  // ▁ U+2581, what a space becomes when escaped
const char kReplacementChar[] = "\xEF\xBF\xBD";  // U+FFFD for one malformed byte

// One step of normalisation: the text that replaces a prefix of `input`, and how many bytes it consumes.
struct Chunk {
    const char* text;
    size_t size;
    size_t consumed;
};

Chunk normalize_prefix(const Normalizer& n, const char* input, size_t size) {
    size_t length = 0;
    // User-defined symbols are matched before any rule, so a rule can never rewrite them.
    if (!n.user_defined.units.empty() && da_longest_prefix(n.user_defined, input, size, length) >= 0) {
        return {input, length, length};
    }
    const int offset = n.charsmap.units.empty() ? -1 : da_longest_prefix(n.charsmap, input, size, length);
    if (offset >= 0) {
        const char* replacement = n.replacements.data() + offset;
        return {replacement, std::strlen(replacement), length};
    }
    const int char_length = valid_utf8_length(input, size);
    if (char_length == 0) return {kReplacementChar, 3, 1};
    return {input, size_t(char_length), size_t(char_length)};
}

bool is_single_space(const Chunk& chunk) { return chunk.size == 1 && chunk.text[0] == ' '; }

}  // namespace

int valid_utf8_length(const char* text, size_t size) {
    if (size == 0) return 0;
    if (uint8_t(text[0]) < 0x80) return 1;
    utf8proc_int32_t codepoint;
    const utf8proc_ssize_t length =
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(text), utf8proc_ssize_t(size), &codepoint);
    return length > 0 ? int(length) : 0;
}

void parse_charsmap(const std::string& blob, Normalizer& normalizer, const std::string& where) {
    if (blob.size() <= 4) fail(where, "precompiled_charsmap is broken (expected more than 4 bytes, got " + std::to_string(blob.size()) + ")");
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(blob.data());
    const uint32_t trie_size = uint32_t(bytes[0]) | uint32_t(bytes[1]) << 8 | uint32_t(bytes[2]) << 16 | uint32_t(bytes[3]) << 24;
    if (trie_size % 4 != 0 || trie_size == 0 || size_t(trie_size) >= blob.size() - 4) {
        fail(where, "precompiled_charsmap is broken (trie size " + std::to_string(trie_size) +
                        " does not fit a blob of " + std::to_string(blob.size()) + " bytes)");
    }
    normalizer.charsmap.units.resize(trie_size / 4);
    for (size_t i = 0; i < trie_size / 4; ++i) {
        const uint8_t* unit = bytes + 4 + 4 * i;
        normalizer.charsmap.units[i] = uint32_t(unit[0]) | uint32_t(unit[1]) << 8 | uint32_t(unit[2]) << 16 | uint32_t(unit[3]) << 24;
    }
    normalizer.replacements = blob.substr(4 + trie_size);
    // Every value must point inside the strings, and they must end in NUL, so strlen stays in bounds.
    if (normalizer.replacements.empty() || normalizer.replacements.back() != '\0') {
        normalizer.replacements.push_back('\0');
    }
    for (size_t i = 0; i < normalizer.charsmap.units.size(); ++i) {
        const uint32_t unit = normalizer.charsmap.units[i];
        if ((unit & 0x80000000u) && (unit & 0x7fffffffu) >= normalizer.replacements.size()) {
            fail(where, "precompiled_charsmap is broken (a rule points at offset " + std::to_string(unit & 0x7fffffffu) +
                            ", past the " + std::to_string(normalizer.replacements.size()) + " bytes of replacements)");
        }
    }
}

std::string make_charsmap_blob(const DoubleArray& trie, const std::string& replacements) {
    std::string blob;
    const uint32_t trie_size = uint32_t(trie.units.size() * 4);
    for (int i = 0; i < 4; ++i) blob += char(uint8_t(trie_size >> (8 * i)));
    for (uint32_t unit : trie.units) {
        for (int i = 0; i < 4; ++i) blob += char(uint8_t(unit >> (8 * i)));
    }
    blob += replacements;
    return blob;
}

Normalizer make_normalizer(const NormalizerSpec& spec, bool treat_whitespace_as_suffix,
                           const std::vector<std::string>& user_defined_symbols, const std::string& where) {
    Normalizer normalizer;
    if (!spec.precompiled_charsmap.empty()) parse_charsmap(spec.precompiled_charsmap, normalizer, where);
    normalizer.add_dummy_prefix = spec.add_dummy_prefix;
    normalizer.remove_extra_whitespaces = spec.remove_extra_whitespaces;
    normalizer.escape_whitespaces = spec.escape_whitespaces;
    normalizer.treat_whitespace_as_suffix = treat_whitespace_as_suffix;
    std::vector<std::pair<std::string, int>> keys;
    for (const std::string& symbol : user_defined_symbols) keys.emplace_back(symbol, 0);
    normalizer.user_defined = build_double_array(keys, where);
    return normalizer;
}

void normalize(const Normalizer& n, std::string_view text, std::string& output) {
    output.clear();
    const char* input = text.data();
    size_t size = text.size();
    if (size == 0) return;

    // Leading chunks that normalise to exactly one space are dropped (U+3000 counts, via the rules).
    if (n.remove_extra_whitespaces) {
        while (size > 0) {
            const Chunk chunk = normalize_prefix(n, input, size);
            if (!is_single_space(chunk)) break;
            input += chunk.consumed;
            size -= chunk.consumed;
        }
        if (size == 0) return;
    }

    output.reserve(size * 3);
    const char* space = n.escape_whitespaces ? kSpaceSymbol : " ";
    const size_t space_size = n.escape_whitespaces ? 3 : 1;
    if (!n.treat_whitespace_as_suffix && n.add_dummy_prefix) output.append(space, space_size);

    bool previous_ends_in_space = n.remove_extra_whitespaces;
    while (size > 0) {
        const Chunk chunk = normalize_prefix(n, input, size);
        const char* piece = chunk.text;
        size_t piece_size = chunk.size;
        // A chunk after a space loses its own leading spaces: runs of spaces collapse to one.
        while (previous_ends_in_space && piece_size > 0 && piece[0] == ' ') {
            ++piece;
            --piece_size;
        }
        if (piece_size > 0) {
            for (size_t i = 0; i < piece_size; ++i) {
                if (piece[i] == ' ' && n.escape_whitespaces) output.append(kSpaceSymbol, 3);
                else output += piece[i];
            }
            previous_ends_in_space = piece[piece_size - 1] == ' ';
        }
        input += chunk.consumed;
        size -= chunk.consumed;
        if (!n.remove_extra_whitespaces) previous_ends_in_space = false;
    }

    if (n.remove_extra_whitespaces) {
        while (output.size() >= space_size && output.compare(output.size() - space_size, space_size, space) == 0) {
            output.resize(output.size() - space_size);
        }
    }
    if (n.treat_whitespace_as_suffix && n.add_dummy_prefix) output.append(space, space_size);
}
