// test_reliability_signals.cpp — Ctrl-C and a scheduler's SIGTERM (engine/interrupt.h): the built ./train
// finishes its step, writes a checkpoint, exits with 128 + the signal and a resume line, and the resumed run
// ends with the uninterrupted run's matrices; a second signal ends it at once with only whole files left.
// Also the loop itself (run_continual) stopped by the flag at its first step.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/interrupt.h"
#include "engine/safetensors.h"
#include "reliability_util.h"
#include "tiny_run_util.h"

namespace {

bool log_has(const std::string& path, const std::string& text, int times) {
    const std::string log = file_or_empty(path);
    int found = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) found++;
    return found >= times;
}

// Starts the small run in `dir`/runs/<name>, sends `signal_number` once `text` appeared `times` times in its
// sapt/log.jsonl, and checks the exit status, the message and the checkpoint; then resumes it to the end.
void interrupt_and_resume(const std::string& dir, const std::string& name, int signal_number, const std::string& text,
                          int times, const std::vector<std::string>& extra = {}) {
    const std::string out = "runs/" + name;
    std::vector<std::string> args = small_builtin_args(out);
    args.insert(args.end(), extra.begin(), extra.end());
    const Started run = start_program("train", args, dir, dir + "/" + name + ".txt");
    const bool reached = wait_until([&] { return log_has(dir + "/" + out + "/sapt/log.jsonl", text, times); }, 60);
    ::kill(run.pid, signal_number);
    const int status = wait_program(run);
    const std::string output = read_file(run.output_path);
    INFO(output);
    REQUIRE(reached);
    CHECK(status == 128 + signal_number);
    CHECK_THAT(output, Catch::Contains(std::string("interrupted by ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM")));
    CHECK_THAT(output, Catch::Contains("continue with: ./train --resume " + out));
    CHECK(temporaries_under(dir + "/" + out).empty());
    const SafeTensorsFile checkpoint = safetensors_open(dir + "/" + out + "/sapt/checkpoint.safetensors");
    CHECK(checkpoint.metadata.count("loop.state") == 1);
    CHECK_FALSE(std::filesystem::exists(dir + "/" + out + "/report.json"));

    std::string resumed_output;
    REQUIRE(run_program("train", {"--resume", out}, dir, &resumed_output) == 0);
    CHECK(report_matrices(dir + "/" + out) == reference_matrices(extra));
}

}  // namespace

TEST_CASE("SIGTERM during training: ./train checkpoints, exits 143 with the resume line, and the resumed run "
          "ends with the uninterrupted run's matrices", "[reliability]") {
    const std::string dir = reliability_dir("sigterm");
    interrupt_and_resume(dir, "cut", SIGTERM, "\"train_step\"", 2);
}

TEST_CASE("SIGINT after the first task: ./train checkpoints, exits 130 with the resume line, and the resumed run "
          "ends with the uninterrupted run's matrices", "[reliability]") {
    const std::string dir = reliability_dir("sigint");
    interrupt_and_resume(dir, "cut", SIGINT, "\"task_done\"", 1);
}

TEST_CASE("SIGTERM while the pseudo-sample generator trains: the task is checkpointed as trained, and the resumed "
          "run trains the generator again and ends with the uninterrupted run's matrices", "[reliability]") {
    const std::string dir = reliability_dir("sigterm_generator");
    const std::vector<std::string> slow_generator = {"--generator-steps", "40"};
    interrupt_and_resume(dir, "cut", SIGTERM, "\"task\":\"generator sentiment\"", 5, slow_generator);
    // (interrupt_and_resume resumed it already; the checkpoint it stopped with is gone. Stop a second run to look.)
    const Started run = start_program("train", [&] {
        std::vector<std::string> args = small_builtin_args("runs/look");
        args.insert(args.end(), slow_generator.begin(), slow_generator.end());
        return args;
    }(), dir, dir + "/look.txt");
    const bool reached = wait_until([&] { return log_has(dir + "/runs/look/sapt/log.jsonl", "\"task\":\"generator sentiment\"", 5); }, 60);
    ::kill(run.pid, SIGTERM);
    REQUIRE(reached);
    REQUIRE(wait_program(run) == 128 + SIGTERM);
    const SafeTensorsFile checkpoint = safetensors_open(dir + "/runs/look/sapt/checkpoint.safetensors");
    const LoopState loop = loop_state_from_json(checkpoint.metadata.at("loop.state"), "look");
    CHECK(loop.completed == 0);
    CHECK(loop.in_task);
    CHECK(loop.position.step == 18);  // 3 epochs of 6 steps: task 1 trained to its end
    CHECK(loop.pseudo[0].empty());
}

TEST_CASE("the second signal's clean-up removes the temporary files of writes in progress and nothing else",
          "[reliability]") {
    const std::string dir = reliability_dir("temporaries");
    atomic_write_file(dir + "/done.json", "{}");
    AtomicWriter in_progress(dir + "/checkpoint.safetensors");
    in_progress.write("half", 4);
    REQUIRE(std::filesystem::exists(in_progress.temp_path));
    fileio_remove_temporaries_now();  // what the handler calls before the process dies
    CHECK_FALSE(std::filesystem::exists(in_progress.temp_path));
    CHECK_FALSE(std::filesystem::exists(dir + "/checkpoint.safetensors"));
    CHECK(read_file(dir + "/done.json") == "{}");  // a committed file is no longer in the table
}

TEST_CASE("SIGTERM while the built-in backbone pretrains: ./train exits 143 within a step and caches nothing",
          "[reliability]") {
    const std::string dir = reliability_dir("sigterm_pretraining", false);
    std::vector<std::string> args = small_builtin_args("runs/p");
    args[std::find(args.begin(), args.end(), "--pretrain-steps") - args.begin() + 1] = "2000";  // minutes
    const Started run = start_program("train", args, dir, dir + "/p.txt");
    const bool reached = wait_until([&] { return file_or_empty(run.output_path).find("pretraining step 1/") != std::string::npos; }, 60);
    const auto signalled = std::chrono::steady_clock::now();
    ::kill(run.pid, SIGTERM);
    const int status = wait_program(run);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
    const std::string output = read_file(run.output_path);
    INFO(output);
    REQUIRE(reached);
    CHECK(status == 128 + SIGTERM);
    CHECK(seconds < 10);
    CHECK_THAT(output, Catch::Contains("pretraining: interrupted by SIGTERM at step"));
    CHECK(temporaries_under(dir + "/runs").empty());
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir + "/runs/cache")) {
        CHECK(entry.path().filename() != "config.json");  // the mark of a complete cache
    }
}

TEST_CASE("a second SIGTERM ends ./train at once and leaves only whole files", "[reliability]") {
    const std::string dir = reliability_dir("second_signal");
    const std::string out = dir + "/runs/twice";
    // Every file commit waits 300 ms before its rename (a slow disk), so the first signal's checkpoint is
    // still a temporary when the second signal comes: the handler must remove it and end the process.
    setenv("SAPT_SLOW_COMMIT_MS", "300", 1);
    const Started run = start_program("train", small_builtin_args("runs/twice"), dir, dir + "/twice.txt");
    unsetenv("SAPT_SLOW_COMMIT_MS");
    const bool reached = wait_until([&] { return log_has(out + "/sapt/log.jsonl", "\"train_step\"", 1); }, 60);
    ::kill(run.pid, SIGTERM);
    const bool writing = wait_until([&] { return !temporaries_under(out).empty(); }, 60);
    ::kill(run.pid, SIGTERM);
    int signal_number = 0;
    const bool by_signal = ended_by_signal(run, &signal_number);
    INFO(read_file(run.output_path));
    REQUIRE(reached);
    REQUIRE(writing);
    CHECK(by_signal);
    CHECK(signal_number == SIGTERM);
    CHECK(temporaries_under(out).empty());
    for (const auto& entry : std::filesystem::recursive_directory_iterator(out)) {
        const std::string path = entry.path().string();
        if (path.size() > 12 && path.compare(path.size() - 12, 12, ".safetensors") == 0) {
            CHECK_NOTHROW(safetensors_open(path));
        } else if (path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
            CHECK_NOTHROW(nlohmann::json::parse(read_file(path)));
        }
    }
}

TEST_CASE("run_continual with the interrupt flag set stops after one optimizer step with a checkpoint, and the "
          "resumed run ends as an uninterrupted one", "[reliability]") {
    TinyRun s = make_tiny_run("interrupt_flag", 2, 5, 6);
    const ContinualResult whole = run_continual(s.model, s.tokenizer, s.tasks, tiny_run_options("", 3));

    const std::string out = s.root + "/cut";
    struct FlagScope {  // as a SIGTERM's handler would; cleared however the call ends
        FlagScope() { interrupt_request(SIGTERM); }
        ~FlagScope() { interrupt_request(0); }
    };
    ContinualResult cut;
    {
        FlagScope flag;
        cut = run_continual(s.model, s.tokenizer, s.tasks, tiny_run_options(out, 3));
    }
    CHECK(cut.stopped);
    CHECK(cut.interrupted);
    const SafeTensorsFile checkpoint = safetensors_open(checkpoint_path(out));
    const LoopState loop = loop_state_from_json(checkpoint.metadata.at("loop.state"), out);
    CHECK(loop.completed == 0);
    CHECK(loop.in_task);
    CHECK(loop.position.step == 1);

    ContinualOptions resume = tiny_run_options(out, 3);
    resume.resume = true;
    const ContinualResult resumed = run_continual(s.model, s.tokenizer, s.tasks, resume);
    CHECK_FALSE(resumed.stopped);
    REQUIRE(resumed.matrix.size() == whole.matrix.size());
    for (size_t j = 0; j < whole.matrix.size(); j++) {
        for (size_t i = 0; i <= j; i++) CHECK(resumed.matrix[j][i] == whole.matrix[j][i]);
    }
    std::filesystem::remove_all(s.root);
}
