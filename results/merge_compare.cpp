// merge_compare.cpp — joins the compare.json tables of several `./train --compare LIST` runs made with the
// same command except the method list (e.g. run side by side on a busy machine) into one compare.md /
// compare.json / compare.png, rows in the order of `--compare all`. Scores are recomputed with the same
// code (comparison_scores). It refuses tables whose settings or single-task references differ. Not built
// by the Makefile; results/run_real_comparison.sh compiles it against build/libsapt.a.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "sapt/baselines/compare.h"

static std::vector<double> numbers(const nlohmann::json& row) {
    std::vector<double> values;
    for (const auto& x : row) values.push_back(x.is_null() ? std::nan("") : x.get<double>());
    return values;
}

static Comparison merge(const std::vector<std::string>& paths) {
    Comparison merged;
    std::vector<ComparisonRow> rows;
    for (size_t k = 0; k < paths.size(); k++) {
        std::ifstream file(paths[k]);
        if (!file) fail(paths[k], "cannot open (expected a compare.json written by ./train --compare)");
        const nlohmann::json table = nlohmann::json::parse(file);
        if (k == 0) {
            merged.title = table.at("title");
            merged.settings = table.at("settings");
            merged.tasks = table.at("tasks").get<std::vector<std::string>>();
            merged.single = numbers(table.at("single"));
        } else if (table.at("settings") != merged.settings || numbers(table.at("single")) != merged.single) {
            fail(paths[k], "another run's table (expected the settings and single-task scores of " + paths[0] + ")");
        }
        for (const auto& m : table.at("methods")) {
            ComparisonRow row;
            row.method = m.at("method");
            for (const auto& r : m.at("matrix")) row.result.matrix.push_back(numbers(r));
            row.result.seconds = m.at("seconds");
            row.scores = comparison_scores(row.method, row.result, merged.single);
            rows.push_back(row);
        }
    }
    for (const std::string& name : comparison_methods()) {  // each method once, in table order
        for (const ComparisonRow& row : rows) {
            if (row.method == name) {
                merged.rows.push_back(row);
                break;
            }
        }
    }
    return merged;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: merge_compare OUT_DIR RUN_A/compare.json RUN_B/compare.json ...\n");
        return 1;
    }
    try {
        const Comparison merged = merge(std::vector<std::string>(argv + 2, argv + argc));
        write_comparison(argv[1], merged);
        std::printf("%s", comparison_markdown(merged).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "merge_compare: %s\n", e.what());
        return 1;
    }
    return 0;
}
