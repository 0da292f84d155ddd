// vocab.cpp — builds the piece table from a parsed model, rejecting what sentencepiece would reject.
#include "tokenizer/vocab.h"

#include "engine/error.h"

#include <algorithm>
#include <cfloat>
#include <unordered_map>

int byte_piece_value(std::string_view piece) {
    if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
    int value = 0;
    for (int i = 3; i < 5; ++i) {
        const char c = piece[i];
        if (c >= '0' && c <= '9') value = value * 16 + (c - '0');
        else if (c >= 'A' && c <= 'F') value = value * 16 + (c - 'A' + 10);
        else return -1;
    }
    return value;
}

Vocab make_vocab(const SentencePieceModel& model, const std::string& where) {
    Vocab vocab;
    const int n = int(model.pieces.size());
    vocab.byte_fallback = model.trainer.byte_fallback;
    for (int& id : vocab.byte_ids) id = -1;
    // spm starts the maximum at FLT_MIN (the smallest *positive* float), so with all-negative scores a
    // user-defined piece scores length * FLT_MIN - 0.1 ≈ -0.1 in the unigram Viterbi.
    vocab.min_score = FLT_MAX;
    vocab.max_score = FLT_MIN;

    std::vector<std::pair<std::string, int>> encodable, reserved, user_defined;
    std::unordered_map<std::string, int> seen;
    for (int id = 0; id < n; ++id) {
        const ModelPiece& p = model.pieces[id];
        if (p.piece.empty()) fail(where, "piece " + std::to_string(id) + " is empty (expected a non-empty piece)");
        // spm keeps encodable and reserved pieces in two maps; a piece may not repeat within one.
        const bool is_encodable = p.type == PieceType::normal || p.type == PieceType::user_defined || p.type == PieceType::unused;
        const std::string key = (is_encodable ? "e" : "r") + p.piece;
        if (!seen.emplace(key, id).second) {
            fail(where, "piece \"" + p.piece + "\" is defined twice (ids " + std::to_string(seen[key]) + " and " +
                            std::to_string(id) + ")");
        }
        vocab.pieces.push_back(p.piece);
        vocab.scores.push_back(p.score);
        vocab.types.push_back(p.type);
        switch (p.type) {
            case PieceType::normal:
                vocab.min_score = std::min(vocab.min_score, p.score);
                vocab.max_score = std::max(vocab.max_score, p.score);
                encodable.emplace_back(p.piece, id);
                break;
            case PieceType::user_defined:
                vocab.user_defined_symbols.push_back(p.piece);
                user_defined.emplace_back(p.piece, id);
                encodable.emplace_back(p.piece, id);
                break;
            case PieceType::unused:
                vocab.has_unused = true;
                encodable.emplace_back(p.piece, id);
                break;
            case PieceType::unknown:
                if (vocab.unk_id >= 0) fail(where, "two <unk> pieces (ids " + std::to_string(vocab.unk_id) + " and " + std::to_string(id) + ")");
                vocab.unk_id = id;
                reserved.emplace_back(p.piece, id);
                break;
            case PieceType::control:
                reserved.emplace_back(p.piece, id);
                break;
            case PieceType::byte: {
                if (!vocab.byte_fallback) fail(where, "byte piece " + p.piece + " found although byte_fallback is false");
                const int value = byte_piece_value(p.piece);
                if (value < 0) fail(where, "invalid byte piece " + p.piece + " (expected <0x00>..<0xFF>)");
                vocab.byte_ids[value] = id;
                reserved.emplace_back(p.piece, id);
                break;
            }
        }
    }
    if (vocab.unk_id < 0) fail(where, "no <unk> piece (expected exactly one piece of type UNKNOWN)");
    if (vocab.byte_fallback) {
        for (int b = 0; b < 256; ++b) {
            if (vocab.byte_ids[b] < 0) {
                const char hex[] = "0123456789ABCDEF";
                fail(where, std::string("byte_fallback is on but piece <0x") + hex[b >> 4] + hex[b & 15] + "> is missing (expected all 256)");
            }
        }
    }
    vocab.bpe_can_split_before_space = !vocab.has_unused;
    for (const auto& [piece, id] : encodable) {
        for (size_t k = piece.find("\xE2\x96\x81", 1); k != std::string::npos; k = piece.find("\xE2\x96\x81", k + 1)) {
            if (k < 3 || piece.compare(k - 3, 3, "\xE2\x96\x81") != 0) vocab.bpe_can_split_before_space = false;
        }
    }
    if (encodable.empty()) fail(where, "no encodable pieces (expected NORMAL or USER_DEFINED pieces besides <unk>)");
    vocab.encodable = build_double_array(std::move(encodable), where);
    vocab.reserved = build_double_array(std::move(reserved), where);
    vocab.user_defined = build_double_array(std::move(user_defined), where);
    return vocab;
}

int piece_to_id(const Vocab& vocab, std::string_view piece) {
    const int reserved = da_exact(vocab.reserved, piece.data(), piece.size());
    if (reserved >= 0) return reserved;
    const int id = da_exact(vocab.encodable, piece.data(), piece.size());
    return id >= 0 ? id : vocab.unk_id;
}
