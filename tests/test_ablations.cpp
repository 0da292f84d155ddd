// test_ablations.cpp — the ablations of SAPT do what sapt/ablations.h says they remove: sapt-no-arm trains no
// generator, draws no pseudo sample and adds no KL (where SAPT on the same run does all three);
// sapt-no-sals trains each task's block at a constant one-hot weight, so the task loss sends nothing into the
// keys, which only its task-classifier term trains; both are selectable in a --compare list, not in "all";
// --pseudo-fraction with a list runs one comparison per fraction and tabulates them as rows <method>@<F>.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "sapt/ablations.h"
#include "sapt/baselines/compare.h"
#include "tests/reliability_util.h"
#include "tests/tiny_run_util.h"

namespace {

const TinyRun& ablation_setup() {
    static const TinyRun setup = make_tiny_run("ablation_test", 2, 5, 3);
    return setup;
}

std::vector<nlohmann::json> log_lines(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in);
    std::vector<nlohmann::json> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

// What a run's log says about reflection: the largest KL of a training step of task 2, the pseudo samples
// task 1 left, and whether a generator trained.
struct ReflectionTrace {
    double max_kl_task2 = 0;
    long long pseudo_task1 = -1;
    bool generator_trained = false;
};

ReflectionTrace reflection_trace(const std::string& log_path) {
    ReflectionTrace trace;
    for (const nlohmann::json& j : log_lines(log_path)) {
        const std::string event = j.value("event", "");
        const std::string label = j.value("task", "");
        if (event == "train_step" && label.find("generator") != std::string::npos) trace.generator_trained = true;
        if (event == "train_step" && label.find("task 2/2") != std::string::npos) {
            trace.max_kl_task2 = std::max(trace.max_kl_task2, j.at("kl").get<double>());
        }
        if (event == "task_done" && j.at("stage").get<int>() == 0) trace.pseudo_task1 = j.at("pseudo_samples").get<long long>();
    }
    return trace;
}

double abs_sum(const Tensor& t) {
    if (!t.has_grad()) return 0;
    double total = 0;
    for (int64_t i = 0; i < t.numel(); i++) total += std::fabs(t.grad()[i]);
    return total;
}

}  // namespace

TEST_CASE("sapt-no-arm trains no generator and logs KL 0 where SAPT reflects", "[ablation]") {
    const TinyRun& s = ablation_setup();
    ContinualOptions o = tiny_run_options(s.root + "/sapt", 11);
    o.train.epochs = 2;
    const ContinualResult with_arm = run_continual(s.model, s.tokenizer, s.tasks, o);
    const ReflectionTrace sapt = reflection_trace(s.root + "/sapt/log.jsonl");
    // The contrast that makes the check mean something: SAPT on this run does reflect.
    REQUIRE(sapt.generator_trained);
    REQUIRE(sapt.pseudo_task1 > 0);
    REQUIRE(sapt.max_kl_task2 > 0);

    o.method = "sapt-no-arm";
    o.out_dir = s.root + "/no_arm";
    const ContinualResult without_arm = run_continual(s.model, s.tokenizer, s.tasks, o);
    const ReflectionTrace no_arm = reflection_trace(s.root + "/no_arm/log.jsonl");
    CHECK_FALSE(no_arm.generator_trained);
    CHECK(no_arm.pseudo_task1 == 0);
    CHECK(no_arm.max_kl_task2 == 0);
    // Selection is still SAPT's: a weight per block on every evaluated task.
    REQUIRE(without_arm.weights[1][0].size() == 2);
    CHECK(without_arm.weights[1][0][0] + without_arm.weights[1][0][1] == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("sapt-no-sals trains the current block at weight 1: the task loss reaches no key, its own term does",
          "[ablation]") {
    const TinyRun& s = ablation_setup();
    Model model = s.model;
    ContinualOptions o = tiny_run_options("", 11);
    const MethodSpec& spec = method_spec("sapt-no-sals");
    SaptState state = sapt_create(model, method_sapt_options(spec, o.sapt));
    Rng rng = rng_make(7);
    method_begin_task(spec, state, rng);
    method_begin_task(spec, state, rng);  // task 2 of 2: a block and a key for each
    REQUIRE(state.num_tasks == 2);
    const MethodHooks hooks = make_method_hooks("sapt-no-sals", model, state, o.batching, o.baselines);
    const std::vector<EncodedExample> examples = encode_examples(s.tasks[1].train, s.tokenizer, o.batching);
    const Batch batch = make_batch(examples, {0, 1, 2, 3}, o.batching, true);
    const PetHook hook = method_hook(&hooks, state);

    method_begin_batch(&hooks, state, model, batch.selection_ids, batch.selection_mask, true);
    const BatchLoss loss = method_batch_loss(&hooks, model, hook, batch);
    const std::vector<float> weights = tensor_values(state.batch_weights);  // what the task loss ran with
    REQUIRE(weights.size() == 8);
    for (size_t b = 0; b < 4; b++) {
        CHECK(weights[2 * b] == 1.0f);      // the current block
        CHECK(weights[2 * b + 1] == 0.0f);  // the earlier block
    }
    REQUIRE(loss.extra.defined());
    backward(loss.ce);
    CHECK(abs_sum(state.sals.key) == 0);
    CHECK(abs_sum(state.sals.down) == 0);
    CHECK(abs_sum(state.lora[0].current_A) + abs_sum(state.lora[0].current_B) > 0);  // the block does learn

    method_begin_batch(&hooks, state, model, batch.selection_ids, batch.selection_mask, true);
    const BatchLoss again = method_batch_loss(&hooks, model, hook, batch);
    backward(again.extra);
    CHECK(abs_sum(state.sals.key) > 0);  // the selection is learned by the classifier term
    CHECK(tensor_values(again.extra)[0] > 0);  // -log a_current(x) of a random key is positive
}

TEST_CASE("sapt-no-sals runs the loop and routes test inputs by its learned selection", "[ablation]") {
    const TinyRun& s = ablation_setup();
    ContinualOptions o = tiny_run_options(s.root + "/no_sals", 11);
    o.method = "sapt-no-sals";
    const ContinualResult r = run_continual(s.model, s.tokenizer, s.tasks, o);
    for (size_t i = 0; i < 2; i++) {
        CHECK(r.matrix[1][i] >= 0);
        REQUIRE(r.weights[1][i].size() == 2);
        CHECK(r.weights[1][i][0] + r.weights[1][i][1] == Approx(1.0).epsilon(1e-5));
    }
}

TEST_CASE("the ablations are named in a --compare list and are not part of all", "[ablation]") {
    const std::vector<std::string> named = parse_comparison_methods("sapt,sapt-no-arm,sapt-no-sals");
    CHECK(named == std::vector<std::string>{"sapt", "sapt-no-arm", "sapt-no-sals"});
    for (const std::string& m : parse_comparison_methods("all")) {
        CHECK(m != "sapt-no-arm");
        CHECK(m != "sapt-no-sals");
    }
    CHECK_THROWS_WITH(parse_comparison_methods("sapt-no-foo"), Catch::Contains("sapt-no-sals"));
}

TEST_CASE("--compare with a list of --pseudo-fraction: a run per fraction, one table of rows <method>@<F>",
          "[ablation]") {
    const std::string dir = reliability_dir("pseudo_sweep");
    std::vector<std::string> args = small_builtin_args("runs/sweep");
    const auto method = std::find(args.begin(), args.end(), "--method");
    args.erase(method, method + 2);
    args.insert(args.end(), {"--compare", "sapt", "--pseudo-fraction", "0.1,0.5"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    INFO(output);
    const nlohmann::json table = nlohmann::json::parse(read_file(dir + "/runs/sweep/compare.json"));
    REQUIRE(table["methods"].size() == 2);
    long long pseudo[2] = {0, 0};
    const char* fractions[2] = {"0.1", "0.5"};
    for (int f = 0; f < 2; f++) {
        const std::string folder = dir + "/runs/sweep/pseudo-" + fractions[f];
        CHECK(table["methods"][f]["method"] == std::string("sapt@") + fractions[f]);
        const nlohmann::json alone = nlohmann::json::parse(read_file(folder + "/compare.json"));
        CHECK(table["methods"][f]["matrix"] == alone["methods"][0]["matrix"]);
        CHECK(table["methods"][f]["AP"] == alone["methods"][0]["AP"]);
        pseudo[f] = reflection_trace(folder + "/sapt/log.jsonl").pseudo_task1;
    }
    CHECK(pseudo[1] > pseudo[0]);  // the fraction reached the generator: more pseudo samples at 0.5
    CHECK(read_file(dir + "/runs/sweep/compare.md").find("| sapt@0.5 |") != std::string::npos);
    // ./train --resume OUT reads the list back and goes on in each fraction's folder: here all finished.
    REQUIRE(run_program("train", {"--resume", "runs/sweep"}, dir, &output) == 0);
    const nlohmann::json again = nlohmann::json::parse(read_file(dir + "/runs/sweep/compare.json"));
    for (int f = 0; f < 2; f++) CHECK(again["methods"][f]["matrix"] == table["methods"][f]["matrix"]);
}
