// test_tokenizer_trainer.cpp — the pieces under the tokenizer that need no shared files: the double-array
// trie builder, the model writer, the NFKC charsmap, the BPE trainer, and (when Debian's spm_encode is
// installed) that sentencepiece loads models we wrote and gives the same ids as our encoder: a trained
// model, and T5 / tok512 edited to hold user-defined and UNUSED pieces, which no shipped model has.
#include "engine/error.h"
#include "tests/test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/trainer.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <unistd.h>

namespace {

std::vector<std::string> small_corpus() {
    const std::vector<std::string> sentences = {
        "The quick brown fox jumps over the lazy dog.",
        "the dog sleeps; the fox runs away from the dog",
        "Given a sentence, decide whether the sentiment is positive or negative.",
        "Ｆｕｌｌ－ｗｉｄｔｈ text and ligatures like ﬁle and ﬂow are normalised.",
        "Café, naïve, façade — accents stay; numbers 12345 and 2024 too.",
        "Question: what is the capital of France? Answer: Paris",
    };
    std::vector<std::string> corpus;
    for (int repeat = 0; repeat < 20; ++repeat) {
        for (const std::string& s : sentences) corpus.push_back(s);
    }
    return corpus;
}

std::string temp_path(const std::string& name) {
    return "/tmp/sapt_test_tokenizer_" + std::to_string(getpid()) + "_" + name;
}

}  // namespace

TEST_CASE("double-array trie finds every key, no other string, and the longest prefix", "[tokenizer]") {
    std::mt19937 rng(7);
    std::set<std::string> key_set;
    while (key_set.size() < 3000) {
        std::string key;
        const int length = 1 + int(rng() % 8);
        for (int i = 0; i < length; ++i) key += char(1 + rng() % (i == 0 ? 255 : 4));  // dense prefixes
        key_set.insert(key);
    }
    std::vector<std::pair<std::string, int>> keys;
    for (const std::string& key : key_set) keys.emplace_back(key, int(keys.size()) * 3);
    const DoubleArray trie = build_double_array(keys, "test");
    REQUIRE(trie.units.size() % 256 == 0);
    for (const auto& [key, value] : keys) CHECK(da_exact(trie, key.data(), key.size()) == value);
    for (int trial = 0; trial < 3000; ++trial) {
        std::string probe;
        const int length = 1 + int(rng() % 9);
        for (int i = 0; i < length; ++i) probe += char(1 + rng() % (i == 0 ? 255 : 5));
        const bool is_key = key_set.count(probe) > 0;
        CHECK((da_exact(trie, probe.data(), probe.size()) >= 0) == is_key);
        size_t expected_length = 0;
        for (size_t n = 1; n <= probe.size(); ++n) if (key_set.count(probe.substr(0, n))) expected_length = n;
        size_t length_found = 0;
        da_longest_prefix(trie, probe.data(), probe.size(), length_found);
        CHECK(length_found == expected_length);
    }
    CHECK_THROWS_AS(build_double_array({{"a", 1}, {"a", 2}}, "test"), sapt_error);
    CHECK_THROWS_AS(build_double_array({{std::string("a\0b", 3), 1}}, "test"), sapt_error);
}

TEST_CASE("the NFKC charsmap rewrites compatibility characters and leaves others alone", "[tokenizer]") {
    const Normalizer nfkc = make_normalizer(make_nfkc_normalizer_spec(), false, {}, "nfkc");
    std::string out;
    normalize(nfkc, "\xEF\xBC\xA1\xEF\xBC\xA2 \xEF\xAC\x81 \xE2\x91\xA0 x\xC2\xB2", out);  // ＡＢ ﬁ ① x²
    CHECK(out == "\xE2\x96\x81" "AB" "\xE2\x96\x81" "fi" "\xE2\x96\x81" "1" "\xE2\x96\x81" "x2");
    normalize(nfkc, "caf\xC3\xA9 \xE4\xBD\xA0", out);  // café 你: already NFKC
    CHECK(out == "\xE2\x96\x81" "caf\xC3\xA9" "\xE2\x96\x81" "\xE4\xBD\xA0");
}

TEST_CASE("train_bpe builds a model of exactly vocab_size pieces that round-trips through the writer", "[tokenizer]") {
    const std::vector<std::string> corpus = small_corpus();
    const SentencePieceModel model = train_bpe(corpus, 400);
    REQUIRE(model.pieces.size() == 400);
    CHECK(model.trainer.model_type == ModelType::bpe);

    const SentencePieceModel reread = parse_model_proto(serialize_model_proto(model), "trained");
    REQUIRE(reread.pieces.size() == model.pieces.size());
    for (size_t i = 0; i < model.pieces.size(); ++i) {
        CHECK(reread.pieces[i].piece == model.pieces[i].piece);
        CHECK(reread.pieces[i].score == model.pieces[i].score);
        CHECK(reread.pieces[i].type == model.pieces[i].type);
    }
    CHECK(reread.normalizer.precompiled_charsmap == model.normalizer.precompiled_charsmap);

    const Tokenizer tokenizer = make_tokenizer(reread, 0, "trained");
    // The most frequent word is learned whole; text decodes back to its NFKC form.
    CHECK(encode(tokenizer, "the") == std::vector<int>{token_to_id(tokenizer, "\xE2\x96\x81the")});
    CHECK(decode(tokenizer, encode(tokenizer, "The ﬁle of the dog")) == "The file of the dog");
    // Characters never seen fall back to bytes instead of <unk>.
    const std::vector<int> emoji = encode(tokenizer, "\xF0\x9F\x98\x80");
    CHECK(decode(tokenizer, emoji) == "\xF0\x9F\x98\x80");
    for (int id : emoji) CHECK(id != 0);

    CHECK_THROWS_WITH(train_bpe(corpus, 100), Catch::Contains("vocab_size too small"));
    CHECK_THROWS_WITH(train_bpe(corpus, 100000), Catch::Contains("corpus too small"));
}

TEST_CASE("sentencepiece (spm_encode) loads a trained model and agrees with our ids", "[tokenizer]") {
    if (std::system("command -v spm_encode > /dev/null 2>&1") != 0) {
        WARN("SKIPPED: spm_encode not installed (apt-get install sentencepiece)");
        return;
    }
    const std::string model_path = temp_path("bpe.model"), text_path = temp_path("text.txt"), ids_path = temp_path("ids.txt");
    const SentencePieceModel model = train_bpe(small_corpus(), 400);
    save_model(model, model_path);
    const std::vector<std::string> lines = {"The lazy dog jumps over the quick fox.", "  ＦＵＬＬ   width ﬁ  ", "",
                                            "Unseen: 你好 😀 \xff", "numbers 1234567 and 2024"};
    {
        std::ofstream text(text_path);
        for (const std::string& line : lines) text << line << "\n";
    }
    REQUIRE(std::system(("spm_encode --model " + model_path + " --output_format=id < " + text_path + " > " + ids_path).c_str()) == 0);
    const Tokenizer tokenizer = load_tokenizer(model_path);
    std::ifstream ids_file(ids_path);
    std::string line;
    for (const std::string& text : lines) {
        REQUIRE(std::getline(ids_file, line));
        std::vector<int> expected;
        std::istringstream fields(line);
        for (int id; fields >> id;) expected.push_back(id);
        INFO("text \"" << text << "\"");
        CHECK(encode(tokenizer, text) == expected);
    }
    std::remove(model_path.c_str());
    std::remove(text_path.c_str());
    std::remove(ids_path.c_str());
}

TEST_CASE("train_unigram builds a unigram model that spm_encode segments as we do", "[tokenizer]") {
    const std::vector<std::string> corpus = small_corpus();
    const SentencePieceModel model = train_unigram(corpus, 340);
    REQUIRE(model.pieces.size() == 340);
    CHECK(model.trainer.model_type == ModelType::unigram);
    for (size_t i = 260; i < model.pieces.size(); ++i) CHECK(model.pieces[i].score <= model.pieces[i - 1].score);
    const Tokenizer tokenizer = make_tokenizer(model, 0, "unigram");
    CHECK(encode(tokenizer, "the") == std::vector<int>{token_to_id(tokenizer, "\xE2\x96\x81the")});
    CHECK(decode(tokenizer, encode(tokenizer, "The ﬁle of the dog \xF0\x9F\x98\x80")) == "The file of the dog \xF0\x9F\x98\x80");
    CHECK_THROWS_WITH(train_unigram(corpus, 100), Catch::Contains("vocab_size too small"));
    CHECK_THROWS_WITH(train_unigram(corpus, 100000), Catch::Contains("corpus too small"));

    if (std::system("command -v spm_encode > /dev/null 2>&1") != 0) {
        WARN("SKIPPED: spm_encode not installed (apt-get install sentencepiece)");
        return;
    }
    const std::string model_path = temp_path("unigram.model"), text_path = temp_path("u_text.txt"), ids_path = temp_path("u_ids.txt");
    save_model(model, model_path);
    const std::vector<std::string> lines = {"The lazy dog jumps over the quick fox.", "  ＦＵＬＬ   width ﬁ  ", "",
                                            "Unseen: 你好 😀 \xff", "numbers 1234567 and 2024", "the the the"};
    {
        std::ofstream text(text_path);
        for (const std::string& line : lines) text << line << "\n";
    }
    REQUIRE(std::system(("spm_encode --model " + model_path + " --output_format=id < " + text_path + " > " + ids_path).c_str()) == 0);
    std::ifstream ids_file(ids_path);
    std::string line;
    for (const std::string& text : lines) {
        REQUIRE(std::getline(ids_file, line));
        std::vector<int> expected;
        std::istringstream fields(line);
        for (int id; fields >> id;) expected.push_back(id);
        INFO("text \"" << text << "\"");
        CHECK(encode(tokenizer, text) == expected);
    }
    std::remove(model_path.c_str());
    std::remove(text_path.c_str());
    std::remove(ids_path.c_str());
}

TEST_CASE("user-defined and unused pieces behave as in spm_encode (models edited with our writer)", "[tokenizer]") {
    if (std::system("command -v spm_encode > /dev/null 2>&1") != 0) {
        WARN("SKIPPED: spm_encode not installed (apt-get install sentencepiece)");
        return;
    }
    const std::vector<std::string> lines = {
        "Hello <sep> world<sep>again", "a <sep><sep> b", "user@@defined@@ symbols", "The cat sat on the mat.",
        "  spaces   and\ttabs  ", "ＦＵＬＬ width <SEP>", "once upon a time there was a little girl", "@@",
        "unused pieces split back: the the the", "t h e", "xyzxyz axyzb"};
    const std::string text_path = temp_path("ud_text.txt"), ids_path = temp_path("ud_ids.txt"), model_path = temp_path("ud.model");
    {
        std::ofstream text(text_path);
        for (const std::string& line : lines) text << line << "\n";
    }
    for (const char* relative : {"tokenizers/t5/spiece.model", "models/stories260K/tok512.model"}) {
        const std::string path = shared_path(relative);
        if (path.empty()) continue;
        SentencePieceModel model = load_model(path);
        model.pieces.push_back({"<sep>", 0, PieceType::user_defined});
        model.pieces.push_back({"@@", 0, PieceType::user_defined});
        model.pieces.push_back({"xyz", 0, PieceType::user_defined});
        // Mark a few frequent pieces UNUSED: the unigram encoder skips them, BPE splits them back.
        int marked = 0;
        for (ModelPiece& piece : model.pieces) {
            if (piece.type == PieceType::normal && (piece.piece == "\xE2\x96\x81" "a" || piece.piece == "at" || piece.piece == "\xE2\x96\x81t")) {
                piece.type = PieceType::unused;
                ++marked;
            }
        }
        INFO("model " << relative << ", " << marked << " pieces marked unused");
        save_model(model, model_path);
        REQUIRE(std::system(("spm_encode --model " + model_path + " --output_format=id < " + text_path + " > " + ids_path).c_str()) == 0);
        const Tokenizer tokenizer = load_tokenizer(model_path);
        std::ifstream ids_file(ids_path);
        std::string line;
        for (const std::string& text : lines) {
            REQUIRE(std::getline(ids_file, line));
            std::vector<int> expected;
            std::istringstream fields(line);
            for (int id; fields >> id;) expected.push_back(id);
            INFO("text \"" << text << "\"");
            CHECK(encode(tokenizer, text) == expected);
        }
    }
    std::remove(model_path.c_str());
    std::remove(text_path.c_str());
    std::remove(ids_path.c_str());
}
