// model_proto.h — SentencePiece's `.model` file (a proto2 ModelProto) as plain structs, with a reader and a
// writer for the protobuf wire format written by hand. Only the fields a tokenizer needs are kept; all
// others are skipped on reading (by wire type) and never written. Absent fields take their proto2
// defaults (add_dummy_prefix = true when absent, piece type NORMAL, unk/bos/eos/pad = 0/1/2/-1).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

enum class PieceType : uint8_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };
enum class ModelType : int { unigram = 1, bpe = 2, word = 3, character = 4 };

struct ModelPiece {
    std::string piece;  // UTF-8 text; spaces appear as ▁ (U+2581). The piece's id is its index.
    float score = 0.0f;
    PieceType type = PieceType::normal;
};

struct TrainerSpec {  // field numbers of sentencepiece_model.proto in comments
    ModelType model_type = ModelType::unigram;  // 3
    int vocab_size = 8000;                      // 4
    bool treat_whitespace_as_suffix = false;    // 24
    bool split_digits = false;                  // 25
    bool byte_fallback = false;                 // 35
    int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // 40..43
    std::string unk_surface = " \xE2\x81\x87 ";           // 44: what a decoded <unk> prints (" ⁇ ")
};

struct NormalizerSpec {
    bool present = false;                // the message occurred in the file
    std::string name;                    // 1: informative only; the rules live in the charsmap
    std::string precompiled_charsmap;    // 2: uint32 trie size + double-array trie + replacement strings
    bool add_dummy_prefix = true;        // 3
    bool remove_extra_whitespaces = true;  // 4
    bool escape_whitespaces = true;      // 5
};

struct SentencePieceModel {
    std::vector<ModelPiece> pieces;
    TrainerSpec trainer;
    NormalizerSpec normalizer;
    NormalizerSpec denormalizer;  // applied to decoded text when its charsmap is non-empty
};

// Parses the bytes of a .model file. `where` names the source in error messages.
SentencePieceModel parse_model_proto(const std::string& bytes, const std::string& where);
SentencePieceModel load_model(const std::string& path);

// Serialises the fields above; the result loads in sentencepiece (spm_encode) and in parse_model_proto.
std::string serialize_model_proto(const SentencePieceModel& model);
// Writes atomically: temp file, fsync, rename.
void save_model(const SentencePieceModel& model, const std::string& path);
