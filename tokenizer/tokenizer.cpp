// tokenizer.cpp — sentencepiece's processor pipeline (sentencepiece_processor.cc): normalise → segment
// (unigram or BPE) → post-process unknowns; its Decode; the T5 sentinel convention of tokenizer.h and the
// added pieces (whole markers, one id each).
#include "tokenizer/tokenizer.h"

#include "engine/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/unigram.h"

#include <algorithm>

#include <utf8proc.h>

namespace {

const char kSpaceSymbol[] = "\xE2\x96\x81";  // ▁

void append_byte_piece(std::vector<std::string>& pieces, uint8_t byte) {
    const char hex[] = "0123456789ABCDEF";
    pieces.push_back(std::string("<0x") + hex[byte >> 4] + hex[byte & 15] + ">");
}

// One spm Encode call on text without sentinels.
void encode_segment(const Tokenizer& t, std::string_view text, std::vector<int>& ids, std::vector<std::string>* pieces) {
    thread_local std::string normalized;
    thread_local std::vector<PieceSpan> spans;
    normalize(t.normalizer, text, normalized);
    spans.clear();
    if (t.model.trainer.model_type == ModelType::bpe) bpe_encode(t.vocab, normalized, spans);
    else unigram_encode(t.vocab, normalized, spans);

    bool previous_unknown = false;
    for (const PieceSpan& span : spans) {
        const bool unknown = t.vocab.types[span.id] == PieceType::unknown;
        if (unknown && t.vocab.byte_fallback) {
            // An unknown character becomes one <0xHH> piece per UTF-8 byte.
            for (uint32_t i = 0; i < span.size; ++i) {
                const uint8_t byte = uint8_t(normalized[span.begin + i]);
                ids.push_back(t.vocab.byte_ids[byte]);
                if (pieces) append_byte_piece(*pieces, byte);
            }
        } else if (unknown && previous_unknown) {
            // Consecutive unknowns merge into one <unk> (its piece is their concatenated text).
            if (pieces) pieces->back().append(normalized, span.begin, span.size);
        } else {
            ids.push_back(span.id);
            if (pieces) pieces->emplace_back(normalized, span.begin, span.size);
        }
        previous_unknown = unknown;
    }
}

// Python's str.isspace() on one code point: what HF's lstrip()/rstrip() remove around a sentinel.
bool is_python_space(int32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

std::string_view strip_python_space(std::string_view s, bool left, bool right) {
    while (left && !s.empty()) {
        utf8proc_int32_t c;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()), &c);
        if (n <= 0 || !is_python_space(c)) break;
        s.remove_prefix(size_t(n));
    }
    while (right && !s.empty()) {
        size_t start = s.size() - 1;
        while (start > 0 && (uint8_t(s[start]) & 0xc0) == 0x80) --start;
        utf8proc_int32_t c;
        const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + start),
                                        utf8proc_ssize_t(s.size() - start), &c);
        if (n != utf8proc_ssize_t(s.size() - start) || !is_python_space(c)) break;
        s.remove_suffix(size_t(n));
    }
    return s;
}

// If `text` starts with "<extra_id_N>" for 0 <= N < n_extra_ids, returns N and sets its length; else -1.
int match_sentinel(std::string_view text, int n_extra_ids, size_t& length) {
    const std::string_view prefix = "<extra_id_";
    if (text.substr(0, prefix.size()) != prefix) return -1;
    size_t pos = prefix.size();
    int number = 0;
    const size_t digits_begin = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - digits_begin < 3) {
        number = number * 10 + (text[pos] - '0');
        ++pos;
    }
    const size_t n_digits = pos - digits_begin;
    if (n_digits == 0 || (n_digits > 1 && text[digits_begin] == '0')) return -1;  // only canonical numbers
    if (pos >= text.size() || text[pos] != '>' || number >= n_extra_ids) return -1;
    length = pos + 1;
    return number;
}

}  // namespace

Tokenizer make_tokenizer(SentencePieceModel model, int n_extra_ids, const std::string& where) {
    if (model.trainer.model_type != ModelType::unigram && model.trainer.model_type != ModelType::bpe) {
        fail(where, "unsupported model_type (expected UNIGRAM=1 or BPE=2, got " + std::to_string(int(model.trainer.model_type)) + ")");
    }
    if (n_extra_ids < 0 || n_extra_ids > 1000) fail(where, "n_extra_ids must be in 0..1000 (got " + std::to_string(n_extra_ids) + ")");
    Tokenizer t;
    t.vocab = make_vocab(model, where);
    t.normalizer = make_normalizer(model.normalizer, model.trainer.treat_whitespace_as_suffix, t.vocab.user_defined_symbols, where);
    if (!model.denormalizer.precompiled_charsmap.empty()) {
        t.has_denormalizer = true;
        t.denormalizer = make_normalizer(model.denormalizer, false, {}, where);
    }
    t.n_extra_ids = n_extra_ids;
    t.model = std::move(model);
    return t;
}

Tokenizer load_tokenizer(const std::string& path, int n_extra_ids) {
    return make_tokenizer(load_model(path), n_extra_ids, path);
}

namespace {

// Text without added pieces: sentinels split it as HF's legacy T5Tokenizer does (see tokenizer.h).
void encode_with_sentinels(const Tokenizer& t, std::string_view text, std::vector<int>& ids,
                           std::vector<std::string>* pieces) {
    if (t.n_extra_ids == 0 || text.find("<extra_id_") == std::string_view::npos) {
        encode_segment(t, text, ids, pieces);
        return;
    }
    const int n_pieces = int(t.vocab.pieces.size());
    bool after_sentinel = false;
    size_t segment_begin = 0;
    for (size_t pos = 0; pos <= text.size();) {
        size_t length = 0;
        const int sentinel = pos < text.size() ? match_sentinel(text.substr(pos), t.n_extra_ids, length) : -1;
        if (sentinel < 0 && pos < text.size()) {
            ++pos;
            continue;
        }
        const bool before_sentinel = sentinel >= 0;
        const std::string_view segment =
            strip_python_space(text.substr(segment_begin, pos - segment_begin), after_sentinel, before_sentinel);
        if (!segment.empty()) encode_segment(t, segment, ids, pieces);
        if (!before_sentinel) break;
        ids.push_back(n_pieces + t.n_extra_ids - 1 - sentinel);
        if (pieces) pieces->emplace_back(text.substr(pos, length));
        pos += length;
        segment_begin = pos;
        after_sentinel = true;
    }
}

// The added piece that starts earliest in `text` from `from` (the longest one at that position), or null.
const AddedPiece* next_added_piece(const Tokenizer& t, std::string_view text, size_t from, size_t& at) {
    const AddedPiece* best = nullptr;
    at = std::string_view::npos;
    for (const AddedPiece& added : t.added_pieces) {
        const size_t pos = text.find(added.text, from);
        if (pos == std::string_view::npos) continue;
        if (pos < at || (pos == at && added.text.size() > best->text.size())) {
            best = &added;
            at = pos;
        }
    }
    return best;
}

}  // namespace

void encode(const Tokenizer& t, std::string_view text, std::vector<int>& ids, std::vector<std::string>* pieces) {
    size_t from = 0;
    for (;;) {
        size_t at = 0;
        const AddedPiece* added = next_added_piece(t, text, from, at);
        encode_with_sentinels(t, text.substr(from, added ? at - from : std::string_view::npos), ids, pieces);
        if (!added) return;
        ids.push_back(added->id);
        if (pieces) pieces->push_back(added->text);
        from = at + added->text.size();
    }
}

std::vector<int> add_special_pieces(Tokenizer& t, const std::vector<std::string>& pieces) {
    std::vector<int> out;
    for (const std::string& text : pieces) {
        if (text.empty()) fail("add_special_pieces", "an added piece must not be empty");
        const auto same = std::find_if(t.added_pieces.begin(), t.added_pieces.end(),
                                       [&](const AddedPiece& a) { return a.text == text; });
        if (same != t.added_pieces.end()) {
            out.push_back(same->id);
            continue;
        }
        // A piece the model already has (e.g. a tokenizer trained with the markers in its corpus) keeps its
        // id and its trained embedding; only what the model lacks gets a new id.
        int id = piece_to_id(t.vocab, text);
        const PieceType type = t.vocab.types[size_t(id)];
        if (id == t.vocab.unk_id || (type != PieceType::normal && type != PieceType::user_defined)) {
            id = vocab_size(t);
            t.n_appended++;
        }
        t.added_pieces.push_back({text, id});
        out.push_back(id);
    }
    return out;
}

std::vector<int> encode(const Tokenizer& tokenizer, std::string_view text) {
    std::vector<int> ids;
    encode(tokenizer, text, ids);
    return ids;
}

namespace {

// Appends bytes as UTF-8 text: each valid character as is, each byte that starts no valid character → U+FFFD.
void append_bytes_as_utf8(std::string& text, const std::string& bytes) {
    for (size_t pos = 0; pos < bytes.size();) {
        const int length = valid_utf8_length(bytes.data() + pos, bytes.size() - pos);
        if (length == 0) {
            text += "\xEF\xBF\xBD";
            pos += 1;
        } else {
            text.append(bytes, pos, size_t(length));
            pos += size_t(length);
        }
    }
}

std::string decode_segment(const Tokenizer& t, const int* ids, size_t n) {
    const Vocab& v = t.vocab;
    const NormalizerSpec& spec = t.model.normalizer;
    std::string text, pending_bytes;
    bool expect_prefix_space = true;  // still at the start, where the dummy-prefix ▁ is dropped
    bool prefix_space_seen = false;
    for (size_t i = 0; i < n; ++i) {
        const int id = ids[i];
        if (v.types[id] == PieceType::byte) {
            pending_bytes += char(byte_piece_value(v.pieces[id]));
            continue;
        }
        append_bytes_as_utf8(text, pending_bytes);
        pending_bytes.clear();
        if (prefix_space_seen || !text.empty()) expect_prefix_space = false;
        prefix_space_seen = false;
        if (v.types[id] == PieceType::control) continue;
        if (v.types[id] == PieceType::unknown) {
            text += t.model.trainer.unk_surface;
            continue;
        }
        std::string_view piece = v.pieces[id];
        if (expect_prefix_space && (spec.add_dummy_prefix || spec.remove_extra_whitespaces) &&
            piece.substr(0, 3) == kSpaceSymbol) {
            piece.remove_prefix(3);
            // With remove_extra_whitespaces spm keeps dropping one leading ▁ per piece until text appears.
            prefix_space_seen = !spec.remove_extra_whitespaces;
        }
        for (size_t pos = 0; pos < piece.size();) {
            if (piece.compare(pos, 3, kSpaceSymbol) == 0) {
                text += ' ';
                pos += 3;
            } else {
                text += piece[pos++];
            }
        }
    }
    append_bytes_as_utf8(text, pending_bytes);
    if (t.has_denormalizer) {
        std::string denormalized;
        normalize(t.denormalizer, text, denormalized);
        return denormalized;
    }
    return text;
}

}  // namespace

namespace {

// The added piece with this id, or null.
const AddedPiece* added_piece_of(const Tokenizer& t, int id) {
    for (const AddedPiece& added : t.added_pieces) {
        if (added.id == id) return &added;
    }
    return nullptr;
}

}  // namespace

std::string decode(const Tokenizer& t, const std::vector<int>& ids) {
    const int n_pieces = int(t.vocab.pieces.size());
    for (int id : ids) {
        if (id < 0 || id >= vocab_size(t)) {
            fail("decode", "invalid id (expected 0.." + std::to_string(vocab_size(t) - 1) + ", got " + std::to_string(id) + ")");
        }
    }
    std::string text;
    size_t segment_begin = 0;
    for (size_t i = 0; i <= ids.size(); ++i) {
        const AddedPiece* added = i < ids.size() ? added_piece_of(t, ids[i]) : nullptr;
        if (i < ids.size() && ids[i] < n_pieces && !added) continue;
        text += decode_segment(t, ids.data() + segment_begin, i - segment_begin);
        if (added) text += added->text;
        else if (i < ids.size()) text += "<extra_id_" + std::to_string(n_pieces + t.n_extra_ids - 1 - ids[i]) + ">";
        segment_begin = i + 1;
    }
    return text;
}

int vocab_size(const Tokenizer& t) { return int(t.vocab.pieces.size()) + t.n_extra_ids + t.n_appended; }

int token_to_id(const Tokenizer& t, std::string_view piece) {
    for (const AddedPiece& added : t.added_pieces) {
        if (added.text == piece) return added.id;
    }
    size_t length = 0;
    const int sentinel = match_sentinel(piece, t.n_extra_ids, length);
    if (sentinel >= 0 && length == piece.size()) return int(t.vocab.pieces.size()) + t.n_extra_ids - 1 - sentinel;
    return piece_to_id(t.vocab, piece);
}

std::string id_to_piece(const Tokenizer& t, int id) {
    const int n_pieces = int(t.vocab.pieces.size());
    if (id < 0 || id >= vocab_size(t)) {
        fail("id_to_piece", "invalid id (expected 0.." + std::to_string(vocab_size(t) - 1) + ", got " + std::to_string(id) + ")");
    }
    if (const AddedPiece* added = added_piece_of(t, id)) return added->text;
    if (id < n_pieces) return t.vocab.pieces[id];
    return "<extra_id_" + std::to_string(n_pieces + t.n_extra_ids - 1 - id) + ">";
}
