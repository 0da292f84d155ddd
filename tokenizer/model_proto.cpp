// model_proto.cpp — the protobuf wire format, by hand: a message is a list of (tag, value) fields where
// tag = field_number << 3 | wire_type; wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
// Unknown fields are skipped by their wire type (ModelProto reserves `extensions 200 to max`).
#include "tokenizer/model_proto.h"

#include "engine/error.h"
#include "engine/fileio.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace {

enum WireType : int { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

struct WireReader {
    const uint8_t* pos;
    const uint8_t* end;
    const std::string& where;

    bool done() const { return pos >= end; }

    uint64_t read_varint() {
        uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= end) fail(where, "truncated file (a varint runs past the end of its message)");
            const uint8_t byte = *pos++;
            value |= uint64_t(byte & 0x7f) << shift;
            if (!(byte & 0x80)) return value;
        }
        fail(where, "malformed varint (expected at most 10 bytes, got more)");
    }

    void need(uint64_t n, int field) {
        if (n > uint64_t(end - pos)) {
            fail(where, "truncated file (field " + std::to_string(field) + " needs " + std::to_string(n) +
                            " bytes, got " + std::to_string(end - pos) + ")");
        }
    }

    WireReader sub_message(int field) {
        const uint64_t size = read_varint();
        need(size, field);
        WireReader inner{pos, pos + size, where};
        pos += size;
        return inner;
    }

    std::string read_bytes(int field) {
        const uint64_t size = read_varint();
        need(size, field);
        std::string value(reinterpret_cast<const char*>(pos), size);
        pos += size;
        return value;
    }

    float read_float(int field) {
        need(4, field);
        uint32_t bits = uint32_t(pos[0]) | uint32_t(pos[1]) << 8 | uint32_t(pos[2]) << 16 | uint32_t(pos[3]) << 24;
        pos += 4;
        float value;
        std::memcpy(&value, &bits, 4);
        return value;
    }

    // int32 fields are varints of the sign-extended 64-bit value (so -1 takes 10 bytes).
    int read_int32() { return int(int64_t(read_varint())); }

    void skip(int field, int wire_type) {
        switch (wire_type) {
            case varint: read_varint(); break;
            case fixed64: need(8, field); pos += 8; break;
            case length_delimited: { const uint64_t size = read_varint(); need(size, field); pos += size; break; }
            case fixed32: need(4, field); pos += 4; break;
            default:
                fail(where, "not a SentencePiece model (field " + std::to_string(field) + " has wire type " +
                                std::to_string(wire_type) + ", expected 0, 1, 2 or 5)");
        }
    }

    // Reads the next tag; returns false at the end of the message.
    bool next(int& field, int& wire_type) {
        if (done()) return false;
        const uint64_t tag = read_varint();
        field = int(tag >> 3);
        wire_type = int(tag & 7);
        if (field == 0) fail(where, "not a SentencePiece model (field number 0 is invalid)");
        return true;
    }

    void expect(int field, int wire_type, int expected) {
        if (wire_type != expected) {
            fail(where, "not a SentencePiece model (field " + std::to_string(field) + " has wire type " +
                            std::to_string(wire_type) + ", expected " + std::to_string(expected) + ")");
        }
    }
};

ModelPiece parse_piece(WireReader in) {
    ModelPiece piece;
    int field, wire;
    while (in.next(field, wire)) {
        if (field == 1) { in.expect(field, wire, length_delimited); piece.piece = in.read_bytes(field); }
        else if (field == 2) { in.expect(field, wire, fixed32); piece.score = in.read_float(field); }
        else if (field == 3) {
            in.expect(field, wire, varint);
            const int type = in.read_int32();
            if (type < 1 || type > 6) fail(in.where, "unknown piece type (expected 1..6, got " + std::to_string(type) + ")");
            piece.type = PieceType(type);
        } else in.skip(field, wire);
    }
    return piece;
}

TrainerSpec parse_trainer(WireReader in) {
    TrainerSpec spec;
    int field, wire;
    while (in.next(field, wire)) {
        switch (field) {
            case 3: in.expect(field, wire, varint); spec.model_type = ModelType(in.read_int32()); break;
            case 4: in.expect(field, wire, varint); spec.vocab_size = in.read_int32(); break;
            case 24: in.expect(field, wire, varint); spec.treat_whitespace_as_suffix = in.read_varint() != 0; break;
            case 25: in.expect(field, wire, varint); spec.split_digits = in.read_varint() != 0; break;
            case 35: in.expect(field, wire, varint); spec.byte_fallback = in.read_varint() != 0; break;
            case 40: in.expect(field, wire, varint); spec.unk_id = in.read_int32(); break;
            case 41: in.expect(field, wire, varint); spec.bos_id = in.read_int32(); break;
            case 42: in.expect(field, wire, varint); spec.eos_id = in.read_int32(); break;
            case 43: in.expect(field, wire, varint); spec.pad_id = in.read_int32(); break;
            case 44: in.expect(field, wire, length_delimited); spec.unk_surface = in.read_bytes(field); break;
            default: in.skip(field, wire);
        }
    }
    return spec;
}

NormalizerSpec parse_normalizer(WireReader in) {
    NormalizerSpec spec;
    spec.present = true;
    int field, wire;
    while (in.next(field, wire)) {
        switch (field) {
            case 1: in.expect(field, wire, length_delimited); spec.name = in.read_bytes(field); break;
            case 2: in.expect(field, wire, length_delimited); spec.precompiled_charsmap = in.read_bytes(field); break;
            case 3: in.expect(field, wire, varint); spec.add_dummy_prefix = in.read_varint() != 0; break;
            case 4: in.expect(field, wire, varint); spec.remove_extra_whitespaces = in.read_varint() != 0; break;
            case 5: in.expect(field, wire, varint); spec.escape_whitespaces = in.read_varint() != 0; break;
            default: in.skip(field, wire);
        }
    }
    return spec;
}

// ---- writer ------------------------------------------------------------------------------------

void put_varint(std::string& out, uint64_t value) {
    while (value >= 0x80) {
        out += char(uint8_t(value) | 0x80);
        value >>= 7;
    }
    out += char(value);
}
void put_tag(std::string& out, int field, int wire_type) { put_varint(out, uint64_t(field) << 3 | wire_type); }
void put_int32(std::string& out, int field, int value) { put_tag(out, field, varint); put_varint(out, uint64_t(int64_t(value))); }
void put_bytes(std::string& out, int field, const std::string& value) {
    put_tag(out, field, length_delimited);
    put_varint(out, value.size());
    out += value;
}
void put_float(std::string& out, int field, float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    put_tag(out, field, fixed32);
    for (int i = 0; i < 4; ++i) out += char(uint8_t(bits >> (8 * i)));
}

std::string serialize_normalizer(const NormalizerSpec& spec) {
    std::string out;
    put_bytes(out, 1, spec.name);
    if (!spec.precompiled_charsmap.empty()) put_bytes(out, 2, spec.precompiled_charsmap);
    put_int32(out, 3, spec.add_dummy_prefix);
    put_int32(out, 4, spec.remove_extra_whitespaces);
    put_int32(out, 5, spec.escape_whitespaces);
    return out;
}

}  // namespace

SentencePieceModel parse_model_proto(const std::string& bytes, const std::string& where) {
    if (bytes.empty()) fail(where, "not a SentencePiece model (the file is empty)");
    SentencePieceModel model;
    bool has_trainer_spec = false;
    WireReader in{reinterpret_cast<const uint8_t*>(bytes.data()),
                  reinterpret_cast<const uint8_t*>(bytes.data()) + bytes.size(), where};
    int field, wire;
    while (in.next(field, wire)) {
        if (field >= 1 && field <= 5) in.expect(field, wire, length_delimited);
        switch (field) {
            case 1: model.pieces.push_back(parse_piece(in.sub_message(field))); break;
            case 2: model.trainer = parse_trainer(in.sub_message(field)); has_trainer_spec = true; break;
            case 3: model.normalizer = parse_normalizer(in.sub_message(field)); break;
            case 5: model.denormalizer = parse_normalizer(in.sub_message(field)); break;
            default: in.skip(field, wire);
        }
    }
    if (model.pieces.empty()) fail(where, "not a SentencePiece model (expected a list of pieces, got none)");
    // Every .model holds pieces, then trainer_spec, then normalizer_spec. Requiring the last two also
    // catches a file cut exactly between two fields, which the wire format alone cannot notice.
    if (!has_trainer_spec || !model.normalizer.present) {
        fail(where, std::string("truncated file or not a SentencePiece model (expected trainer_spec and normalizer_spec, ") +
                        "got " + (has_trainer_spec ? "no normalizer_spec" : "no trainer_spec") + ")");
    }
    const int type = int(model.trainer.model_type);
    if (type < 1 || type > 4) fail(where, "unknown model_type (expected 1..4, got " + std::to_string(type) + ")");
    return model;
}

SentencePieceModel load_model(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) fail(path, "cannot open the tokenizer model (expected a SentencePiece .model file)");
    std::ostringstream content;
    content << file.rdbuf();
    return parse_model_proto(content.str(), path);
}

std::string serialize_model_proto(const SentencePieceModel& model) {
    std::string out;
    for (const ModelPiece& piece : model.pieces) {
        std::string message;
        put_bytes(message, 1, piece.piece);
        put_float(message, 2, piece.score);
        if (piece.type != PieceType::normal) put_int32(message, 3, int(piece.type));
        put_bytes(out, 1, message);
    }
    const TrainerSpec& t = model.trainer;
    std::string trainer;
    put_int32(trainer, 3, int(t.model_type));
    put_int32(trainer, 4, t.vocab_size);
    put_int32(trainer, 24, t.treat_whitespace_as_suffix);
    put_int32(trainer, 25, t.split_digits);
    put_int32(trainer, 35, t.byte_fallback);
    put_int32(trainer, 40, t.unk_id);
    put_int32(trainer, 41, t.bos_id);
    put_int32(trainer, 42, t.eos_id);
    put_int32(trainer, 43, t.pad_id);
    put_bytes(trainer, 44, t.unk_surface);
    put_bytes(out, 2, trainer);
    put_bytes(out, 3, serialize_normalizer(model.normalizer));
    if (model.denormalizer.present) put_bytes(out, 5, serialize_normalizer(model.denormalizer));
    return out;
}

void save_model(const SentencePieceModel& model, const std::string& path) {
    atomic_write_file(path, serialize_model_proto(model));
}
