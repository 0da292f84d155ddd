// test_seeds.cpp — ./train --compare LIST --seeds 1,2: the mean and sample standard deviation on known
// numbers; the seeded tables on known comparisons; and a tiny 2-seed run whose compare.json carries each
// seed's values, whose mean and std match its table, whose seed folders equal single-seed runs with those
// seeds, which resumes after SIGTERM to the same results, and whose run folders hold the selection heat-map
// after every task.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "sapt/baselines/compare.h"
#include "tests/reliability_util.h"

namespace {

// A comparison with the given (AP, F.Ra, FWT, BWT) per method and a 2 x 2 matrix.
Comparison known_comparison(const std::vector<std::pair<std::string, std::vector<double>>>& rows) {
    Comparison c;
    c.title = "known";
    c.tasks = {"a", "b"};
    c.single = {50, 60};
    for (const auto& [method, values] : rows) {
        ComparisonRow r;
        r.method = method;
        r.scores.ap = values[0], r.scores.forgetting = values[1];
        r.scores.forward_transfer = values[2], r.scores.backward_transfer = values[3];
        r.result.matrix = {{values[0], std::nan("")}, {values[0], values[0]}};
        r.result.seconds = 10;
        c.rows.push_back(r);
    }
    return c;
}

std::string cell(double mean, double std) {
    char text[64];
    std::snprintf(text, sizeof text, "%.1f ± %.1f", mean, std);
    return text;
}

}  // namespace

TEST_CASE("mean and sample standard deviation of known numbers", "[seeds]") {
    // 2,4,4,4,5,5,7,9: mean 5, squared deviations 32; the population std would be 2, the sample std sqrt(32/7).
    const MeanStd v = mean_std({2, 4, 4, 4, 5, 5, 7, 9});
    CHECK(v.n == 8);
    CHECK(v.mean == Approx(5.0));
    CHECK(v.std == Approx(std::sqrt(32.0 / 7.0)));
    const MeanStd three = mean_std({51.7, 60.7, 73.7});  // the built-in SAPT AP of seeds 1-3 (results/README.md)
    CHECK(three.mean == Approx(62.0333).epsilon(1e-4));
    CHECK(three.std == Approx(11.0604).epsilon(1e-4));
    CHECK(std::isnan(mean_std({42}).std));             // one seed has no spread
    CHECK(std::isnan(mean_std({1, std::nan("")}).mean));  // a missing score is not averaged away
    CHECK_THROWS_WITH(mean_std({}), Catch::Contains("no values"));
}

TEST_CASE("a seeded comparison tabulates mean ± std and keeps every seed's values", "[seeds]") {
    SeededComparison s;
    s.title = "known";
    s.tasks = {"a", "b"};
    s.seeds = {1, 2, 3};
    s.runs = {known_comparison({{"sapt", {51.7, 10, 1, -5}}, {"seqlora", {40, 20, 2, -10}}}),
              known_comparison({{"sapt", {60.7, 12, 1, -7}}, {"seqlora", {44, 20, 2, -12}}}),
              known_comparison({{"sapt", {73.7, 14, 1, -9}}, {"seqlora", {48, 20, 2, -14}}})};
    const std::string md = seeded_comparison_markdown(s);
    CHECK(md.find("| sapt | " + cell(62.0333, 11.0604) + " | " + cell(12, 2) + " | " + cell(1, 0)) != std::string::npos);
    CHECK(md.find("| seqlora | " + cell(44, 4)) != std::string::npos);
    CHECK(md.find("sample standard deviation (divisor n - 1)") != std::string::npos);
    CHECK(md.find("| sapt | 51.7 | 60.7 | 73.7 |") != std::string::npos);  // AP per seed
    const nlohmann::json js = nlohmann::json::parse(seeded_comparison_json(s));
    CHECK(js["seeds"] == nlohmann::json({1, 2, 3}));
    CHECK(js["methods"][0]["AP"]["per_seed"] == nlohmann::json({51.7, 60.7, 73.7}));
    CHECK(js["methods"][0]["AP"]["mean"].get<double>() == Approx(62.0333).epsilon(1e-4));
    CHECK(js["methods"][1]["BWT"]["std"].get<double>() == Approx(2.0));
    CHECK(js["runs"].size() == 3);
    CHECK(js["runs"][2]["seed"] == 3);

    s.runs[1].rows[1].method = "replay";  // a table row must average one method
    CHECK_THROWS_WITH(seeded_comparison_markdown(s), Catch::Contains("other methods"));
}

TEST_CASE("a 2-seed ./train --compare: per-seed values, their mean and std in the table, resumable, seed runs "
          "equal to single-seed runs", "[seeds]") {
    const std::string dir = reliability_dir("seeds_compare");
    auto args_for = [](const std::string& out) {
        std::vector<std::string> args = small_builtin_args(out);
        const auto method = std::find(args.begin(), args.end(), "--method");
        args.erase(method, method + 2);
        args.insert(args.end(), {"--compare", "sapt,seqlora"});
        return args;
    };
    std::vector<std::string> seeded = args_for("runs/seeded");
    seeded.insert(seeded.end(), {"--seeds", "1,2"});
    std::string output;
    REQUIRE(run_program("train", seeded, dir, &output) == 0);
    INFO(output);
    const nlohmann::json js = nlohmann::json::parse(read_file(dir + "/runs/seeded/compare.json"));
    const std::string md = read_file(dir + "/runs/seeded/compare.md");
    REQUIRE(js["seeds"] == nlohmann::json({1, 2}));
    REQUIRE(js["methods"].size() == 2);  // the listed methods ("single", FWT's reference, runs per seed, not as a row)
    for (const nlohmann::json& row : js["methods"]) {
        const std::string method = row["method"];
        std::vector<double> ap;
        for (size_t k = 0; k < 2; k++) {
            const nlohmann::json per_seed = nlohmann::json::parse(read_file(dir + "/runs/seeded/seed-" + std::to_string(k + 1) + "/compare.json"));
            for (const nlohmann::json& r : per_seed["methods"]) {
                if (r["method"] == method) ap.push_back(r["AP"].get<double>());
            }
        }
        REQUIRE(ap.size() == 2);
        CHECK(row["AP"]["per_seed"][0].get<double>() == ap[0]);
        CHECK(row["AP"]["per_seed"][1].get<double>() == ap[1]);
        const MeanStd v = mean_std(ap);
        CHECK(row["AP"]["mean"].get<double>() == Approx(v.mean));
        CHECK(row["AP"]["std"].get<double>() == Approx(v.std));
        CHECK(md.find("| " + method + " | " + cell(v.mean, v.std) + " |") != std::string::npos);
    }
    // The selection after every task, in each seed's run folder.
    for (const char* seed : {"seed-1", "seed-2"}) {
        for (const char* after : {"T1", "T2"}) {
            CHECK(std::filesystem::exists(dir + "/runs/seeded/" + seed + "/selection_sapt_after_" + after + ".png"));
        }
    }

    // Stopped by SIGTERM inside seed 2 (after its SAPT run has a checkpoint), then ./train --resume OUT: the
    // same per-seed results as the uninterrupted run (the wall times aside).
    std::vector<std::string> killed = args_for("runs/killed");
    killed.insert(killed.end(), {"--seeds", "1,2"});
    const Started run = start_program("train", killed, dir, dir + "/killed.txt");
    REQUIRE(wait_until([&] { return std::filesystem::exists(dir + "/runs/killed/seed-2/sapt/checkpoint.safetensors"); }, 300));
    ::kill(run.pid, SIGTERM);
    REQUIRE(wait_program(run) == 128 + SIGTERM);
    CHECK_FALSE(std::filesystem::exists(dir + "/runs/killed/compare.json"));
    REQUIRE(run_program("train", {"--resume", "runs/killed"}, dir, &output) == 0);
    const nlohmann::json resumed = nlohmann::json::parse(read_file(dir + "/runs/killed/compare.json"));
    REQUIRE(resumed["methods"].size() == js["methods"].size());
    for (size_t m = 0; m < js["methods"].size(); m++) {
        for (const char* score : {"AP", "F.Ra", "FWT", "BWT"}) CHECK(resumed["methods"][m][score] == js["methods"][m][score]);
    }
    for (size_t k = 0; k < 2; k++) {
        CHECK(resumed["runs"][k]["single"] == js["runs"][k]["single"]);
        for (size_t m = 0; m < js["methods"].size(); m++) {
            CHECK(resumed["runs"][k]["methods"][m]["matrix"] == js["runs"][k]["methods"][m]["matrix"]);
        }
    }

    std::vector<std::string> single = args_for("runs/single2");
    single.insert(single.end(), {"--seed", "2"});
    REQUIRE(run_program("train", single, dir, &output) == 0);
    const nlohmann::json alone = nlohmann::json::parse(read_file(dir + "/runs/single2/compare.json"));
    const nlohmann::json in_seeded = nlohmann::json::parse(read_file(dir + "/runs/seeded/seed-2/compare.json"));
    CHECK(alone["single"] == in_seeded["single"]);
    CHECK(js["runs"][1]["single"] == in_seeded["single"]);  // FWT of seed 2 against seed 2's single-task runs
    REQUIRE(alone["methods"].size() == in_seeded["methods"].size());
    for (size_t m = 0; m < alone["methods"].size(); m++) {
        CHECK(alone["methods"][m]["matrix"] == in_seeded["methods"][m]["matrix"]);
        CHECK(alone["methods"][m]["AP"] == in_seeded["methods"][m]["AP"]);
    }
}

TEST_CASE("./train --seeds without --compare compares the --method list, once per seed", "[seeds]") {
    const std::string dir = reliability_dir("seeds_methods");
    std::vector<std::string> args = small_builtin_args("runs/methods");  // --method sapt
    args.insert(args.end(), {"--seeds", "1,2"});
    std::string output;
    REQUIRE(run_program("train", args, dir, &output) == 0);
    INFO(output);
    const nlohmann::json js = nlohmann::json::parse(read_file(dir + "/runs/methods/compare.json"));
    REQUIRE(js["methods"].size() == 1);
    CHECK(js["methods"][0]["method"] == "sapt");
    CHECK(js["methods"][0]["AP"]["per_seed"].size() == 2);
    const nlohmann::json saved = nlohmann::json::parse(read_file(dir + "/runs/methods/args.json"));
    CHECK(saved["compare"] == "sapt");  // what --resume will run
    CHECK_FALSE(saved.contains("method"));
}
