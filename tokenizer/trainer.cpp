// trainer.cpp — the NFKC charsmap, what both trainers share, and classic BPE training (Sennrich et al.
// 2016) over word counts: normalise each line as the finished model will, count words (a word starts at
// each ▁), then repeatedly merge the most frequent adjacent pair (ties: the pair first seen). Pair counts are updated incrementally, only in the words that contain the merged pair,
// and a lazy max-heap finds the best pair (entries whose count changed are skipped when popped).
#include "tokenizer/trainer.h"

#include "engine/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/vocab.h"

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>
#include <utf8proc.h>

NormalizerSpec make_nfkc_normalizer_spec() {
    std::vector<std::pair<std::string, int>> rules;
    std::string replacements;
    std::unordered_map<std::string, int> replacement_offset;
    for (utf8proc_int32_t cp = 1; cp <= 0x10ffff; ++cp) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const utf8proc_property_t* property = utf8proc_get_property(cp);
        if (property->decomp_seqindex == UINT16_MAX) continue;  // no decomposition: NFKC leaves it alone
        utf8proc_uint8_t original[4];
        const utf8proc_ssize_t length = utf8proc_encode_char(cp, original);
        utf8proc_uint8_t* mapped = nullptr;
        const utf8proc_ssize_t mapped_length = utf8proc_map(original, length, &mapped,
                                                            utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
        if (mapped_length < 0) continue;
        const std::string key(reinterpret_cast<char*>(original), size_t(length));
        const std::string value(reinterpret_cast<char*>(mapped), size_t(mapped_length));
        std::free(mapped);
        if (value == key || value.empty()) continue;
        auto [it, inserted] = replacement_offset.emplace(value, int(replacements.size()));
        if (inserted) {
            replacements += value;
            replacements += '\0';
        }
        rules.emplace_back(key, it->second);
    }
    NormalizerSpec spec;
    spec.present = true;
    spec.name = "nfkc_utf8proc";
    spec.precompiled_charsmap = make_charsmap_blob(build_double_array(std::move(rules), "nfkc charsmap"), replacements);
    return spec;
}

namespace {

using PairKey = uint64_t;  // left symbol << 32 | right symbol
PairKey pair_key(int left, int right) { return PairKey(uint32_t(left)) << 32 | uint32_t(right); }

struct Word {
    std::vector<int> symbols;
    int64_t count;
};

struct PairCandidate {
    int64_t count;
    PairKey key;
    int64_t first_seen;  // tie-break: the pair that appeared first wins
    bool operator<(const PairCandidate& other) const {
        return count < other.count || (count == other.count && first_seen > other.first_seen);
    }
};

int count_chars(const std::string& s) {
    int n = 0;
    for (unsigned char c : s) n += (c & 0xc0) != 0x80;
    return n;
}

}  // namespace

SentencePieceModel make_trainer_model(ModelType type, bool nfkc, bool byte_fallback) {
    SentencePieceModel model;
    model.trainer.model_type = type;
    model.trainer.byte_fallback = byte_fallback;
    model.trainer.pad_id = -1;
    model.normalizer = nfkc ? make_nfkc_normalizer_spec() : NormalizerSpec{};
    model.normalizer.present = true;
    if (!nfkc) model.normalizer.name = "identity";
    model.pieces = {{"<unk>", 0, PieceType::unknown}, {"<s>", 0, PieceType::control}, {"</s>", 0, PieceType::control}};
    if (byte_fallback) {
        const char hex[] = "0123456789ABCDEF";
        for (int b = 0; b < 256; ++b) model.pieces.push_back({std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">", 0, PieceType::byte});
    }
    return model;
}

std::map<std::string, int64_t> count_normalized_words(const std::vector<std::string>& corpus, const NormalizerSpec& spec) {
    const Normalizer normalizer = make_normalizer(spec, false, {}, "trainer");
    std::map<std::string, int64_t> word_counts;
    std::string normalized;
    const std::string space = "\xE2\x96\x81";
    for (const std::string& line : corpus) {
        normalize(normalizer, line, normalized);
        size_t begin = 0;
        while (begin < normalized.size()) {
            size_t end = normalized.find(space, begin + 1);
            if (end == std::string::npos) end = normalized.size();
            ++word_counts[normalized.substr(begin, end - begin)];
            begin = end;
        }
    }
    return word_counts;
}

SentencePieceModel train_bpe(const std::vector<std::string>& corpus, int vocab_size, const BpeTrainerOptions& options) {
    const std::string where = "train_bpe";
    SentencePieceModel model = make_trainer_model(ModelType::bpe, options.nfkc, options.byte_fallback);
    const std::map<std::string, int64_t> word_counts = count_normalized_words(corpus, model.normalizer);

    // Symbols start as characters, most frequent first.
    std::vector<std::string> symbol_text;
    std::unordered_map<std::string, int> symbol_id;
    std::map<std::string, int64_t> char_counts;
    for (const auto& [word, count] : word_counts) {
        for (size_t pos = 0; pos < word.size();) {
            const size_t length = std::min<size_t>(utf8_char_length(uint8_t(word[pos])), word.size() - pos);
            char_counts[word.substr(pos, length)] += count;
            pos += length;
        }
    }
    std::vector<std::pair<int64_t, std::string>> chars_by_count;
    for (const auto& [c, count] : char_counts) chars_by_count.emplace_back(-count, c);
    std::sort(chars_by_count.begin(), chars_by_count.end());
    for (const auto& entry : chars_by_count) {
        symbol_id[entry.second] = int(symbol_text.size());
        symbol_text.push_back(entry.second);
    }
    const int n_chars = int(symbol_text.size());
    const int n_fixed = int(model.pieces.size());
    const int n_merges_needed = vocab_size - n_fixed - n_chars;
    if (n_merges_needed < 0) {
        fail(where, "vocab_size too small (expected at least " + std::to_string(n_fixed + n_chars) + " for " +
                        std::to_string(n_chars) + " characters, got " + std::to_string(vocab_size) + ")");
    }

    std::vector<Word> words;
    for (const auto& [word, count] : word_counts) {
        Word w{{}, count};
        for (size_t pos = 0; pos < word.size();) {
            const size_t length = std::min<size_t>(utf8_char_length(uint8_t(word[pos])), word.size() - pos);
            w.symbols.push_back(symbol_id.at(word.substr(pos, length)));
            pos += length;
        }
        words.push_back(std::move(w));
    }

    std::unordered_map<PairKey, int64_t> pair_count;
    std::unordered_map<PairKey, int64_t> pair_first_seen;
    std::unordered_map<PairKey, std::vector<int>> pair_words;  // may hold stale or repeated entries
    std::priority_queue<PairCandidate> heap;
    int64_t seen_counter = 0;
    auto add_word_pairs = [&](int w, int64_t sign) {
        const std::vector<int>& s = words[w].symbols;
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const PairKey key = pair_key(s[i], s[i + 1]);
            int64_t& count = pair_count[key];
            count += sign * words[w].count;
            if (sign > 0) {
                pair_words[key].push_back(w);
                if (pair_first_seen.emplace(key, seen_counter).second) ++seen_counter;
                heap.push({count, key, pair_first_seen[key]});
            }
        }
    };
    for (int w = 0; w < int(words.size()); ++w) add_word_pairs(w, +1);

    std::vector<std::string> merged_pieces;
    while (int(merged_pieces.size()) < n_merges_needed) {
        if (heap.empty()) {
            fail(where, "corpus too small for vocab_size " + std::to_string(vocab_size) + " (only " +
                            std::to_string(n_fixed + n_chars + int(merged_pieces.size())) + " pieces could be made)");
        }
        const PairCandidate top = heap.top();
        heap.pop();
        if (top.count <= 0 || pair_count[top.key] != top.count) continue;  // stale entry
        const int left = int(top.key >> 32), right = int(top.key & 0xffffffffu);
        const std::string text = symbol_text[left] + symbol_text[right];
        if (count_chars(text) > options.max_piece_chars) {
            pair_count[top.key] = 0;  // never merge this pair
            continue;
        }
        auto [it, is_new] = symbol_id.emplace(text, int(symbol_text.size()));
        if (is_new) {
            symbol_text.push_back(text);
            merged_pieces.push_back(text);
        }
        const int merged = it->second;
        std::vector<int> affected = std::move(pair_words[top.key]);
        std::sort(affected.begin(), affected.end());
        affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
        for (int w : affected) {
            add_word_pairs(w, -1);
            std::vector<int>& s = words[w].symbols;
            std::vector<int> rewritten;
            for (size_t i = 0; i < s.size(); ++i) {
                if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
                    rewritten.push_back(merged);
                    ++i;
                } else {
                    rewritten.push_back(s[i]);
                }
            }
            s = std::move(rewritten);
            add_word_pairs(w, +1);
        }
    }

    // spm's BPE scores: the k-th merge scores -k, so the encoder replays merges in training order.
    for (size_t k = 0; k < merged_pieces.size(); ++k) model.pieces.push_back({merged_pieces[k], -float(k), PieceType::normal});
    for (int c = 0; c < n_chars; ++c) model.pieces.push_back({symbol_text[c], -float(merged_pieces.size() + c), PieceType::normal});
    model.trainer.vocab_size = int(model.pieces.size());
    return model;
}
