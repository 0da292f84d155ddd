// normalizer.h — SentencePiece's text normaliser: the precompiled charsmap (longest-match rewrite rules
// stored in the .model, no ICU), invalid UTF-8 → U+FFFD, whitespace collapsing, the dummy ▁ prefix
// and escaping spaces as ▁ (U+2581). It does not keep the normalised→original offset map (spm uses it
// only for surfaces, which we never report).
#pragma once
#include "tokenizer/double_array.h"
#include "tokenizer/model_proto.h"

#include <string>
#include <string_view>
#include <vector>

struct Normalizer {
    DoubleArray charsmap;          // rule trie: value = offset of the NUL-terminated replacement
    std::string replacements;      // the replacement strings, back to back
    DoubleArray user_defined;      // user-defined symbols, copied verbatim before any rule applies
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
    bool treat_whitespace_as_suffix = false;
};

// Decodes a precompiled charsmap blob: uint32 LE trie size, trie units, replacement strings.
void parse_charsmap(const std::string& blob, Normalizer& normalizer, const std::string& where);
// The inverse: the blob sentencepiece expects in NormalizerSpec.precompiled_charsmap.
std::string make_charsmap_blob(const DoubleArray& trie, const std::string& replacements);

Normalizer make_normalizer(const NormalizerSpec& spec, bool treat_whitespace_as_suffix,
                           const std::vector<std::string>& user_defined_symbols, const std::string& where);

// Writes the normalised form of `input` into `output` (cleared first).
void normalize(const Normalizer& normalizer, std::string_view input, std::string& output);

// Length in bytes of the valid UTF-8 character at the start of [text, text + size), or 0 if the bytes
// there are not valid UTF-8 (truncated, overlong, surrogate or above U+10FFFF). Uses utf8proc.
int valid_utf8_length(const char* text, size_t size);
