// test_synthetic_suite.cpp — the built-in suite is deterministic, its answers follow its instructions, and
// the files it writes load through the real CL_Benchmark loader.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "data/cl_benchmark.h"
#include "data/orders.h"
#include "data/synthetic_suite.h"

TEST_CASE("the synthetic suite is the same for the same seed and differs for another", "[data]") {
    SyntheticSuite a = make_synthetic_suite(7, 20, 5), b = make_synthetic_suite(7, 20, 5);
    SyntheticSuite c = make_synthetic_suite(8, 20, 5);
    REQUIRE(a.tasks.size() == 6);
    REQUIRE(a.tasks[0].train[3].input == b.tasks[0].train[3].input);
    bool any_difference = false;
    for (int i = 0; i < 20; i++) any_difference |= a.tasks[0].train[i].input != c.tasks[0].train[i].input;
    REQUIRE(any_difference);
}

TEST_CASE("conflicting synthetic tasks give opposite answers to the same kind of input", "[data]") {
    SyntheticSuite suite = make_synthetic_suite(1, 50, 10);
    const SyntheticTask* sentiment = nullptr;
    const SyntheticTask* flipped = nullptr;
    for (const SyntheticTask& t : suite.tasks) {
        if (t.name == "sentiment") sentiment = &t;
        if (t.name == "sentiment_flipped") flipped = &t;
        for (const SyntheticExample& ex : t.train) {
            // every answer is one of the task's labels
            REQUIRE(std::find(t.labels.begin(), t.labels.end(), ex.output) != t.labels.end());
        }
    }
    REQUIRE(sentiment != nullptr);
    REQUIRE(flipped != nullptr);
    // "happy ..." is positive for sentiment and negative for sentiment_flipped
    for (const auto* task : {sentiment, flipped}) {
        for (const SyntheticExample& ex : task->train) {
            bool happy = ex.input.rfind("happy ", 0) == 0;
            if (happy) REQUIRE(ex.output == (task == sentiment ? "positive" : "negative"));
        }
    }
}

TEST_CASE("the written synthetic suite loads through the CL_Benchmark loader", "[data]") {
    std::string root = (std::filesystem::temp_directory_path() / "sapt_suite_test").string();
    std::filesystem::remove_all(root);
    SyntheticSuite suite = make_synthetic_suite(3, 30, 6);
    std::string orders = write_synthetic_suite(suite, root);
    TaskOrder order = load_order(orders, "builtin");
    REQUIRE(order.tasks.size() == suite.tasks.size());
    Task first = load_task(root, order.benchmark, order.tasks[0]);
    REQUIRE(first.train.size() == 30);
    REQUIRE(first.test.size() == 6);
    REQUIRE(first.train[0].label == suite.tasks[0].train[0].output);
    REQUIRE(first.train[0].prompt.find(suite.tasks[0].definition) != std::string::npos);
    std::filesystem::remove_all(root);
}
