// test_tokenizer.cpp — the tokenizer against sentencepiece: the committed cases of
// tests/fixtures/tokenizer/cases.json (ids, pieces and decoded text from sentencepiece 0.1.97, made by
// tests/reference/gen_tokenizer_cases.py) for T5, LLaMA-2 and tok512; the T5 sentinel convention; public
// golden vectors; and clear errors for truncated or foreign model files.
#include "engine/error.h"
#include "tests/test_util.h"
#include "tokenizer/tokenizer.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

namespace {

std::string read_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    REQUIRE(file);
    std::ostringstream content;
    content << file.rdbuf();
    return content.str();
}

std::string from_hex(const std::string& hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    return bytes;
}

const nlohmann::json& fixture() {
    static const nlohmann::json cases = nlohmann::json::parse(read_file("tests/fixtures/tokenizer/cases.json"));
    return cases;
}

}  // namespace

TEST_CASE("encode, pieces and decode equal sentencepiece on the tricky-string corpus", "[tokenizer]") {
    const nlohmann::json& data = fixture();
    REQUIRE(data["cases"].size() >= 80);
    for (const auto& [name, relative] : data["models"].items()) {
        const std::string path = shared_path(relative.get<std::string>());
        if (path.empty()) continue;
        const Tokenizer tokenizer = load_tokenizer(path);
        for (const nlohmann::json& c : data["cases"]) {
            const std::string text = from_hex(c["text_hex"]);
            const nlohmann::json& expected = c["expected"][name];
            INFO("model " << name << ", case \"" << c["note"].get<std::string>() << "\"");
            std::vector<int> ids;
            std::vector<std::string> pieces;
            encode(tokenizer, text, ids, &pieces);
            CHECK(ids == expected["ids"].get<std::vector<int>>());
            CHECK(pieces == expected["pieces"].get<std::vector<std::string>>());
            CHECK(decode(tokenizer, ids) == from_hex(expected["decoded_hex"]));
        }
    }
}

TEST_CASE("T5 sentinels follow HF's legacy T5Tokenizer: split, strip around, encode segments alone", "[tokenizer]") {
    const std::string path = shared_path("tokenizers/t5/spiece.model");
    if (path.empty()) return;
    const Tokenizer t5 = load_tokenizer(path, 100);
    REQUIRE(vocab_size(t5) == 32100);
    CHECK(token_to_id(t5, "<extra_id_0>") == 32099);
    CHECK(token_to_id(t5, "<extra_id_99>") == 32000);
    CHECK(id_to_piece(t5, 32099) == "<extra_id_0>");
    for (const nlohmann::json& c : fixture()["t5_sentinel_cases"]) {
        const std::string text = c["text"];
        INFO("case \"" << text << "\"");
        const std::vector<int> ids = encode(t5, text);
        CHECK(ids == c["ids"].get<std::vector<int>>());
        CHECK(decode(t5, ids) == c["decoded"].get<std::string>());
    }
    // Without sentinels configured, the same text is plain text, as for spm_encode.
    const Tokenizer plain = load_tokenizer(path);
    CHECK(encode(plain, "<extra_id_0>")[0] != 32099);
    CHECK_THROWS_AS(decode(plain, {32099}), sapt_error);
}

TEST_CASE("public golden vectors: LLaMA-2 and T5", "[tokenizer]") {
    const std::string llama_path = shared_path("tokenizers/llama2/tokenizer.model");
    const std::string t5_path = shared_path("tokenizers/t5/spiece.model");
    if (!llama_path.empty()) {
        const Tokenizer llama = load_tokenizer(llama_path);
        // llama2.c test.c (it prepends BOS = 1 itself; we add none).
        CHECK(encode(llama, "I believe the meaning of life is") == std::vector<int>{306, 4658, 278, 6593, 310, 2834, 338});
        CHECK(encode(llama, "Hello world, this is a test.") == std::vector<int>{15043, 3186, 29892, 445, 338, 263, 1243, 29889});
        CHECK(token_to_id(llama, "<0x0A>") == 13);
        CHECK(id_to_piece(llama, 1) == "<s>");
        CHECK(decode(llama, {1, 15043, 2}) == "Hello");
    }
    if (!t5_path.empty()) {
        const Tokenizer t5 = load_tokenizer(t5_path);
        CHECK(encode(t5, "Hello world, this is a test.") == std::vector<int>{8774, 296, 6, 48, 19, 3, 9, 794, 5});
        CHECK(token_to_id(t5, "\xE2\x96\x81Hello") == 8774);
        CHECK(token_to_id(t5, "no such piece") == 2);
    }
}

TEST_CASE("a truncated model file gives a clear error at every cut", "[tokenizer]") {
    const std::string path = shared_path("tokenizers/t5/spiece.model");
    if (path.empty()) return;
    const std::string bytes = read_file(path);
    REQUIRE_NOTHROW(parse_model_proto(bytes, "spiece.model"));
    // Cuts inside a piece, between pieces, inside the charsmap and one byte short of the end.
    const size_t cuts[] = {1, 2, 7, 100, 1000, 200001, 400000, 400003, bytes.size() - 300000, bytes.size() - 1};
    for (size_t cut : cuts) {
        INFO("cut at " << cut << " of " << bytes.size());
        try {
            make_tokenizer(parse_model_proto(bytes.substr(0, cut), "spiece.model"), 0, "spiece.model");
            FAIL("a truncated model loaded");
        } catch (const sapt_error& e) {
            const std::string message = e.what();
            CHECK(message.rfind("spiece.model: ", 0) == 0);
            CHECK((message.find("truncated") != std::string::npos || message.find("not a SentencePiece") != std::string::npos));
        }
    }
}

TEST_CASE("every truncation of a small serialised model is rejected", "[tokenizer]") {
    SentencePieceModel model;
    model.pieces = {{"<unk>", 0, PieceType::unknown}, {"<s>", 0, PieceType::control}, {"\xE2\x96\x81", -1},
                    {"a", -2}, {"b", -3}, {"\xE2\x96\x81" "ab", -4}};
    const std::string bytes = serialize_model_proto(model);
    REQUIRE_NOTHROW(make_tokenizer(parse_model_proto(bytes, "small.model"), 0, "small.model"));
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
        INFO("cut at " << cut << " of " << bytes.size());
        CHECK_THROWS_AS(parse_model_proto(bytes.substr(0, cut), "small.model"), sapt_error);
    }
}

TEST_CASE("a file that is not a SentencePiece model is rejected with its name in the message", "[tokenizer]") {
    const std::string json_text = "{\"Definition\": [\"Given a sentence\"], \"Instances\": []}\n";
    CHECK_THROWS_WITH(parse_model_proto(json_text, "task.json"), Catch::Contains("task.json: ") && Catch::Contains("not a SentencePiece model"));
    CHECK_THROWS_WITH(parse_model_proto(std::string(), "empty.model"), Catch::Contains("empty.model: not a SentencePiece model"));
    CHECK_THROWS_WITH(parse_model_proto(std::string("\x0a\x03\x0a\x01" "a", 5), "nounk.model"), Catch::Contains("nounk.model: "));
    CHECK_THROWS_WITH(load_tokenizer("/nonexistent/x.model"), Catch::Contains("/nonexistent/x.model: cannot open"));
    const std::string elf("\x7f" "ELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
    CHECK_THROWS_AS(parse_model_proto(elf, "a.out"), sapt_error);
}

TEST_CASE("a parsed model without <unk> or with a duplicate piece is refused as sentencepiece refuses it", "[tokenizer]") {
    SentencePieceModel model;
    model.pieces = {{"a", -1}, {"b", -2}};
    CHECK_THROWS_WITH(make_tokenizer(model, 0, "m"), Catch::Contains("no <unk> piece"));
    model.pieces = {{"<unk>", 0, PieceType::unknown}, {"a", -1}, {"a", -2}};
    CHECK_THROWS_WITH(make_tokenizer(model, 0, "m"), Catch::Contains("defined twice"));
    model.pieces = {{"<unk>", 0, PieceType::unknown}, {"a", -1}, {"<0x41>", 0, PieceType::byte}};
    CHECK_THROWS_WITH(make_tokenizer(model, 0, "m"), Catch::Contains("byte_fallback is false"));
}

TEST_CASE("decode rejects ids outside the vocabulary", "[tokenizer]") {
    SentencePieceModel model;
    model.pieces = {{"<unk>", 0, PieceType::unknown}, {"\xE2\x96\x81", -1}, {"a", -2}};
    const Tokenizer t = make_tokenizer(model, 0, "m");
    CHECK(decode(t, {1, 2}) == "a");
    CHECK_THROWS_WITH(decode(t, {3}), Catch::Contains("expected 0..2, got 3"));
    CHECK_THROWS_WITH(decode(t, {-1}), Catch::Contains("got -1"));
}

TEST_CASE("a corrupted model either loads or throws sapt_error, and a loaded one still encodes", "[tokenizer]") {
    const std::string path = shared_path("models/stories260K/tok512.model");
    if (path.empty()) return;
    const std::string original = read_file(path);
    std::mt19937 rng(1234);
    int loaded = 0, rejected = 0;
    for (int trial = 0; trial < 300; ++trial) {
        std::string bytes = original;
        const int n_flips = 1 + int(rng() % 4);
        for (int f = 0; f < n_flips; ++f) bytes[rng() % bytes.size()] = char(rng());
        try {
            const Tokenizer t = make_tokenizer(parse_model_proto(bytes, "corrupt.model"), 0, "corrupt.model");
            const std::vector<int> ids = encode(t, "Once upon a time, \xE4\xBD\xA0 \xFF!");
            for (int id : ids) CHECK((id >= 0 && id < vocab_size(t)));
            decode(t, ids);
            ++loaded;
        } catch (const sapt_error&) {
            ++rejected;
        }
    }
    CHECK(loaded + rejected == 300);
    CHECK(rejected > 0);
}
