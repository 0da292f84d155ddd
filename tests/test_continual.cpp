// test_continual.cpp — the continual loop on a tiny random T5 over three tasks of the built-in suite:
// the accuracy matrix has the right shape, a checkpoint is written, and runs killed after a task or in
// the middle of one end, once resumed, with exactly the matrix of an uninterrupted run. Also batching
// (padding, label masks) and the generator's text split.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "data/synthetic_suite.h"
#include "sapt/builtin.h"
#include "sapt/continual.h"
#include "tests/tiny_run_util.h"
#include "tokenizer/trainer.h"

namespace {

// Three tasks (sentiment, topic, first_word), a BPE tokenizer of the suite and a random 1+1-layer T5.
const TinyRun& tiny_setup() {
    static const TinyRun setup = make_tiny_run("loop_test", 3, 5, 3);
    return setup;
}

ContinualOptions tiny_options(const std::string& out_dir) { return tiny_run_options(out_dir, 11); }

void require_same_matrix(const ContinualResult& a, const ContinualResult& b) {
    REQUIRE(a.matrix.size() == b.matrix.size());
    for (size_t j = 0; j < a.matrix.size(); j++) {
        for (size_t i = 0; i < a.matrix[j].size(); i++) {
            if (std::isnan(a.matrix[j][i])) CHECK(std::isnan(b.matrix[j][i]));
            else CHECK(a.matrix[j][i] == b.matrix[j][i]);
        }
        for (size_t i = 0; i <= j; i++) CHECK(a.weights[j][i] == b.weights[j][i]);  // bit-identical weights
    }
}

// The "loss" of the last task_done line of a run's log.jsonl.
double last_task_loss(const std::string& log_path) {
    std::ifstream in(log_path);
    REQUIRE(in);
    std::string line;
    double loss = std::nan("");
    while (std::getline(in, line)) {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.value("event", "") == "task_done") loss = j.at("loss").get<double>();
    }
    return loss;
}

}  // namespace

TEST_CASE("a SAPT run fills the lower triangle of a[j][i] and writes a checkpoint", "[loop]") {
    const TinyRun& s = tiny_setup();
    const std::string out = s.root + "/full";
    ContinualResult r = run_continual(s.model, s.tokenizer, s.tasks, tiny_options(out));
    REQUIRE(r.matrix.size() == 3);
    for (size_t j = 0; j < 3; j++) {
        REQUIRE(r.matrix[j].size() == 3);
        for (size_t i = 0; i < 3; i++) {
            if (i <= j) {
                CHECK(r.matrix[j][i] >= 0);
                CHECK(r.matrix[j][i] <= 100);
                REQUIRE(r.weights[j][i].size() == j + 1);  // one weight per block seen so far
                double total = 0;
                for (double w : r.weights[j][i]) total += w;
                CHECK(total == Approx(1.0).epsilon(1e-5));
            } else {
                CHECK(std::isnan(r.matrix[j][i]));
            }
        }
    }
    CHECK_FALSE(r.stopped);
    CHECK(std::filesystem::exists(checkpoint_path(out)));
    CHECK(std::filesystem::exists(out + "/log.jsonl"));
}

TEST_CASE("a run killed after task 2 and resumed ends with the uninterrupted run's matrix", "[loop]") {
    const TinyRun& s = tiny_setup();
    ContinualResult full = run_continual(s.model, s.tokenizer, s.tasks, tiny_options(s.root + "/uninterrupted"));

    ContinualOptions first = tiny_options(s.root + "/killed");
    first.stop_after_tasks = 2;
    ContinualResult part = run_continual(s.model, s.tokenizer, s.tasks, first);
    REQUIRE(part.stopped);
    CHECK(std::isnan(part.matrix[2][2]));

    ContinualOptions again = tiny_options(s.root + "/killed");
    again.resume = true;
    ContinualResult resumed = run_continual(s.model, s.tokenizer, s.tasks, again);
    CHECK_FALSE(resumed.stopped);
    require_same_matrix(full, resumed);
}

TEST_CASE("a run killed in the middle of a task resumes from its mid-task checkpoint", "[loop]") {
    const TinyRun& s = tiny_setup();
    ContinualOptions plain = tiny_options(s.root + "/uninterrupted_mid");
    plain.train.checkpoint_every = 1;
    ContinualResult full = run_continual(s.model, s.tokenizer, s.tasks, plain);

    ContinualOptions first = tiny_options(s.root + "/killed_mid");
    first.train.checkpoint_every = 1;
    first.stop_after_tasks = 1;
    REQUIRE(run_continual(s.model, s.tokenizer, s.tasks, first).stopped);
    ContinualOptions middle = first;
    middle.stop_after_tasks = 0;
    middle.stop_after_steps = 2;  // inside task 2, which replays task 1's pseudo samples
    middle.resume = true;
    REQUIRE(run_continual(s.model, s.tokenizer, s.tasks, middle).stopped);
    ContinualOptions rest = first;
    rest.stop_after_tasks = 0;
    rest.resume = true;
    require_same_matrix(full, run_continual(s.model, s.tokenizer, s.tasks, rest));
}

TEST_CASE("a checkpoint of another method is refused on resume", "[loop]") {
    const TinyRun& s = tiny_setup();
    ContinualOptions first = tiny_options(s.root + "/other_method");
    first.stop_after_tasks = 1;
    run_continual(s.model, s.tokenizer, s.tasks, first);
    ContinualOptions other = first;
    other.method = "seqlora";
    other.resume = true;
    CHECK_THROWS_WITH(run_continual(s.model, s.tokenizer, s.tasks, other), Catch::Contains("another run"));
}

TEST_CASE("SeqLoRA keeps one block: no selection weights and one trainable LoRA", "[loop]") {
    const TinyRun& s = tiny_setup();
    ContinualOptions o = tiny_options("");
    o.method = "seqlora";
    ContinualResult r = run_continual(s.model, s.tokenizer, s.tasks, o);
    REQUIRE(r.matrix.size() == 3);
    CHECK(r.weights[2][0].empty());
    CHECK_FALSE(std::isnan(r.matrix[2][0]));
}

TEST_CASE("T5 batches pad inputs with the pad id and labels with -100", "[loop]") {
    std::vector<EncodedExample> ex = {{{5, 6, 2}, {7, 2}}, {{5, 2}, {8, 9, 10, 2}}};
    BatchingOptions o;
    o.pad_id = 0;
    o.eos_id = 2;
    Batch b = make_batch(ex, {0, 1}, o, true);
    CHECK(tensor_values(b.input_ids) == std::vector<float>{5, 6, 2, 5, 2, 0});
    CHECK(tensor_values(b.mask) == std::vector<float>{1, 1, 1, 1, 1, 0});
    CHECK(tensor_values(b.labels) == std::vector<float>{7, 2, -100, -100, 8, 9, 10, 2});
    CHECK(b.selection_ids.data == b.input_ids.data);
}

TEST_CASE("LLaMA batches left-pad prompt + answer and mask the prompt out of the labels", "[loop]") {
    std::vector<EncodedExample> ex = {{{1, 5, 6}, {7, 2}}, {{1, 5}, {8, 2}}};
    BatchingOptions o;
    o.model_kind = ModelKind::Llama;
    o.pad_id = 0;
    o.eos_id = 2;
    Batch b = make_batch(ex, {0, 1}, o, true);
    CHECK(tensor_values(b.input_ids) == std::vector<float>{1, 5, 6, 7, 2, 0, 1, 5, 8, 2});
    CHECK(tensor_values(b.mask) == std::vector<float>{1, 1, 1, 1, 1, 0, 1, 1, 1, 1});
    CHECK(tensor_values(b.labels) == std::vector<float>{-100, -100, -100, 7, 2, -100, -100, -100, 8, 2});
    CHECK(tensor_values(b.selection_ids) == std::vector<float>{1, 5, 6, 0, 1, 5});  // the prompt alone, for SALS
    Batch prompts = make_batch(ex, {0, 1}, o, false);
    CHECK(tensor_values(prompts.input_ids) == std::vector<float>{1, 5, 6, 0, 1, 5});
}

TEST_CASE("epoch orders are permutations drawn from the saved RNG", "[loop]") {
    Rng a = rng_make(4), b = rng_make(4);
    std::vector<int> first = epoch_order(10, a, true), again = epoch_order(10, b, true);
    CHECK(first == again);
    std::vector<int> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == epoch_order(10, a, false));
    CHECK(epoch_order(10, a, true) != first);  // the RNG moved on: the next epoch differs
}

TEST_CASE("generated text splits at __inp__ into instruction and input", "[loop]") {
    CHECK(split_generated_text("Copy the word.__inp__ cat dog") == std::pair<std::string, std::string>{"Copy the word.", "cat dog"});
    CHECK(split_generated_text("Copy __inp__ cat__ans__ dog") == std::pair<std::string, std::string>{"Copy", "cat"});
    CHECK(split_generated_text("no marker") == std::pair<std::string, std::string>{"", "no marker"});
    CHECK(pseudo_sample_count(250, 0.02f) == 5);
    CHECK(pseudo_sample_count(126, 0.02f) == 2);
    CHECK(pseudo_sample_count(10, 0.02f) == 1);
}

TEST_CASE("training stops with the step named when the loss becomes non-finite", "[loop]") {
    const TinyRun& s = tiny_setup();
    ContinualOptions o = tiny_options("");
    SaptState state = sapt_create(s.model, o.sapt);
    Rng rng = rng_make(1);
    sapt_add_task(state, rng);
    state.lora[0].current_B.f32()[0] = std::nanf("");  // poisons the first adapted projection
    std::vector<Instance> train = s.tasks[0].train;
    const std::vector<EncodedExample> examples = encode_examples(train, s.tokenizer, o.batching);
    AdamW optimizer = adamw_create(sapt_trainable_parameters(state), 1e-3);
    TrainPosition position;
    CHECK_THROWS_WITH(train_task(s.model, state, examples, {}, o.batching, o.train, optimizer, position),
                      Catch::Contains("not finite at step 0"));
}

// Every baseline with state of its own (EWC's anchors, LwF's teacher, L2P's pool, Replay's memory, SeqFT's
// backbone) and O-LoRA: stopped after task 1, then in the middle of task 2, and resumed each time, the run ends
// with the matrix and the final loss of the uninterrupted run.
TEST_CASE("every method resumes from its checkpoints to the uninterrupted run's results", "[loop][reliability]") {
    const TinyRun& s = tiny_setup();
    for (const std::string method : {"ewc", "lwf", "l2p", "replay", "seqft", "olora"}) {
        INFO("method " << method);
        ContinualOptions plain = tiny_options(s.root + "/every_" + method + "_whole");
        plain.method = method;
        plain.train.checkpoint_every = 1;
        const ContinualResult full = run_continual(s.model, s.tokenizer, s.tasks, plain);

        ContinualOptions first = tiny_options(s.root + "/every_" + method + "_killed");
        first.method = method;
        first.train.checkpoint_every = 1;
        first.stop_after_tasks = 1;
        REQUIRE(run_continual(s.model, s.tokenizer, s.tasks, first).stopped);
        ContinualOptions middle = first;
        middle.stop_after_tasks = 0;
        middle.stop_after_steps = 1;  // inside task 2: the method's state from task 1 is in use
        middle.resume = true;
        REQUIRE(run_continual(s.model, s.tokenizer, s.tasks, middle).stopped);
        ContinualOptions rest = first;
        rest.stop_after_tasks = 0;
        rest.resume = true;
        const ContinualResult resumed = run_continual(s.model, s.tokenizer, s.tasks, rest);
        CHECK_FALSE(resumed.stopped);
        REQUIRE(full.matrix.size() == resumed.matrix.size());
        for (size_t j = 0; j < full.matrix.size(); j++) {
            for (size_t i = 0; i <= j; i++) CHECK(full.matrix[j][i] == resumed.matrix[j][i]);
        }
        // The last task's final training loss, bit for bit: it depends on everything the method kept.
        CHECK(last_task_loss(plain.out_dir + "/log.jsonl") == last_task_loss(first.out_dir + "/log.jsonl"));
    }
}
