// trainer.h — builds a SentencePiece-compatible BPE model from a text corpus, for the small models we
// train ourselves. The result loads in spm_encode and gives the same ids there as in our encoder.
// Normalisation is NFKC computed with utf8proc per code point and stored as a precompiled charsmap, so
// sentencepiece applies exactly the same rules. Words are split at whitespace only (no script or digit
// splitting as spm_train does), every corpus character is kept (character_coverage = 1), and merges
// pick the most frequent pair (ties: the pair first seen). No unigram trainer.
#pragma once
#include "tokenizer/model_proto.h"

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

// NFKC as a NormalizerSpec: one charsmap rule per code point whose NFKC form differs (utf8proc).
NormalizerSpec make_nfkc_normalizer_spec();
