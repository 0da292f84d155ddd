// tokenizer.h — the tokenizer as the rest of sapt.cpp sees it: load a SentencePiece .model, encode text to
// ids exactly as sentencepiece 0.1.97 does (spm_encode --output_format=id), decode ids back to text as
// spm_decode does, look ids and pieces up. No BOS/EOS are added here: callers append them (T5 wants
// </s> = 1 at the end, LLaMA <s> = 1 at the start), as spm_encode also adds none by default.
//
// T5 sentinels (n_extra_ids = 100 for T5): ids V..V+99 beyond the model's V pieces, <extra_id_0> being
// the last one (32099 for T5), as HF's T5Tokenizer numbers them. We follow HF's slow T5Tokenizer with
// legacy=True (what t5-large / flan-t5 checkpoints load): text is split at every literal
// "<extra_id_N>", whitespace next to a sentinel is stripped (the tokens are lstrip/rstrip=True), and each
// remaining non-empty segment is encoded on its own, so it gets its own dummy ▁ prefix:
// "<extra_id_0>. Hello" → 32099, 3, 5, 8774 (the seqio/T5X convention would give 32099, 5, 8774).
// Other special strings ("</s>", "<pad>") are ordinary text here, as in spm; HF would map them to ids.
// Added pieces (add_special_pieces) come after the sentinels, as HF's tokenizer.add_tokens numbers them.
#pragma once
#include "tokenizer/model_proto.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/vocab.h"

#include <string>
#include <string_view>
#include <vector>

struct AddedPiece {
    std::string text;
    int id;
};

struct Tokenizer {
    SentencePieceModel model;
    Vocab vocab;
    Normalizer normalizer;
    bool has_denormalizer = false;
    Normalizer denormalizer;  // applied to decoded text when the model carries one
    int n_extra_ids = 0;      // T5 sentinels appended after the model's pieces
    std::vector<AddedPiece> added_pieces;  // whole markers such as "__inp__" (add_special_pieces)
    int n_appended = 0;                    // added pieces with new ids V + n_extra_ids + k
};

Tokenizer make_tokenizer(SentencePieceModel model, int n_extra_ids, const std::string& where);
Tokenizer load_tokenizer(const std::string& path, int n_extra_ids = 0);

// Appends the ids of `text` to `ids`; also its pieces to `pieces` when given (spm --output_format=piece:
// a run of unknown characters is one piece, a byte-fallback byte is "<0xHH>").
void encode(const Tokenizer& tokenizer, std::string_view text, std::vector<int>& ids,
            std::vector<std::string>* pieces = nullptr);
std::vector<int> encode(const Tokenizer& tokenizer, std::string_view text);

// spm's Decode: control ids vanish, <unk> prints unk_surface (" ⁇ "), runs of byte pieces are joined
// into UTF-8 (each invalid byte → U+FFFD), ▁ → space, the dummy-prefix space is dropped. Sentinels
// print as "<extra_id_N>" with no space added around them. Throws on an id outside the vocabulary.
std::string decode(const Tokenizer& tokenizer, const std::vector<int>& ids);

// Appends `pieces` as special pieces, the way SentencePiece's user_defined_symbols and HF's add_tokens
// work: wherever one occurs in a text it is one id, never split; the text between them is encoded on its
// own (its own dummy ▁ prefix, as HF encodes the segments between added tokens); decoding prints the piece
// as written, with no space around it. A piece already in the vocabulary keeps its id and is not added.
// Returns the id of each piece. The caller makes sure a model has an embedding row for the new ids.
std::vector<int> add_special_pieces(Tokenizer& tokenizer, const std::vector<std::string>& pieces);

int vocab_size(const Tokenizer& tokenizer);  // model pieces + sentinels + added pieces
int token_to_id(const Tokenizer& tokenizer, std::string_view piece);  // unk_id when absent
std::string id_to_piece(const Tokenizer& tokenizer, int id);
