// test_nonfinite_guard.cpp — the non-finite guard inside a continual run, with checkpoints on disk: a run is
// stopped in the middle of task 2 (a mid-task checkpoint at step 2), then resumed with a NaN injected through
// an existing input — a NaN reflection weight (lambda), which leaves the loss finite but makes the selection
// gradients NaN, or a backbone weight poisoned with NaN, which makes the loss NaN. Each must stop at step 2
// with the step and the tensor (or the loss) named, leave the checkpoint byte-identical, loadable and
// without a temporary file beside it, and a clean resume from it must end with the uninterrupted matrix.
// Not here: the guard on a bare train_task (test_continual.cpp), kill -9 (tests/reliability/kill_resume.sh).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <limits>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/safetensors.h"
#include "sapt/continual.h"
#include "tests/tiny_run_util.h"

namespace {

struct GuardSetup {
    TinyRun run;
    ContinualResult uninterrupted;
};

// Two tasks of the built-in suite (task 2 replays task 1's pseudo samples) on the tiny T5 of tiny_run_util.h.
ContinualOptions guard_options(const std::string& out_dir) {
    ContinualOptions o = tiny_run_options(out_dir, 5);
    o.train.grad_accum = 1;
    o.train.checkpoint_every = 1;  // a checkpoint after every optimizer step: the guard must beat the next one
    return o;
}

const GuardSetup& guard_setup() {
    static GuardSetup setup = [] {
        GuardSetup g;
        g.run = make_tiny_run("nonfinite_test", 2, 9, 10);
        g.uninterrupted = run_continual(g.run.model, g.run.tokenizer, g.run.tasks, guard_options(g.run.root + "/uninterrupted"));
        return g;
    }();
    return setup;
}

// Task 1 done, then task 2 stopped at step 2 with its mid-task checkpoint written: the last good state.
void run_until_task2_step2(const GuardSetup& s, const std::string& out) {
    std::filesystem::remove_all(out);
    ContinualOptions first = guard_options(out);
    first.stop_after_tasks = 1;
    REQUIRE(run_continual(s.run.model, s.run.tokenizer, s.run.tasks, first).stopped);
    ContinualOptions middle = guard_options(out);
    middle.resume = true;
    middle.stop_after_steps = 2;
    REQUIRE(run_continual(s.run.model, s.run.tokenizer, s.run.tasks, middle).stopped);
}

// The message of the sapt_error `run` throws ("" when it throws none).
template <typename Run>
std::string error_of(Run run) {
    try {
        run();
    } catch (const sapt_error& e) {
        return e.what();
    }
    return "";
}

// The checkpoint is the step-2 one: byte-identical to `before`, every tensor readable, its loop state at
// task 2 step 2, and nothing else (no *.tmp of a started write) in the folder besides the log.
void require_last_good_checkpoint(const std::string& out, const std::string& before) {
    const std::string path = checkpoint_path(out);
    CHECK(read_file(path) == before);
    SafeTensorsFile file = safetensors_open(path);
    for (const std::string& name : file.names()) {
        for (float v : tensor_values(file.get(name))) REQUIRE(std::isfinite(v));
    }
    const LoopState loop = loop_state_from_json(file.metadata.at("loop.state"), path);
    CHECK(loop.completed == 1);
    CHECK(loop.in_task);
    CHECK(loop.position.step == 2);
    for (const auto& entry : std::filesystem::directory_iterator(out)) {
        const std::string name = entry.path().filename().string();
        INFO("file " << name);
        CHECK((name == "checkpoint.safetensors" || name == "log.jsonl"));
    }
}

// A clean resume from the kept checkpoint ends with the uninterrupted run's matrix and weights.
void require_clean_resume_matches(const GuardSetup& s, const std::string& out) {
    ContinualOptions again = guard_options(out);
    again.resume = true;
    const ContinualResult resumed = run_continual(s.run.model, s.run.tokenizer, s.run.tasks, again);
    CHECK_FALSE(resumed.stopped);
    REQUIRE(resumed.matrix.size() == s.uninterrupted.matrix.size());
    for (size_t j = 0; j < resumed.matrix.size(); j++) {
        for (size_t i = 0; i <= j; i++) {
            CHECK(resumed.matrix[j][i] == s.uninterrupted.matrix[j][i]);
            CHECK(resumed.weights[j][i] == s.uninterrupted.weights[j][i]);
        }
    }
}

}  // namespace

TEST_CASE("A NaN gradient mid-task stops the run naming step and tensor, and keeps the last good checkpoint",
          "[reliability]") {
    const GuardSetup& s = guard_setup();
    const std::string out = s.run.root + "/nan_gradient";
    run_until_task2_step2(s, out);
    const std::string before = read_file(checkpoint_path(out));

    ContinualOptions poisoned = guard_options(out);
    poisoned.resume = true;
    poisoned.train.kl_lambda = std::numeric_limits<float>::quiet_NaN();  // the KL itself stays finite
    const std::string message = error_of([&] { run_continual(s.run.model, s.run.tokenizer, s.run.tasks, poisoned); });
    INFO("error: " << message);
    CHECK_THAT(message, Catch::Contains("sapt task 2/2"));
    CHECK_THAT(message, Catch::Contains("non-finite gradient in sals."));  // the selection tensors the KL reaches
    CHECK_THAT(message, Catch::Contains("at step 2"));

    require_last_good_checkpoint(out, before);
    require_clean_resume_matches(s, out);
}

TEST_CASE("A NaN loss mid-task stops the run naming the step and the loss, and keeps the last good checkpoint",
          "[reliability]") {
    const GuardSetup& s = guard_setup();
    const std::string out = s.run.root + "/nan_loss";
    run_until_task2_step2(s, out);
    const std::string before = read_file(checkpoint_path(out));

    // A backbone whose last decoder FFN holds a NaN: the same model otherwise (tensor handles shared), the
    // poisoned matrix a private copy so that the clean resume below reads the real one. The NaN sits in the
    // middle of the matrix, away from the first and last values that the checkpoint's backbone fingerprint
    // samples (sapt/checkpoint.h): a backbone changed there would be refused as another model.
    Model poisoned_model = s.run.model;
    Tensor& wo = poisoned_model.t5.decoder.back().ffn.wo;
    Tensor copy = tensor_from(wo.shape(), tensor_values(wo));
    REQUIRE(copy.numel() > 128);
    copy.f32()[copy.numel() / 2] = std::nanf("");
    wo = copy;
    ContinualOptions resume = guard_options(out);
    resume.resume = true;
    const std::string message = error_of([&] { run_continual(poisoned_model, s.run.tokenizer, s.run.tasks, resume); });
    INFO("error: " << message);
    CHECK_THAT(message, Catch::Contains("sapt task 2/2"));
    CHECK_THAT(message, Catch::Contains("loss is not finite at step 2 (cross-entropy"));

    require_last_good_checkpoint(out, before);
    require_clean_resume_matches(s, out);
}
