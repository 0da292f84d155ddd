// test_generate_run.cpp — asking and scoring a trained run: a run folder loads back with its finished tasks
// only, ./generate answers a prompt and a JSONL file with selection weights per task, ./train --eval-only
// scores seen and unseen tasks with the benchmark's metric, ./export writes PEFT folders; bad inputs (no
// finished task, a JSONL line without "input") fail naming the file and line and leave no output file.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/json_file.h"
#include "engine/fileio.h"
#include "sapt/ask.h"
#include "sapt/peft.h"
#include "sapt/run_eval.h"
#include "tests/after_training_util.h"

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
    const std::vector<float> x = tensor_values(a), y = tensor_values(b);
    return a.shape() == b.shape() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

// SAPT and SeqLoRA on the first 2 of 3 tasks: the third is never seen.
const TinyRunFolder& trained_run() {
    static const TinyRunFolder f = make_tiny_run_folder("generate", 3, 2, {"sapt", "seqlora"});
    return f;
}

struct Program {
    int exit_code = -1;
    std::string out, err;
};

// SAPT_PROGRAM_DIR/<program> (default: the repo root), at most 120 s.
Program run_program(const std::string& program, const std::string& args, const std::string& log) {
    const char* dir = std::getenv("SAPT_PROGRAM_DIR");
    const std::string command = "timeout 120 " + std::string(dir && *dir ? dir : ".") + "/" + program + " " + args +
                                " > " + log + ".stdout 2> " + log + ".stderr";
    const int status = std::system(command.c_str());
    Program p;
    p.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    p.out = read_file(log + ".stdout");
    p.err = read_file(log + ".stderr");
    return p;
}

bool program_built(const std::string& program) {
    const char* dir = std::getenv("SAPT_PROGRAM_DIR");
    return std::filesystem::exists(std::string(dir && *dir ? dir : ".") + "/" + program);
}

}  // namespace

TEST_CASE("A run folder loads back with every finished task's block, key and projector", "[after-training]") {
    const TinyRunFolder& f = trained_run();
    const LoadedRun run = load_run(f.run_dir);
    CHECK(run.settings.benchmark == "Long_Sequence");
    CHECK(run.settings.sapt.lora_rank == 2);
    CHECK(choose_run_method(f.run_dir, "") == "sapt");
    CHECK(run_methods(f.run_dir) == std::vector<std::string>{"sapt", "seqlora"});
    const RunMethod m = load_run_method(run, "sapt");
    CHECK(m.tasks == std::vector<std::string>{f.task_names[0], f.task_names[1]});
    REQUIRE(m.state.num_tasks == 2);
    CHECK(m.state.targets.size() == 2);
    const SafeTensorsFile file = safetensors_open(m.checkpoint);
    for (const auto& [name, tensor] : sapt_tensors(m.state)) {
        INFO(name);
        REQUIRE(file.has(name));
        CHECK(same_bits(tensor, file.get(name)));
    }
    const RunMethod seq = load_run_method(run, "seqlora");
    CHECK(seq.state.num_tasks == 1);  // one block over the whole sequence
    CHECK(!seq.state.options.selection);
}

TEST_CASE("A run stopped inside a task loads the tasks it finished, without the half-trained block", "[after-training]") {
    // One task finished, then stopped after one optimizer step of the second (a mid-task checkpoint).
    const TinyRunFolder f = make_tiny_run_folder("stopped", 2, 2, {"sapt"}, 1);
    const RunMethod first = load_run_method(load_run(f.run_dir), "sapt");
    REQUIRE(first.state.num_tasks == 1);
    ContinualOptions o = tiny_run_options(f.run_dir + "/sapt", 5);
    o.sapt.lora_alpha = 32.0f;
    o.resume = true;
    o.stop_after_steps = 1;
    run_continual(f.model, f.tokenizer, {f.tasks[0], f.tasks[1]}, o);
    const SafeTensorsFile file = safetensors_open(checkpoint_path(o.out_dir));
    REQUIRE(file.metadata.at("sapt.num_tasks") == "2");  // the checkpoint holds the half-trained block

    const RunMethod m = load_run_method(load_run(f.run_dir), "sapt");
    CHECK(m.tasks == std::vector<std::string>{f.task_names[0]});
    REQUIRE(m.state.num_tasks == 1);
    for (size_t s = 0; s < m.state.lora.size(); s++) {
        CHECK(same_bits(m.state.lora[s].current_A, first.state.lora[s].current_A));
        CHECK(same_bits(m.state.lora[s].current_B, first.state.lora[s].current_B));
        CHECK(!m.state.lora[s].previous_A.defined());
    }
    CHECK(same_bits(m.state.sals.key, first.state.sals.key));
    CHECK(!m.state.sals.previous_keys.defined());
}

TEST_CASE("A run folder with no finished task is refused naming its checkpoint", "[after-training][bad-inputs]") {
    const TinyRunFolder f = make_tiny_run_folder("unfinished", 1, 1, {"sapt"}, 0, 1);
    const LoadedRun run = load_run(f.run_dir);
    REQUIRE_THROWS_WITH(load_run_method(run, "sapt"), Catch::Contains(f.run_dir + "/sapt/checkpoint.safetensors") &&
                                                          Catch::Contains("no finished task"));
    REQUIRE_THROWS_WITH(load_run_method(run, "l2p"), Catch::Contains("cannot be loaded back"));
    REQUIRE_THROWS_WITH(load_run("/nonexistent/run"), Catch::Contains("/nonexistent/run/args.json"));
    if (!program_built("generate")) {
        WARN("SKIPPED: the ./generate part (not built)");
        return;
    }
    const std::string out = f.root + "/answers.jsonl";
    atomic_write_file(f.root + "/in.jsonl", "{\"input\": \"red\"}\n");
    const Program p = run_program("generate", "--run " + f.run_dir + " --input " + f.root + "/in.jsonl --output " + out, f.root + "/log");
    CHECK(p.exit_code == 1);
    CHECK_THAT(p.err, Catch::Contains("checkpoint.safetensors") && Catch::Contains("no finished task"));
    CHECK(!std::filesystem::exists(out));
}

TEST_CASE("A JSONL line without an input is refused naming the file and line", "[after-training][bad-inputs]") {
    const std::string dir = (std::filesystem::temp_directory_path() / ("sapt_jsonl_" + std::to_string(getpid()))).string();
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/in.jsonl";
    atomic_write_file(path, "{\"input\": \"good\"}\n\n{\"text\": \"no input\"}\n");
    REQUIRE_THROWS_WITH(read_ask_jsonl(path), Catch::Contains(path + ":3") && Catch::Contains("no \"input\" field"));
    atomic_write_file(path, "{\"input\": 4}\n");
    REQUIRE_THROWS_WITH(read_ask_jsonl(path), Catch::Contains(path + ":1") && Catch::Contains("must be a string"));
    atomic_write_file(path, "{\"input\": \"a\"}\n[1, 2]\n");
    REQUIRE_THROWS_WITH(read_ask_jsonl(path), Catch::Contains(path + ":2") && Catch::Contains("expected a JSON object"));
    atomic_write_file(path, "{\"input\": \"a\", \"definition\": \"d\"}\n{\"input\": \"b\"}");
    const std::vector<AskInput> inputs = read_ask_jsonl(path);
    REQUIRE(inputs.size() == 2);
    CHECK(inputs[0].definition == "d");
    CHECK(inputs[1].input == "b");
}

TEST_CASE("Sampling: top-k 1 and a tiny top-p are greedy; temperature 1 draws with softmax's probabilities",
          "[after-training]") {
    const std::vector<float> logits = {0.0f, std::log(3.0f), -1.0f, -50.0f};
    AskOptions o;
    Rng rng = rng_make(1);
    CHECK(sample_next_token(logits.data(), 4, o, rng) == 1);  // temperature 0: argmax
    o.temperature = 1.0f;
    o.top_k = 1;
    for (int i = 0; i < 20; i++) CHECK(sample_next_token(logits.data(), 4, o, rng) == 1);
    o.top_k = 0;
    o.top_p = 0.01f;
    for (int i = 0; i < 20; i++) CHECK(sample_next_token(logits.data(), 4, o, rng) == 1);
    o.top_k = 2;  // p(1) = 3 / 4 among the two best
    o.top_p = 1.0f;
    int ones = 0;
    const int n = 8000;
    for (int i = 0; i < n; i++) {
        const int32_t id = sample_next_token(logits.data(), 4, o, rng);
        CHECK((id == 0 || id == 1));
        ones += id == 1;
    }
    CHECK((double)ones / n == Approx(0.75).margin(0.02));
}

TEST_CASE("--eval-only scores seen and unseen tasks with the benchmark's metric and writes eval.md and eval.json",
          "[after-training]") {
    const TinyRunFolder& f = trained_run();
    EvalOnlyOptions o;
    o.run_dir = f.run_dir;
    o.data_root = f.data_root;
    o.tasks = {f.task_names[0], f.task_names[2]};  // seen, unseen
    const EvalOnlyResult r = evaluate_run_folder(o);
    CHECK(r.metric == "exact match (%)");
    REQUIRE(r.rows.size() == 2);
    CHECK(r.rows[0].method == "sapt");
    // The same numbers as scoring the loaded state directly.
    const LoadedRun run = load_run(f.run_dir);
    RunMethod m = load_run_method(run, "sapt");
    for (size_t i = 0; i < 2; i++) {
        const Task& task = f.tasks[i == 0 ? 0 : 2];
        const EvalResult direct = evaluate_task(run.model, m.state, run.tokenizer, Benchmark::long_sequence, task.test,
                                                run.settings.batching, run.settings.eval);
        CHECK(r.rows[0].scores[i] == direct.score);
        CHECK(r.rows[0].weights[i] == direct.task_weights);
    }
    write_eval_only(r);
    const nlohmann::json j = read_json_file(f.run_dir + "/eval.json");
    CHECK(j["methods"][0]["seen"][f.task_names[0]] == true);
    CHECK(j["methods"][0]["seen"][f.task_names[2]] == false);
    CHECK(j["methods"][0]["mean_unseen"].get<double>() == r.rows[0].scores[1]);
    CHECK(j["methods"][0]["selection_weights"][f.task_names[2]].size() == 2);
    CHECK(!j["methods"][1].contains("selection_weights"));  // seqlora: no selection
    const std::string md = read_file(f.run_dir + "/eval.md");
    CHECK_THAT(md, Catch::Contains("| sapt |") && Catch::Contains(f.task_names[2] + "*"));

    o.tasks = {f.task_names[0], "no_such_task"};
    REQUIRE_THROWS_WITH(evaluate_run_folder(o), Catch::Contains("no_such_task"));
}

TEST_CASE("./generate, ./export and ./train --eval-only on a run folder", "[after-training][programs]") {
    for (const char* program : {"generate", "export", "train"}) {
        if (!program_built(program)) {
            WARN("SKIPPED: " << program << " is not built (run make first)");
            return;
        }
    }
    const TinyRunFolder& f = trained_run();
    const std::string log = f.root + "/programs";
    const Program help = run_program("generate", "--help", log);
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("--run DIR") && Catch::Contains("--top-p"));

    const Program one = run_program("generate", "--run " + f.run_dir + " --prompt 'happy sad' --max-new-tokens 3", log);
    CHECK(one.exit_code == 0);
    CHECK_THAT(one.out, Catch::Contains("answer:") && Catch::Contains("selection weights") && Catch::Contains(f.task_names[1]));

    const std::string in = f.root + "/in.jsonl", out = f.root + "/out.jsonl";
    atomic_write_file(in, "{\"input\": \"alpha beta\", \"definition\": \"" + f.tasks[0].definition +
                              "\"}\n{\"input\": \"gamma\"}\n{\"input\": \"delta\"}\n");
    const Program many = run_program("generate", "--run " + f.run_dir + " --input " + in + " --output " + out +
                                                      " --batch-size 2 --temperature 0.7 --top-k 5 --seed 3", log);
    CHECK(many.exit_code == 0);
    const std::string text = read_file(out);
    size_t lines = 0;
    for (size_t at = 0; (at = text.find('\n', at)) != std::string::npos; at++) lines++;
    CHECK(lines == 3);
    const nlohmann::json first = nlohmann::json::parse(text.substr(0, text.find('\n')));
    CHECK(first["input"] == "alpha beta");
    CHECK(first["answer"].is_string());
    REQUIRE(first["weights"].size() == 2);
    CHECK(first["weights"][f.task_names[0]].get<double>() + first["weights"][f.task_names[1]].get<double>() ==
          Approx(1.0).margin(1e-5));
    // The same seed gives the same samples.
    const std::string out2 = f.root + "/out2.jsonl";
    run_program("generate", "--run " + f.run_dir + " --input " + in + " --output " + out2 +
                                " --batch-size 2 --temperature 0.7 --top-k 5 --seed 3", log);
    CHECK(read_file(out2) == text);

    atomic_write_file(in, "{\"input\": \"fine\"}\n{\"inptu\": \"typo\"}\n");
    const std::string bad_out = f.root + "/bad_out.jsonl";
    const Program bad = run_program("generate", "--run " + f.run_dir + " --input " + in + " --output " + bad_out, log);
    CHECK(bad.exit_code == 1);
    CHECK_THAT(bad.err, Catch::Contains(in + ":2") && Catch::Contains("no \"input\" field"));
    CHECK(!std::filesystem::exists(bad_out));

    const Program exported = run_program("export", "--run " + f.run_dir + " --to " + f.root + "/peft", log);
    CHECK(exported.exit_code == 0);
    CHECK(file_exists(f.root + "/peft/" + f.task_names[1] + "/adapter_model.safetensors"));
    CHECK(file_exists(f.root + "/peft/sals.safetensors"));
    const Program seq = run_program("export", "--run " + f.run_dir + " --method seqlora --to " + f.root + "/peft_seq", log);
    CHECK(seq.exit_code == 0);
    CHECK(file_exists(f.root + "/peft_seq/seqlora/adapter_config.json"));

    std::filesystem::remove(f.run_dir + "/eval.json");
    const Program eval = run_program("train", "--eval-only --run " + f.run_dir + " --data " + f.data_root + " --tasks " +
                                                  f.task_names[1] + "," + f.task_names[2], log);
    CHECK(eval.exit_code == 0);
    CHECK_THAT(eval.out, Catch::Contains("unseen mean"));
    CHECK(file_exists(f.run_dir + "/eval.json"));
}
