// test_bad_inputs.cpp — the catalogue of malformed inputs, library side: each case builds one broken file
// (safetensors, config.json, the shard index, llama2.c .bin, tokenizer .model, CL_Benchmark splits,
// labels.json, orders.json, a checkpoint of the wrong family or shapes) in a fresh folder, calls the loader,
// and requires a sapt_error naming the file and the problem, with every file in the folder unchanged.
// Also: a Long_Sequence output missing from labels.json (a note, not an error), non-UTF-8 text for the
// tokenizer, and the replay of saved fuzzer crash inputs. The programs' side: test_bad_inputs_programs.cpp.
#include <catch2/catch.hpp>

#include <functional>

#include "bad_inputs_files.h"
#include "bad_inputs_util.h"
#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "engine/error.h"
#include "engine/safetensors.h"
#include "fuzz/fuzz_targets.h"
#include "models/checkpoint.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace {

const std::string kT5Dir = "tests/fixtures/models/t5_gated_untied_lora";
const std::string kLlamaDir = "tests/fixtures/models/llama_gqa_lora";

struct LibraryCase {
    const char* name;
    const char* file;     // the file the message must name, relative to the case folder
    const char* problem;  // a fragment of the message that says what is wrong
    std::function<void(const std::string& dir)> build;  // writes the bad input under dir
    std::function<void(const std::string& dir)> load;   // the library call that must refuse it
};

void copy_file(const std::string& from, const std::string& to) { write_bytes(to, read_file(from)); }

// A HF directory: `config` as config.json, the weights of `weights_dir`.
void hf_dir(const std::string& dir, const std::string& config, const std::string& weights_dir) {
    write_bytes(dir + "/config.json", config);
    copy_file(weights_dir + "/model.safetensors", dir + "/model.safetensors");
}

const char* kSplit = R"({"Definition": ["Say yes or no."], "Instances": [{"input": "a", "output": "yes"}, {"input": "b", "output": ["no"]}]})";

// One task folder <dir>/Long_Sequence/t with the given train.json.
void task_folder(const std::string& dir, const std::string& train_json) {
    write_bytes(dir + "/Long_Sequence/t/train.json", train_json);
    write_bytes(dir + "/Long_Sequence/t/test.json", kSplit);
}

std::string tiny_model_bytes() { return serialize_model_proto(tiny_sentencepiece_model(false)); }

const std::vector<LibraryCase>& library_cases() {
    static const std::vector<LibraryCase> cases = {
        // ---- safetensors -----------------------------------------------------------------------------
        {"safetensors shorter than its length prefix", "m.safetensors", "too short for a safetensors file",
         [](auto& d) { write_bytes(d + "/m.safetensors", std::string("\x10\0\0", 3)); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors header length past the end", "m.safetensors", "header length 1000000 runs past the end",
         [](auto& d) { write_bytes(d + "/m.safetensors", std::string("\x40\x42\x0f\0\0\0\0\0{}", 10)); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors header that is not JSON", "m.safetensors", "header is not valid JSON",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors("{\"a\": [1, 2", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors header that is a list", "m.safetensors", "header must be a JSON object (got array)",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors("[1, 2, 3]", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors unknown dtype", "m.safetensors", "tensor 'w': unknown dtype 'F33'",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", "abcd")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors offsets past the end of the file", "m.safetensors", "tensor 'w': data_offsets [0, 400] run past the end",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", "abcd")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors shape that disagrees with its bytes", "m.safetensors", "shape (2, 3) of F32 needs 24 bytes",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,4]}})", "abcd")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors overlapping tensors", "m.safetensors", "overlap tensor 'a'",
         [](auto& d) {
             write_bytes(d + "/m.safetensors", raw_safetensors(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                                               R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", "abcd"));
         },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors trailing bytes after the data", "m.safetensors", "(trailing bytes)",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abcd")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors negative dimension", "m.safetensors", "shape entry must be a non-negative integer (got -1)",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors dimension beyond int64", "m.safetensors", "is too large to address",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]}})", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors shape whose product overflows before a zero", "m.safetensors", "is too large to address",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}})", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors metadata value that is not a string", "m.safetensors", "__metadata__ value of 'step' must be a string",
         [](auto& d) { write_bytes(d + "/m.safetensors", raw_safetensors(R"({"__metadata__":{"step":3}})", "")); },
         [](auto& d) { safetensors_open(d + "/m.safetensors"); }},
        {"safetensors save of a reserved name over an existing file", "m.safetensors", "'__metadata__' is reserved",
         [](auto& d) { write_bytes(d + "/m.safetensors", "previous checkpoint bytes"); },
         [](auto& d) { safetensors_save(d + "/m.safetensors", {{"__metadata__", tensor_zeros({2})}}); }},

        // ---- config.json and the HF directory ------------------------------------------------------
        {"config.json that is not JSON", "config.json", "not valid JSON",
         [](auto& d) { hf_dir(d, "{\"model_type\": \"t5\",", kT5Dir); },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json of an unsupported family", "config.json", "unsupported model_type (expected \"t5\" or \"llama\", got \"bert\")",
         [](auto& d) { hf_dir(d, R"({"model_type": "bert", "hidden_size": 8})", kT5Dir); },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json without a required field", "config.json", "missing field \"d_ff\"",
         [](auto& d) { hf_dir(d, R"({"model_type":"t5","d_model":16,"d_kv":4,"num_heads":4,"num_layers":2,"vocab_size":40})", kT5Dir); },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json field of the wrong type", "config.json", "field \"d_model\" has the wrong type (expected an integer, got \"big\")",
         [](auto& d) { hf_dir(d, R"({"model_type":"t5","d_model":"big","d_kv":4,"d_ff":8,"num_heads":4,"num_layers":2,"vocab_size":40})", kT5Dir); },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json integer field given as a huge float", "config.json", "field \"num_attention_heads\" has the wrong type (expected an integer",
         [](auto& d) {
             hf_dir(d, R"({"model_type":"llama","hidden_size":8,"intermediate_size":16,"num_attention_heads":22222222222.5,"num_hidden_layers":1,"vocab_size":8})", kLlamaDir);
         },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json integer field beyond int", "config.json", "field \"vocab_size\" is out of range (expected an int, got 4294967296)",
         [](auto& d) {
             hf_dir(d, R"({"model_type":"llama","hidden_size":8,"intermediate_size":16,"num_attention_heads":2,"num_hidden_layers":1,"vocab_size":4294967296})", kLlamaDir);
         },
         [](auto& d) { load_pretrained_model(d); }},
        {"config.json heads that do not divide the width", "config.json", "hidden_size must be a multiple of num_attention_heads",
         [](auto& d) {
             hf_dir(d, R"({"model_type":"llama","hidden_size":10,"intermediate_size":8,"num_attention_heads":4,"num_hidden_layers":1,"vocab_size":8})", kLlamaDir);
         },
         [](auto& d) { load_pretrained_model(d); }},
        {"HF directory without config.json", "config.json", "cannot open for reading",
         [](auto& d) { copy_file(kT5Dir + "/model.safetensors", d + "/model.safetensors"); },
         [](auto& d) { load_pretrained_model(d); }},
        {"HF directory with only pytorch_model.bin", "", "convert it to safetensors first",
         [](auto& d) {
             copy_file(kT5Dir + "/config.json", d + "/config.json");
             write_bytes(d + "/pytorch_model.bin", "PK\3\4 pickled torch weights");
         },
         [](auto& d) { load_pretrained_model(d); }},
        {"a LLaMA checkpoint given as T5", "", "missing tensors: shared.weight",
         [](auto& d) { hf_dir(d, read_file(kT5Dir + "/config.json"), kLlamaDir); },
         [](auto& d) { load_pretrained_model(d); }},
        {"a T5 checkpoint whose config says other shapes", "",
         "wrongly shaped tensors: encoder.block.0.layer.1.DenseReluDense.wi_0.weight (expected (7, 16), got (24, 16))",
         [](auto& d) {
             hf_dir(d, R"({"model_type":"t5","d_model":16,"d_kv":4,"num_heads":4,"d_ff":7,"num_layers":2,"vocab_size":40,)"
                       R"("relative_attention_num_buckets":8,"relative_attention_max_distance":20,"feed_forward_proj":"gated-gelu","tie_word_embeddings":false})",
                    kT5Dir);
         },
         [](auto& d) { load_pretrained_model(d); }},

        // ---- model.safetensors.index.json ----------------------------------------------------------
        {"shard index that is not JSON", "model.safetensors.index.json", "not valid JSON",
         [](auto& d) {
             copy_file(kT5Dir + "/config.json", d + "/config.json");
             write_bytes(d + "/model.safetensors.index.json", "{\"weight_map\": ");
         },
         [](auto& d) { read_hf_weights(d); }},
        {"shard index without weight_map", "model.safetensors.index.json", "missing the \"weight_map\" object",
         [](auto& d) { write_bytes(d + "/model.safetensors.index.json", R"({"metadata": {"total_size": 4}})"); },
         [](auto& d) { read_hf_weights(d); }},
        {"shard index naming a missing shard", "model-00002-of-00002.safetensors", "cannot open for reading",
         [](auto& d) { write_bytes(d + "/model.safetensors.index.json", R"({"weight_map": {"w": "model-00002-of-00002.safetensors"}})"); },
         [](auto& d) { read_hf_weights(d); }},
        {"shard index listing a tensor its shard lacks", "shard.safetensors", "tensor lm_head.weight listed in the index is not in this shard",
         [](auto& d) {
             write_bytes(d + "/shard.safetensors", raw_safetensors(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "ab"));
             write_bytes(d + "/model.safetensors.index.json", R"({"weight_map": {"w": "shard.safetensors", "lm_head.weight": "shard.safetensors"}})");
         },
         [](auto& d) { read_hf_weights(d); }},

        // ---- llama2.c .bin -------------------------------------------------------------------------
        {"llama2.c file shorter than a header", "m.bin", "too short for a llama2.c header (got 12 bytes)",
         [](auto& d) { write_bytes(d + "/m.bin", llama2c_bytes(0, true).substr(0, 12)); },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c v1 magic with version 2", "m.bin", "unsupported llama2.c version (expected 0 or 1, got 2)",
         [](auto& d) {
             std::string bytes = llama2c_bytes(1, true);
             bytes[4] = 2;
             write_bytes(d + "/m.bin", bytes);
         },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c header with dim 0", "m.bin", "header field dim is out of range (got 0)",
         [](auto& d) {
             Llama2cDims dims;
             std::string bytes = llama2c_bytes(0, true, dims);
             std::memset(&bytes[0], 0, 4);
             write_bytes(d + "/m.bin", bytes);
         },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c header with the most negative vocab size", "m.bin", "header field vocab_size is out of range",
         [](auto& d) {
             std::string bytes = llama2c_bytes(0, true);
             const int32_t most_negative = INT32_MIN;
             std::memcpy(&bytes[20], &most_negative, 4);
             write_bytes(d + "/m.bin", bytes);
         },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c heads that do not divide dim", "m.bin", "inconsistent header (dim 6, n_heads 4",
         [](auto& d) {
             Llama2cDims dims;
             dims.dim = 6;
             dims.n_heads = 4;
             dims.n_kv_heads = 4;
             std::string bytes = llama2c_bytes(0, true, {});
             std::memcpy(&bytes[0], &dims.dim, 4);
             std::memcpy(&bytes[12], &dims.n_heads, 4);
             std::memcpy(&bytes[16], &dims.n_kv_heads, 4);
             write_bytes(d + "/m.bin", bytes);
         },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c file cut short", "m.bin", "file too short for its header",
         [](auto& d) {
             const std::string bytes = llama2c_bytes(1, false);
             write_bytes(d + "/m.bin", bytes.substr(0, bytes.size() - 8));
         },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},
        {"llama2.c file with trailing bytes", "m.bin", "size does not match the header",
         [](auto& d) { write_bytes(d + "/m.bin", llama2c_bytes(0, false) + "tail"); },
         [](auto& d) { load_pretrained_model(d + "/m.bin"); }},

        // ---- tokenizer .model ----------------------------------------------------------------------
        {"tokenizer model that is empty", "t.model", "the file is empty",
         [](auto& d) { write_bytes(d + "/t.model", ""); },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer.json given as a .model", "t.model", "not a SentencePiece model",
         [](auto& d) { write_bytes(d + "/t.model", R"({"version": "1.0", "model": {"type": "BPE"}})"); },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer model cut in half", "t.model", "truncated",
         [](auto& d) {
             const std::string bytes = tiny_model_bytes();
             write_bytes(d + "/t.model", bytes.substr(0, bytes.size() / 2));
         },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer model without <unk>", "t.model", "no <unk> piece",
         [](auto& d) {
             SentencePieceModel m = tiny_sentencepiece_model(false);
             m.pieces[0].type = PieceType::control;
             write_bytes(d + "/t.model", serialize_model_proto(m));
         },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer model with a piece twice", "t.model", "is defined twice",
         [](auto& d) {
             SentencePieceModel m = tiny_sentencepiece_model(true);
             m.pieces.push_back(m.pieces[4]);
             write_bytes(d + "/t.model", serialize_model_proto(m));
         },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer model with byte_fallback but no byte pieces", "t.model", "piece <0x00> is missing",
         [](auto& d) {
             SentencePieceModel m = tiny_sentencepiece_model(false);
             m.trainer.byte_fallback = true;
             write_bytes(d + "/t.model", serialize_model_proto(m));
         },
         [](auto& d) { load_tokenizer(d + "/t.model"); }},
        {"tokenizer model that does not exist", "missing.model", "cannot open the tokenizer model",
         [](auto&) {},
         [](auto& d) { load_tokenizer(d + "/missing.model"); }},

        // ---- CL_Benchmark split files, labels.json -------------------------------------------------
        {"split file that is not JSON", "train.json", "not valid JSON",
         [](auto& d) { write_bytes(d + "/train.json", "{\"Definition\": [\"x\"], \"Instances\": [}"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::super_ni); }},
        {"split file that is not UTF-8", "train.json", "not UTF-8 text (expected UTF-8, got an invalid byte at offset 50)",
         [](auto& d) { write_bytes(d + "/train.json", "{\"Definition\": [\"x\"], \"Instances\": [{\"input\": \"caf\xE9\", \"output\": \"y\"}]}"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::long_sequence); }},
        {"task with no instances", "Long_Sequence/t/train.json", "task has no instances (expected at least 1, got 0)",
         [](auto& d) { task_folder(d, R"({"Definition": [], "Instances": []})"); },
         [](auto& d) { load_task(d, "Long_Sequence", "t"); }},
        {"instance without input", "train.json: instance 1", "missing field \"input\"",
         [](auto& d) { write_bytes(d + "/train.json", R"({"Definition": ["x"], "Instances": [{"input": "a", "output": "b"}, {"output": "c"}]})"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::long_sequence); }},
        {"instance output of the wrong type", "train.json: instance 0", "\"output\" has the wrong type (expected a string or a list of strings, got number)",
         [](auto& d) { write_bytes(d + "/train.json", R"({"Definition": ["x"], "Instances": [{"input": "a", "output": 5}]})"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::super_ni); }},
        {"instance with an empty output list", "train.json: instance 0", "\"output\" is an empty list",
         [](auto& d) { write_bytes(d + "/train.json", R"({"Definition": ["x"], "Instances": [{"id": "t-0", "input": "a", "output": []}]})"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::super_ni); }},
        {"split file without Definition", "train.json", "missing field \"Definition\"",
         [](auto& d) { write_bytes(d + "/train.json", R"({"Instances": [{"input": "a", "output": "b"}]})"); },
         [](auto& d) { read_split_file(d + "/train.json", Benchmark::super_ni); }},
        {"task folder that does not exist", "Long_Sequence/nope", "no such task folder",
         [](auto&) {},
         [](auto& d) { load_task(d, "Long_Sequence", "nope"); }},
        {"task folder without train.json", "Long_Sequence/t/train.json", "missing (set LoadOptions.allow_missing_train",
         [](auto& d) { write_bytes(d + "/Long_Sequence/t/test.json", kSplit); },
         [](auto& d) { load_task(d, "Long_Sequence", "t"); }},
        {"labels.json that is not a list", "Long_Sequence/t/labels.json", "wrong type (expected a list of label strings, got object)",
         [](auto& d) {
             task_folder(d, kSplit);
             write_bytes(d + "/Long_Sequence/t/labels.json", R"({"yes": 0, "no": 1})");
         },
         [](auto& d) { load_task(d, "Long_Sequence", "t"); }},

        // ---- orders.json ---------------------------------------------------------------------------
        {"orders.json without \"orders\"", "orders.json", "missing field \"orders\"",
         [](auto& d) { write_bytes(d + "/orders.json", R"({"order1": ["a", "b"]})"); },
         [](auto& d) { load_order(d + "/orders.json", "order1"); }},
        {"orders.json without the asked order", "orders.json", "no order \"order9\" (expected one of: order1)",
         [](auto& d) { write_bytes(d + "/orders.json", R"({"orders": {"order1": {"benchmark": "SuperNI", "tasks": ["a"]}}})"); },
         [](auto& d) { load_order(d + "/orders.json", "order9"); }},
        {"orders.json with num_tasks that disagrees", "orders.json: order order1", "\"num_tasks\" disagrees with the task list (expected 2, got 3)",
         [](auto& d) { write_bytes(d + "/orders.json", R"({"orders": {"order1": {"benchmark": "SuperNI", "num_tasks": 3, "tasks": ["a", "b"]}}})"); },
         [](auto& d) { load_order(d + "/orders.json", "order1"); }},
        {"orders.json with an empty task list", "orders.json: order order1", "missing field \"tasks\" (expected a non-empty list)",
         [](auto& d) { write_bytes(d + "/orders.json", R"({"orders": {"order1": {"benchmark": "SuperNI", "tasks": []}}})"); },
         [](auto& d) { load_order(d + "/orders.json", "order1"); }},
    };
    return cases;
}

}  // namespace

TEST_CASE("Every malformed input of the catalogue is refused with the file and the problem named, nothing changed",
          "[bad-inputs]") {
    const auto& cases = library_cases();
    CHECK(cases.size() >= 30);
    int index = 0;
    for (const LibraryCase& c : cases) {
        SECTION(c.name) {
            const std::string dir = bad_inputs_dir("library_" + std::to_string(index));
            c.build(dir);
            const auto before = snapshot_files(dir);
            std::string message;
            bool refused = false;
            try {
                c.load(dir);
            } catch (const sapt_error& e) {
                refused = true;
                message = e.what();
            }
            INFO("case: " << c.name << "\nmessage: " << message);
            REQUIRE(refused);
            CHECK(message.find(dir + (std::string(c.file).empty() ? "" : "/" + std::string(c.file))) != std::string::npos);
            CHECK(message.find(c.problem) != std::string::npos);
            CHECK(snapshot_files(dir) == before);  // no input rewritten, no temporary file left behind
            std::filesystem::remove_all(dir);
        }
        index++;
    }
}

TEST_CASE("A Long_Sequence output missing from labels.json is kept, and a note names the file and instance",
          "[bad-inputs][data]") {
    // The released data has such outputs (mnli test "-", qqp yes/no against True/False), so it is no error.
    const std::string dir = bad_inputs_dir("label_never_seen");
    write_bytes(dir + "/Long_Sequence/t/train.json", kSplit);
    write_bytes(dir + "/Long_Sequence/t/test.json",
                R"({"Definition": ["Say yes or no."], "Instances": [{"input": "a", "output": "yes"}, {"input": "b", "output": "maybe"}, {"input": "c", "output": "-"}]})");
    write_bytes(dir + "/Long_Sequence/t/labels.json", R"(["yes", "no"])");
    const Task task = load_task(dir, "Long_Sequence", "t");
    REQUIRE(task.test.size() == 3);
    CHECK(task.test[1].label == "maybe");
    std::string outside_notes;
    for (const std::string& note : task.notes) {
        if (note.find("not in labels.json") != std::string::npos) outside_notes += note + "\n";
    }
    CHECK(outside_notes == dir + "/Long_Sequence/t/test.json: 2 of 3 instances have an output that is not in labels.json "
                                 "(first: instance 1, output \"maybe\"); kept as references\n");
    std::filesystem::remove_all(dir);
}

TEST_CASE("Text that is not UTF-8 is no error for the tokenizer: each bad byte encodes as U+FFFD would",
          "[bad-inputs][tokenizer]") {
    const Tokenizer tokenizer = make_tokenizer(tiny_sentencepiece_model(false), 0, "tiny");
    // spm maps a malformed byte to U+FFFD, which this vocabulary lacks: one <unk> for the run, as spm_encode.
    CHECK(encode(tokenizer, "a\xFF\xFE" "b") == encode(tokenizer, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"));
    CHECK(encode(tokenizer, "\xC3") == std::vector<int>{7, 0});  // ▁ then <unk> for the truncated character
    CHECK_THROWS_WITH(decode(tokenizer, {3, 99}), Catch::Contains("invalid id (expected 0..7, got 99)"));
}

TEST_CASE("Inputs that once crashed a fuzz target are handled (tests/fixtures/fuzz_regressions)", "[bad-inputs][fuzz]") {
    const std::string root = "tests/fixtures/fuzz_regressions";
    REQUIRE(std::filesystem::is_directory(root));
    int replayed = 0;
    for (const auto& target : std::filesystem::directory_iterator(root)) {
        if (!target.is_directory()) continue;
        const FuzzBody body = fuzz_body(target.path().filename().string());
        INFO("folder " << target.path().string() << " (expected the name of a fuzz target, see fuzz/fuzz_targets.h)");
        REQUIRE(body != nullptr);
        for (const auto& input : std::filesystem::directory_iterator(target.path())) {
            INFO("input " << input.path().string());
            const std::string bytes = read_file(input.path().string());
            body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());  // returns or throws sapt_error only
            replayed++;
        }
    }
    CHECK(replayed > 0);
}
