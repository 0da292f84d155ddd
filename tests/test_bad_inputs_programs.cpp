// test_bad_inputs_programs.cpp — the catalogue of malformed inputs, programs' side: ./tokenize, ./generate and
// ./train (built in the repo root, where the suite runs; or in $SAPT_PROGRAM_DIR) are started on bad arguments and bad files. Each
// must exit non-zero without a crash or sanitizer report, say on stderr which file or argument is wrong and
// why, and leave every file it was given, and the outputs of an earlier run, byte for byte as they were.
#include <catch2/catch.hpp>

#include <functional>
#include <sys/wait.h>

#include "bad_inputs_files.h"
#include "bad_inputs_util.h"
#include "tokenizer/model_proto.h"

namespace {

const std::string kT5Dir = "tests/fixtures/models/t5_gated_untied_lora";
const std::string kLlamaDir = "tests/fixtures/models/llama_gqa_lora";

struct ProgramCase {
    const char* name;
    const char* program;  // "tokenize", "generate" or "train"
    const char* args;     // "{dir}" stands for the case folder
    const char* named;    // the file or argument the message must name ("{dir}" as above)
    const char* problem;  // a fragment of the message that says what is wrong
    std::function<void(const std::string& dir)> build;
};

std::string with_dir(std::string text, const std::string& dir) {
    for (size_t at = text.find("{dir}"); at != std::string::npos; at = text.find("{dir}", at + dir.size())) {
        text.replace(at, 5, dir);
    }
    return text;
}

void tiny_tokenizer(const std::string& dir) { write_bytes(dir + "/t.model", serialize_model_proto(tiny_sentencepiece_model(false))); }

void copy_model(const std::string& from, const std::string& to) {
    write_bytes(to + "/config.json", read_file(from + "/config.json"));
    write_bytes(to + "/model.safetensors", read_file(from + "/model.safetensors"));
}

// <dir>/data: orders.json with order "o1" = [t], and Long_Sequence/t/train.json = `train_json`.
void data_root(const std::string& dir, const std::string& train_json) {
    write_bytes(dir + "/data/orders.json", R"({"orders": {"o1": {"benchmark": "Long_Sequence", "tasks": ["t"]}}})");
    write_bytes(dir + "/data/Long_Sequence/t/train.json", train_json);
    write_bytes(dir + "/data/Long_Sequence/t/test.json", R"({"Definition": [], "Instances": [{"input": "a", "output": "b"}]})");
    tiny_tokenizer(dir);
}

const char* kGoodSplit = R"({"Definition": ["Copy."], "Instances": [{"input": "a", "output": "a"}, {"input": "b", "output": "b"}]})";

void nothing(const std::string&) {}

const std::vector<ProgramCase>& program_cases() {
    static const std::vector<ProgramCase> cases = {
        // ---- ./tokenize ----------------------------------------------------------------------------
        {"tokenize without --model", "tokenize", "--ids", "--model", "no model given", nothing},
        {"tokenize --model without a value", "tokenize", "--model", "--model", "needs a value", nothing},
        {"tokenize with an unknown flag", "tokenize", "--frobnicate", "--frobnicate", "unknown argument", nothing},
        {"tokenize --extra-ids that is not a number", "tokenize", "--model {dir}/t.model --extra-ids many", "--extra-ids",
         "expects an integer in 0..1000 (got \"many\")", tiny_tokenizer},
        {"tokenize --extra-ids out of range", "tokenize", "--model {dir}/t.model --extra-ids 5000", "--extra-ids",
         "expects an integer in 0..1000 (got \"5000\")", tiny_tokenizer},
        {"tokenize with a missing model file", "tokenize", "--model {dir}/nope.model", "{dir}/nope.model", "cannot open", nothing},
        {"tokenize with a tokenizer.json as model", "tokenize", "--model {dir}/t.model", "{dir}/t.model", "not a SentencePiece model",
         [](auto& d) { write_bytes(d + "/t.model", R"({"version": "1.0", "model": {"type": "BPE"}})"); }},
        {"tokenize --decode of an id outside the vocabulary", "tokenize", "--model {dir}/t.model --decode < {dir}/ids.txt", "decode",
         "invalid id (expected 0..7, got 99)",
         [](auto& d) {
             tiny_tokenizer(d);
             write_bytes(d + "/ids.txt", "3 4\n3 99\n");
         }},

        // ---- ./generate ----------------------------------------------------------------------------
        {"generate without arguments", "generate", "", "--model, --tokenizer and --prompt", "are required", nothing},
        {"generate flag without a value", "generate", "--model {dir} --prompt", "--prompt", "needs a value", nothing},
        {"generate with an unknown flag", "generate", "--beams 4", "--beams", "unknown flag", nothing},
        {"generate --precision other than f32 or bf16", "generate",
         "--model tests/fixtures/models/t5_gated_untied_lora --tokenizer {dir}/t.model --prompt hi --precision fp16",
         "--precision", "expected f32 or bf16, got 'fp16'", nothing},
        {"generate negative --max-new-tokens", "generate", "--model {dir} --tokenizer {dir}/t.model --prompt hi --max-new-tokens -3",
         "--max-new-tokens", "expects a count >= 0 (got \"-3\")", tiny_tokenizer},
        {"generate with a missing model", "generate", "--model {dir}/nope --tokenizer {dir}/t.model --prompt hi", "{dir}/nope",
         "no such file or directory", tiny_tokenizer},
        {"generate with a broken config.json", "generate", "--model {dir}/m --tokenizer {dir}/t.model --prompt hi",
         "{dir}/m/config.json", "not valid JSON",
         [](auto& d) {
             copy_model(kT5Dir, d + "/m");
             write_bytes(d + "/m/config.json", "{\"model_type\": \"t5\", \"d_model\": ");
             tiny_tokenizer(d);
         }},
        {"generate with LLaMA weights under a T5 config", "generate", "--model {dir}/m --tokenizer {dir}/t.model --prompt hi", "{dir}/m",
         "missing tensors: shared.weight",
         [](auto& d) {
             copy_model(kLlamaDir, d + "/m");
             write_bytes(d + "/m/config.json", read_file(kT5Dir + "/config.json"));
             tiny_tokenizer(d);
         }},
        {"generate with a safetensors header past the end", "generate", "--model {dir}/m --tokenizer {dir}/t.model --prompt hi",
         "{dir}/m/model.safetensors", "runs past the end of the file",
         [](auto& d) {
             copy_model(kT5Dir, d + "/m");
             std::string bytes = read_file(d + "/m/model.safetensors");
             bytes[5] = 0x7f;  // a header length of terabytes
             write_bytes(d + "/m/model.safetensors", bytes);
             tiny_tokenizer(d);
         }},
        {"generate with a truncated llama2.c file", "generate", "--model {dir}/m.bin --tokenizer {dir}/t.model --prompt hi",
         "{dir}/m.bin", "file too short for its header",
         [](auto& d) {
             const std::string bytes = llama2c_bytes(0, true);
             write_bytes(d + "/m.bin", bytes.substr(0, bytes.size() / 2));
             tiny_tokenizer(d);
         }},
        {"generate with a tokenizer that has more ids than the model", "generate",
         "--model tests/fixtures/models/t5_gated_untied_lora --tokenizer {dir}/t.model --prompt hi", "{dir}/t.model",
         "does not belong to the model", tiny_tokenizer},
        {"generate with a broken tokenizer", "generate",
         "--model tests/fixtures/models/llama_gqa_lora --tokenizer {dir}/t.model --prompt hi",
         "{dir}/t.model", "truncated",
         [](auto& d) {
             const std::string bytes = serialize_model_proto(tiny_sentencepiece_model(true));
             write_bytes(d + "/t.model", bytes.substr(0, bytes.size() - 3));
         }},

        // ---- ./train -------------------------------------------------------------------------------
        {"train with an unknown option", "train", "--frobnicate --out {dir}/out", "--frobnicate", "unknown option", nothing},
        {"train option without a value", "train", "--out", "--out", "missing value", nothing},
        {"train --threads that is not a number", "train", "--threads many --out {dir}/out", "--threads", "expected an integer", nothing},
        {"train --compat other than official", "train", "--compat unofficial --out {dir}/out", "--compat", "expected 'official'", nothing},
        {"train --precision other than f32 or bf16", "train", "--precision fp16 --out {dir}/out", "--precision",
         "expected f32 or bf16, got 'fp16'", nothing},
        {"train --resume of a folder without args.json", "train", "--resume {dir}/elsewhere", "{dir}/elsewhere/args.json",
         "no saved arguments", [](auto& d) { std::filesystem::create_directories(d + "/elsewhere"); }},
        {"train --resume of a folder whose args.json is corrupt", "train", "--resume {dir}/elsewhere", "{dir}/elsewhere/args.json",
         "not valid JSON", [](auto& d) { write_bytes(d + "/elsewhere/args.json", "{\"order\": \"o1\", \"epochs\": "); }},
        {"train with a missing model", "train", "--data {dir}/data --order o1 --model {dir}/nope --tokenizer {dir}/t.model --out {dir}/out",
         "{dir}/nope", "no such file or directory", [](auto& d) { data_root(d, kGoodSplit); }},
        {"train with data lacking orders.json", "train", "--data {dir}/data --order o1 --model tests/fixtures/models/t5_gated_untied_lora"
         " --tokenizer {dir}/t.model --out {dir}/out", "{dir}/data/orders.json", "cannot open",
         [](auto& d) {
             data_root(d, kGoodSplit);
             std::filesystem::remove(d + "/data/orders.json");
         }},
        {"train with an order that does not exist", "train", "--data {dir}/data --order o7 --model tests/fixtures/models/t5_gated_untied_lora"
         " --tokenizer {dir}/t.model --out {dir}/out", "{dir}/data/orders.json", "no order \"o7\" (expected one of: o1)",
         [](auto& d) { data_root(d, kGoodSplit); }},
        {"train on a task with no instances", "train", "--data {dir}/data --order o1 --model tests/fixtures/models/t5_gated_untied_lora"
         " --tokenizer {dir}/t.model --out {dir}/out", "{dir}/data/Long_Sequence/t/train.json", "task has no instances",
         [](auto& d) { data_root(d, R"({"Definition": [], "Instances": []})"); }},
        {"train on a split that is not UTF-8", "train", "--data {dir}/data --order o1 --model tests/fixtures/models/t5_gated_untied_lora"
         " --tokenizer {dir}/t.model --out {dir}/out", "{dir}/data/Long_Sequence/t/train.json", "not UTF-8 text",
         [](auto& d) { data_root(d, "{\"Definition\": [], \"Instances\": [{\"input\": \"caf\xE9\", \"output\": \"b\"}]}"); }},
        {"train --lr that is not a number", "train", "--data {dir}/data --order o1 --model tests/fixtures/models/t5_gated_untied_lora"
         " --tokenizer {dir}/t.model --lr fast --out {dir}/out", "--lr", "expected a non-negative number",
         [](auto& d) { data_root(d, kGoodSplit); }},
    };
    return cases;
}

struct ProgramRun {
    bool exited = false;  // false: killed by a signal
    int exit_code = -1;
    std::string err;
};

// Where the programs are: SAPT_PROGRAM_DIR (e.g. a sanitizer build's folder), else the repo root.
std::string program_path(const std::string& program) {
    const char* dir = std::getenv("SAPT_PROGRAM_DIR");
    return std::string(dir && *dir ? dir : ".") + "/" + program;
}

// Runs the program with `args` from the repo root, at most 120 s, stdout and stderr to files beside `dir`.
ProgramRun run_program(const std::string& program, const std::string& args, const std::string& dir) {
    const std::string command = "timeout 120 " + program_path(program) + " " + args + " > " + dir + ".stdout 2> " + dir + ".stderr";
    const int status = std::system(command.c_str());
    ProgramRun run;
    run.exited = status != -1 && WIFEXITED(status);
    run.exit_code = run.exited ? WEXITSTATUS(status) : -1;
    run.err = read_file(dir + ".stderr");
    return run;
}

}  // namespace

TEST_CASE("The programs refuse every bad argument and file of the catalogue cleanly, overwriting nothing",
          "[bad-inputs][programs]") {
    const auto& cases = program_cases();
    CHECK(cases.size() >= 20);
    int index = 0;
    for (const ProgramCase& c : cases) {
        SECTION(c.name) {
            if (!std::filesystem::exists(program_path(c.program))) {
                WARN("SKIPPED: " << program_path(c.program) << " is not built (run make first)");
                return;
            }
            const std::string dir = bad_inputs_dir("program_" + std::to_string(index));
            c.build(dir);
            // The outputs of an earlier run, which a failed run must not touch.
            write_bytes(dir + "/out/args.json", "{\"order\": \"earlier run\"}\n");
            write_bytes(dir + "/out/report.md", "# an earlier report\n");
            const auto before = snapshot_files(dir);
            const ProgramRun run = run_program(c.program, with_dir(c.args, dir), dir);
            INFO("case: " << c.name << "\ncommand: " << program_path(c.program) << " " << with_dir(c.args, dir) << "\nstderr: " << run.err);
            CHECK(run.exited);
            CHECK(run.exit_code != 0);
            CHECK(run.exit_code < 124);  // not timeout(1)'s 124, nor a shell's 128 + signal
            for (const char* crash : {"Sanitizer", "runtime error", "terminate called", "Segmentation", "Aborted", "core dumped"}) {
                CHECK(run.err.find(crash) == std::string::npos);
            }
            CHECK(run.err.find(with_dir(c.named, dir)) != std::string::npos);
            CHECK(run.err.find(c.problem) != std::string::npos);
            CHECK(snapshot_files(dir) == before);
            std::filesystem::remove_all(dir);
            std::filesystem::remove(dir + ".stdout");
            std::filesystem::remove(dir + ".stderr");
        }
        index++;
    }
}
