// test_generator_markers.cpp — generators that carry task identity: the markers "__gen__", "__inp__",
// "__ans__" are one id each in the generator's tokenizer and decode back to their text; a T5 embeds an id
// beyond its table through the hook's extra rows without its own logits changing; generated texts go
// through the well-formed check into pseudo samples; the routing share on a known matrix; and a SAPT run
// reports both per task (result, log, report files, checkpoint).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/ops.h"
#include "models/layers.h"
#include "sapt/generator.h"
#include "sapt/report.h"
#include "tests/tiny_run_util.h"

namespace {

const TinyRun& marker_run() {
    static const TinyRun run = make_tiny_run("generator_markers", 2, 4, 5);
    return run;
}

BatchingOptions tiny_batching() {
    BatchingOptions b;
    b.pad_id = 0;
    b.eos_id = 2;
    b.max_source_length = 64;
    b.max_target_length = 8;
    return b;
}

}  // namespace

TEST_CASE("The generator's markers are one id each and decode back to their text", "[generator]") {
    const Tokenizer& plain = marker_run().tokenizer;
    const Tokenizer marked = generator_tokenizer(plain);
    std::vector<int> marker_ids;
    for (const char* marker : {"__gen__", "__inp__", "__ans__"}) {
        const std::vector<int> ids = encode(marked, marker);
        REQUIRE(ids.size() == 1);
        CHECK(decode(marked, ids) == marker);
        CHECK(id_to_piece(marked, ids[0]) == marker);
        CHECK(token_to_id(marked, marker) == ids[0]);
        marker_ids.push_back(ids[0]);
    }
    // The test tokenizer has no such pieces: all three are appended after its vocabulary.
    CHECK(marker_ids == std::vector<int>{vocab_size(plain), vocab_size(plain) + 1, vocab_size(plain) + 2});
    CHECK(vocab_size(marked) == vocab_size(plain) + 3);
    CHECK(generator_tokenizer(marked).added_pieces.size() == 3);  // adding them again adds nothing

    // Inside a text a marker is never split, and the text around it is encoded on its own.
    const std::string text = "Copy the word.__inp__cat dog__ans__cat";
    std::vector<int> expected = encode(plain, "Copy the word.");
    expected.push_back(marker_ids[1]);
    for (int id : encode(plain, "cat dog")) expected.push_back(id);
    expected.push_back(marker_ids[2]);
    for (int id : encode(plain, "cat")) expected.push_back(id);
    CHECK(encode(marked, text) == expected);
    CHECK(decode(marked, encode(marked, text)) == text);
    CHECK(encode(plain, "__inp__").size() > 1);  // the backbone's own tokenizer cuts the marker into pieces
    CHECK_THROWS_WITH(decode(plain, {marker_ids[0]}), Catch::Contains("invalid id"));
}

TEST_CASE("An id beyond the T5's table embeds through the hook's extra rows; the model's logits stay", "[generator]") {
    const Model& model = marker_run().model;
    const int64_t V = model.t5.shared.dim(0), C = model.t5.shared.dim(1);
    Rng rng = rng_make(3);
    std::vector<float> rows_values((size_t)(2 * C));
    for (float& v : rows_values) v = rng_normal(rng);
    PetHook hook;
    hook.extra_vocab = tensor_from({2, C}, rows_values);

    const Tensor ids = index_tensor({1, 3}, {5, 7, 9}, Device::CPU);
    const Tensor with_extra_id = index_tensor({1, 3}, {5, 7, (int32_t)V + 1}, Device::CPU);
    const Tensor decoder_ids = index_tensor({1, 2}, {0, 5}, Device::CPU);
    T5RunOptions run;
    const Tensor plain = t5_decode(model.t5, decoder_ids, t5_encode(model.t5, ids, Tensor{}, nullptr, run), nullptr, run);
    const Tensor extended = t5_decode(model.t5, decoder_ids, t5_encode(model.t5, ids, Tensor{}, &hook, run), &hook, run);
    REQUIRE(extended.dim(2) == V + 2);
    CHECK(tensor_values(slice(extended, 2, 0, V)) == tensor_values(plain));  // the model's own V columns

    // The appended id reads its own row: the encoder states differ from those of any id in the table.
    const Tensor marked = t5_encode(model.t5, with_extra_id, Tensor{}, &hook, run).states;
    CHECK(tensor_values(marked) != tensor_values(t5_encode(model.t5, ids, Tensor{}, &hook, run).states));
    CHECK_THROWS(t5_encode(model.t5, with_extra_id, Tensor{}, nullptr, run));  // without the rows: no such id
}

TEST_CASE("The well-formed check: markers in order, non-empty parts, ended by EOS", "[generator]") {
    CHECK(check_generated_text("Copy the word.__inp__ cat dog", true).well_formed);
    CHECK(check_generated_text("Copy the word.__inp__cat__ans__cat", true).well_formed);
    const std::vector<std::pair<std::string, std::string>> malformed = {
        {"Copy the word. cat dog", "no __inp__"},
        {"__inp__ cat dog", "empty instruction"},
        {"Copy the word.__inp__  ", "empty input"},
        {"Copy__inp__cat__inp__dog", "__inp__ twice"},
        {"Copy__ans__cat__inp__dog", "__ans__ before __inp__"},
        {"Copy__inp__cat__ans__ ", "empty answer"},
        {"__gen__Copy__inp__cat", "__gen__ in the text"},
    };
    for (const auto& [text, problem] : malformed) {
        const GeneratedCheck check = check_generated_text(text, true);
        CHECK_FALSE(check.well_formed);
        CHECK(check.problem == problem);
    }
    CHECK(check_generated_text("Copy the word.__inp__ cat dog", false).problem == "cut at the length limit");
}

TEST_CASE("Generated texts become pseudo samples through the well-formed check", "[generator]") {
    const Task& task = marker_run().tasks[0];
    Rng rng = rng_make(5);
    std::vector<GeneratedCheck> checks;
    const std::vector<Instance> samples = pseudo_samples_from_texts(
        {"Copy the word.__inp__cat dog", "cat dog", "Copy the word.__inp__bread"}, {true, true, false}, task, rng, &checks);
    REQUIRE(samples.size() == 3);
    REQUIRE(checks.size() == 3);
    CHECK(checks[0].well_formed);
    CHECK(checks[1].problem == "no __inp__");
    CHECK(checks[2].problem == "cut at the length limit");
    CHECK(samples[0].input == "cat dog");
    CHECK(samples[1].input == "cat dog");  // without __inp__ the whole text is the input
    for (const Instance& sample : samples) {  // the generated instruction is every sample's definition
        CHECK(sample.prompt.find("Copy the word.") != std::string::npos);
        CHECK(sample.outputs == std::vector<std::string>{""});
    }
    CHECK_THROWS_WITH(pseudo_samples_from_texts({"a"}, {}, task, rng, &checks), Catch::Contains("one ended flag per text"));
}

TEST_CASE("A trained tiny generator's samples each carry their check", "[generator]") {
    const TinyRun& run = marker_run();
    GeneratorOptions g;
    g.train.max_steps = 20;
    g.train.batch_size = 8;
    g.max_new_tokens = 12;
    g.fraction = 0.5f;
    std::vector<GeneratedCheck> checks;
    const std::vector<Instance> samples =
        generate_pseudo_samples(run.model, run.tokenizer, run.tasks[0], tiny_batching(), g, 11, &checks);
    REQUIRE(samples.size() == (size_t)pseudo_sample_count((int)run.tasks[0].train.size(), g.fraction));
    REQUIRE(checks.size() == samples.size());
    const std::vector<std::string> rules = {"cut at the length limit", "__gen__ in the text", "no __inp__",
                                            "__inp__ twice", "__ans__ twice", "__ans__ before __inp__",
                                            "empty instruction", "empty input", "empty answer"};
    for (size_t i = 0; i < samples.size(); i++) {
        if (checks[i].well_formed) CHECK_FALSE(samples[i].input.empty());
        else CHECK(std::find(rules.begin(), rules.end(), checks[i].problem) != rules.end());
    }
}

TEST_CASE("The routing share counts the rows whose largest weight is the task's own block", "[generator]") {
    const std::vector<std::vector<double>> weights = {
        {0.7, 0.2, 0.1}, {0.3, 0.6, 0.1}, {0.2, 0.3, 0.5}, {0.45, 0.45, 0.1}};  // the last row ties: block 0
    CHECK(routing_share(weights, 0) == Approx(0.5));
    CHECK(routing_share(weights, 1) == Approx(0.25));
    CHECK(routing_share(weights, 2) == Approx(0.25));
    CHECK(std::isnan(routing_share({}, 0)));
    CHECK_THROWS_WITH(routing_share(weights, 3), Catch::Contains("block 3 is not among the row's 3 blocks"));
}

TEST_CASE("A SAPT run reports each task's pseudo samples: result, log, report and checkpoint", "[generator]") {
    const TinyRun& run = marker_run();
    const std::string out = run.root + "/reported";
    ContinualOptions o = tiny_run_options(out, 3);
    const ContinualResult result = run_continual(run.model, run.tokenizer, run.tasks, o);
    REQUIRE(result.pseudo_quality.size() == 1);  // the last task's samples are never made
    const PseudoQuality& q = result.pseudo_quality[0];
    CHECK(q.task == 0);
    CHECK(q.samples == pseudo_sample_count(22, o.generator.fraction));  // 24 instances, 2 held out
    int problems = 0;
    for (const auto& entry : q.problems) problems += entry.second;
    CHECK(q.well_formed + problems == q.samples);
    CHECK(q.routed_when_made == Approx(1.0));  // one block exists when task 1's samples are made
    CHECK(q.routed_at_end >= 0.0);
    CHECK(q.routed_at_end <= 1.0);

    int logged = 0;
    std::ifstream log(out + "/log.jsonl");
    for (std::string line; std::getline(log, line);) {
        const nlohmann::json j = nlohmann::json::parse(line);
        if (j.value("event", "") != "pseudo_quality") continue;
        logged++;
        CHECK(j.at("quality").at("samples").get<int>() == q.samples);
        CHECK(j.at("quality").at("routed_at_end").get<double>() == Approx(q.routed_at_end));
    }
    CHECK(logged == 1);

    RunReport report;
    report.title = "test";
    report.tasks = result.tasks;
    report.runs.push_back({"sapt", result, score_run(result, {}, false)});
    write_report(out, report);
    std::ifstream md_file(out + "/report.md");
    const std::string md((std::istreambuf_iterator<char>(md_file)), std::istreambuf_iterator<char>());
    CHECK(md.find("| T1 " + run.tasks[0].name + " | " + std::to_string(q.samples) + " | ") != std::string::npos);
    std::ifstream json_file(out + "/report.json");
    const nlohmann::json js = nlohmann::json::parse(json_file);
    CHECK(js.at("methods").at("sapt").at("pseudo_samples").at(0).at("samples").get<int>() == q.samples);

    // The counts made at generation time survive a resume: they travel in the checkpoint's loop state.
    ContinualOptions first = tiny_run_options(run.root + "/reported_resumed", 3);
    first.stop_after_tasks = 1;
    run_continual(run.model, run.tokenizer, run.tasks, first);
    ContinualOptions again = tiny_run_options(run.root + "/reported_resumed", 3);
    again.resume = true;
    const ContinualResult resumed = run_continual(run.model, run.tokenizer, run.tasks, again);
    REQUIRE(resumed.pseudo_quality.size() == 1);
    CHECK(resumed.pseudo_quality[0].well_formed == q.well_formed);
    CHECK(resumed.pseudo_quality[0].routed_when_made == q.routed_when_made);
    CHECK(resumed.pseudo_quality[0].routed_at_end == q.routed_at_end);
}
