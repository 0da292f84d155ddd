// bpe.h — the BPE encoder as sentencepiece runs it: start from characters (user-defined symbols whole and
// frozen), then repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece,
// leftmost first on ties. It does not apply BPE-dropout and does not train (see trainer.h).
#pragma once
#include "tokenizer/vocab.h"

#include <string_view>
#include <vector>

// Appends the pieces of `normalized` to `out`; a final symbol that is no piece gets unk_id (the caller
// merges or byte-expands unknowns).
void bpe_encode(const Vocab& vocab, std::string_view normalized, std::vector<PieceSpan>& out);
