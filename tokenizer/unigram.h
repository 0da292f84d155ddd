// unigram.h — the unigram-LM encoder: the most probable segmentation of normalised text into vocabulary
// pieces (Viterbi), as sentencepiece's optimised encoder computes it, tie-breaks and float rounding
// included. It does not sample or return n-best lists, and it does not train (see trainer.h).
#pragma once
#include "tokenizer/vocab.h"

#include <string_view>
#include <vector>

// Appends the pieces of `normalized` to `out`. Characters no piece covers come out as single-character
// pieces with id unk_id (the caller merges or byte-expands them).
void unigram_encode(const Vocab& vocab, std::string_view normalized, std::vector<PieceSpan>& out);
