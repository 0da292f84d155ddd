// trainer.h — builds SentencePiece-compatible models (BPE or unigram) from a text corpus, for the small
// models we train ourselves. The result loads in spm_encode and gives the same ids there as in our
// encoder. Normalisation is NFKC computed with utf8proc per code point and stored as a precompiled
// charsmap, so sentencepiece applies exactly the same rules. Words are split at whitespace only (no
// script or digit splitting as spm_train does) and every corpus character is kept (character_coverage
// = 1). These are small, readable trainers, not replicas of spm_train: their vocabularies differ.
#pragma once
#include "tokenizer/model_proto.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

struct BpeTrainerOptions {
    bool nfkc = true;            // false: identity normaliser (no charsmap)
    bool byte_fallback = true;   // add <0x00>..<0xFF> so any text is encodable without <unk>
    int max_piece_chars = 16;    // longest merged piece, in characters (spm's max_sentencepiece_length)
};

// The returned model has exactly `vocab_size` pieces: <unk>=0, <s>=1, </s>=2 (pad none, as LLaMA),
// then the 256 byte pieces when byte_fallback, then merged pieces (score -rank), then single characters.
// Fails when vocab_size is too small for the characters or too large for the corpus.
SentencePieceModel train_bpe(const std::vector<std::string>& corpus, int vocab_size,
                             const BpeTrainerOptions& options = {});

struct UnigramTrainerOptions {
    bool nfkc = true;
    bool byte_fallback = true;
    int max_piece_chars = 16;
    int em_iterations = 2;          // EM rounds between two prunings (spm's num_sub_iterations)
    float shrinking_factor = 0.75f; // each pruning keeps this share of the pieces (spm's default)
};

// Unigram LM training (Kudo 2018): seed with frequent substrings of words, then alternate EM (expected
// piece counts by forward-backward over each word's lattice) and pruning of the least used pieces until
// vocab_size pieces remain. Pruning keeps the highest expected counts (spm ranks by the likelihood loss
// of removing each piece instead). Pieces: <unk>, <s>, </s>, the byte pieces, then pieces by score.
SentencePieceModel train_unigram(const std::vector<std::string>& corpus, int vocab_size,
                                 const UnigramTrainerOptions& options = {});

// ---- shared by the two trainers -------------------------------------------------------------------
// A model with no pieces but the fixed ones (<unk>=0, <s>=1, </s>=2, bytes), and the normaliser spec.
SentencePieceModel make_trainer_model(ModelType type, bool nfkc, bool byte_fallback);
// Counts of the words of the normalised corpus; a word is "▁" followed by non-▁ characters.
std::map<std::string, int64_t> count_normalized_words(const std::vector<std::string>& corpus, const NormalizerSpec& spec);

// NFKC as a NormalizerSpec: one charsmap rule per code point whose NFKC form differs (utf8proc).
NormalizerSpec make_nfkc_normalizer_spec();
