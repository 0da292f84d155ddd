// test_order_data.cpp — the paper's experiments as commands (issue 17): an order that names a task without
// data runs without it (skipped with a note naming the missing file); a task named in --tasks without data
// stops the run naming the file and the --tasks that would run (data/orders.h: order_tasks_with_data).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "engine/error.h"
#include "tests/reliability_util.h"
#include "tests/test_util.h"

static bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE("an order skips the released Long Sequence tasks without data, naming the missing file", "[science]") {
    const std::string root = shared_path("data/CL_Benchmark");
    const TaskOrder order = load_order(root + "/orders.json", "long15_starts_yelp");
    const OrderTasks kept = order_tasks_with_data(root, "Long_Sequence", order, {}, LoadOptions{});
    // dbpedia has no train.json, yahoo has no file at all; the other 13 load (test held out where missing).
    REQUIRE(kept.names.size() == 13);
    CHECK(kept.names.front() == "yelp");
    for (const std::string& name : kept.names) CHECK((name != "dbpedia" && name != "yahoo"));
    REQUIRE(kept.notes.size() == 2);
    CHECK(contains(kept.notes[0], "dbpedia/train.json is missing"));
    CHECK(contains(kept.notes[1], "yahoo/train.json is missing"));
    CHECK(missing_task_file(root, "Long_Sequence", "imdb").empty());  // no test.json: held out of train
    LoadOptions strict;
    strict.require_test_file = true;
    CHECK(contains(missing_task_file(root, "Long_Sequence", "imdb", strict), "imdb/test.json"));
}

TEST_CASE("a task named in --tasks without data is an error naming the file and suggesting --tasks", "[science]") {
    const std::string root = shared_path("data/CL_Benchmark");
    const TaskOrder order = load_order(root + "/orders.json", "long15_starts_yelp");
    try {
        order_tasks_with_data(root, "Long_Sequence", order, {"cb", "dbpedia", "copa"}, LoadOptions{});
        FAIL("expected an error");
    } catch (const sapt_error& e) {
        const std::string what = e.what();
        CHECK(contains(what, "dbpedia/train.json"));
        CHECK(contains(what, "--tasks cb,copa"));
    }
    // Through ./train: the error comes before any model is loaded or any file written.
    const std::string dir = reliability_dir("preset_missing_task");
    std::string output;
    const int status = run_program(program_path("train"),
                                   {"--data", std::filesystem::absolute(root).string(), "--order", "long15_starts_yelp", "--tasks", "yahoo,cb",
                                    "--out", dir + "/runs/x"},
                                   dir, &output);
    CHECK(status == 1);
    CHECK(contains(output, "yahoo/train.json"));
    CHECK(contains(output, "--tasks cb"));
    CHECK(!std::filesystem::exists(dir + "/runs/x"));
}

TEST_CASE("./train --plan-memory plans for the order's tasks with data, not for the skipped ones", "[science][memory-plan]") {
    const std::string root = shared_path("data/CL_Benchmark");
    const std::string dir = reliability_dir("plan_memory_order");
    std::filesystem::create_directories(dir + "/t5");
    // T5-small's shape: only config.json is read
    atomic_write_file(dir + "/t5/config.json",
                      R"({"model_type": "t5", "d_model": 512, "d_kv": 64, "d_ff": 2048, "num_layers": 6,
                          "num_decoder_layers": 6, "num_heads": 8, "vocab_size": 32128,
                          "relative_attention_num_buckets": 32, "feed_forward_proj": "relu"})");
    std::string output;
    const int status = run_program(program_path("train"),
                                   {"--plan-memory", "--model", "t5", "--data", std::filesystem::absolute(root).string(),
                                    "--order", "long15_starts_yelp"},
                                   dir, &output);
    INFO(output);
    CHECK(status == 0);
    CHECK(contains(output, "13 tasks"));  // 15 in the order, dbpedia and yahoo without data
    CHECK(contains(output, "note: "));
    CHECK(contains(output, "yahoo/train.json"));
}
