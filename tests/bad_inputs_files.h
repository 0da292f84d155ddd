// bad_inputs_files.h — small valid files of the formats sapt.cpp reads, built in memory, so a test (or the
// fuzz seeds, fuzz/make_seeds.cpp) can take a valid file and break exactly one thing in it: a raw
// safetensors file from a header string, a llama2.c .bin of any header version, a tiny SentencePiece model.
// No Catch2 here: the fuzz tools include it too.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/model_proto.h"

// The 8-byte little-endian header length, the header, the payload: header and offsets are taken as given.
inline std::string raw_safetensors(const std::string& header, const std::string& payload) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; i++) bytes[i] = char(uint8_t((uint64_t)header.size() >> (8 * i)));
    return bytes + header + payload;
}

// The header fields of a llama2.c file (v0 stores a separate classifier as a negative vocab size).
struct Llama2cDims {
    int32_t dim = 4, hidden_dim = 8, n_layers = 1, n_heads = 2, n_kv_heads = 1, vocab_size = 8, seq_len = 4;
};

// A complete llama2.c file (version 0 or 1) of `dims`, every weight 0.01 * (its index mod 97).
inline std::string llama2c_bytes(int version, bool shared_classifier, const Llama2cDims& d = {}) {
    const int32_t header[7] = {d.dim, d.hidden_dim, d.n_layers, d.n_heads, d.n_kv_heads,
                               version == 0 && !shared_classifier ? -d.vocab_size : d.vocab_size, d.seq_len};
    std::string bytes;
    if (version == 1) {
        const uint32_t magic = 0x616b3432;  // "ak42"
        const int32_t one = 1;
        bytes.append((const char*)&magic, 4);
        bytes.append((const char*)&one, 4);
        bytes.append((const char*)header, sizeof(header));
        bytes += char(shared_classifier ? 1 : 0);
        bytes.resize(256, '\0');
    } else {
        bytes.append((const char*)header, sizeof(header));
    }
    const int64_t C = d.dim, F = d.hidden_dim, L = d.n_layers, V = d.vocab_size, D = d.dim / d.n_heads;
    const int64_t kv_dim = (int64_t)d.n_kv_heads * D;
    int64_t floats = V * C + L * (2 * C + 2 * C * C + 2 * kv_dim * C + 3 * F * C) + C;
    if (version == 0) floats += (int64_t)d.seq_len * D;  // the RoPE cos/sin tables v0 still carries
    if (!shared_classifier) floats += V * C;
    for (int64_t i = 0; i < floats; i++) {
        const float v = 0.01f * float(i % 97);
        bytes.append((const char*)&v, 4);
    }
    return bytes;
}

// A hand-made SentencePiece model: <unk>, <s>, </s>, then ▁a ▁b a b ▁ (unigram or BPE scores), no charsmap.
inline SentencePieceModel tiny_sentencepiece_model(bool bpe) {
    SentencePieceModel model;
    model.pieces = {{"<unk>", 0.0f, PieceType::unknown}, {"<s>", 0.0f, PieceType::control},
                    {"</s>", 0.0f, PieceType::control}};
    const char* normal[] = {"\xE2\x96\x81" "a", "\xE2\x96\x81" "b", "a", "b", "\xE2\x96\x81"};
    for (int i = 0; i < 5; i++) model.pieces.push_back({normal[i], -1.0f - float(i), PieceType::normal});
    model.trainer.model_type = bpe ? ModelType::bpe : ModelType::unigram;
    model.trainer.vocab_size = (int)model.pieces.size();
    model.normalizer.present = true;
    model.normalizer.name = "identity";
    return model;
}
