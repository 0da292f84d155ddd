// vocab.h — the piece table both encoders share: id ↔ piece, scores, types, a trie of the pieces an
// encoder may produce, and the checks sentencepiece makes when it loads a model (one <unk>, no duplicate
// piece, BYTE pieces only with byte_fallback and then all 256 of them).
#pragma once
#include "tokenizer/double_array.h"
#include "tokenizer/model_proto.h"

#include <string>
#include <string_view>
#include <vector>

struct Vocab {
    std::vector<std::string> pieces;  // [V] by id
    std::vector<float> scores;        // [V]
    std::vector<PieceType> types;     // [V]
    DoubleArray encodable;            // NORMAL, USER_DEFINED and UNUSED pieces → id
    DoubleArray reserved;             // UNKNOWN, CONTROL and BYTE pieces → id
    DoubleArray user_defined;         // USER_DEFINED pieces (BPE never merges across them)
    std::vector<std::string> user_defined_symbols;
    int unk_id = -1;
    bool has_unused = false;
    bool bpe_can_split_before_space = false;  // no encodable piece contains "x▁" with x ≠ ▁ (see bpe.cpp)
    bool byte_fallback = false;
    int byte_ids[256];         // id of <0xHH> when byte_fallback
    float min_score = 0.0f;    // over NORMAL pieces (unigram: score of an unknown character − 10)
    float max_score = 0.0f;    // over NORMAL pieces, starting from FLT_MIN as spm does
};

Vocab make_vocab(const SentencePieceModel& model, const std::string& where);

// One piece of an encoding: bytes [begin, begin + size) of the normalised text, and its id.
struct PieceSpan {
    uint32_t begin;
    uint32_t size;
    int id;
};

// Byte length of the UTF-8 character that starts with `lead`, judged by its lead byte only (spm's
// OneCharLen); normalised text is valid UTF-8, so this is exact there.
inline int utf8_char_length(uint8_t lead) { return "\1\1\1\1\1\1\1\1\1\1\1\1\2\2\3\4"[lead >> 4]; }

// sentencepiece's PieceToId: reserved pieces first, then encodable ones, else unk_id.
int piece_to_id(const Vocab& vocab, std::string_view piece);

// "<0x41>" → 65; -1 for anything else (only upper-case hex is a byte piece).
int byte_piece_value(std::string_view piece);
