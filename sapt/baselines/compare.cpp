// compare.cpp — running and tabulating every method. See compare.h.
#include "sapt/baselines/compare.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/interrupt.h"
#include "sapt/baselines/mtl.h"
#include "sapt/plot.h"

const std::vector<std::string>& comparison_methods() {
    static const std::vector<std::string> names = {"seqft", "seqlora", "inclora", "replay", "ewc", "lwf",
                                                   "l2p", "olora", "mtl", "single", "sapt", "sapt-prompt"};
    return names;
}

std::vector<std::string> parse_comparison_methods(const std::string& text) {
    if (text == "all") return comparison_methods();
    std::vector<std::string> names;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string name = text.substr(start, end - start);
        start = end + 1;
        if (name.empty()) continue;
        bool known = false;
        std::string list;
        for (const std::string& m : comparison_methods()) {
            known = known || m == name;
            list += (list.empty() ? "" : ", ") + m;
        }
        if (!known) fail("--compare", "unknown method (expected all or a comma list of " + list + ", got '" + name + "')");
        names.push_back(name);
    }
    if (names.empty()) fail("--compare", "no method named (expected all or a comma list)");
    return names;
}

static const double kNaN = std::numeric_limits<double>::quiet_NaN();

ContinualResult run_named_method(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                                 const ContinualOptions& options, const std::string& name) {
    if (name == "mtl") return run_multitask(model, tokenizer, tasks, options);
    if (name == "single") {
        const auto start = std::chrono::steady_clock::now();
        const std::vector<double> scores = single_task_scores(model, tokenizer, tasks, options);
        ContinualResult result;
        for (const Task& t : tasks) result.tasks.push_back(t.name);
        result.matrix.assign(tasks.size(), std::vector<double>(tasks.size(), kNaN));
        result.weights.assign(tasks.size(), {});
        for (size_t i = 0; i < tasks.size(); i++) result.matrix[i][i] = scores[i];
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    }
    ContinualOptions o = options;
    o.method = name;
    if (name == "sapt-prompt") {
        o.method = "sapt";
        o.sapt.pet = PetKind::Prompt;
    }
    return run_continual(model, tokenizer, tasks, o);
}

ClScores comparison_scores(const std::string& method, const ContinualResult& result, const std::vector<double>& single) {
    ClScores scores;
    scores.forgetting = scores.forward_transfer = scores.backward_transfer = kNaN;
    const size_t T = result.matrix.size();
    if (method == "single" || method == "mtl") {
        double sum = 0;
        for (size_t i = 0; i < T; i++) sum += method == "single" ? result.matrix[i][i] : result.matrix[T - 1][i];
        scores.ap = sum / (double)T;
        return scores;
    }
    if (T < 2) {  // one task: AP only, nothing can be forgotten
        scores.ap = result.matrix[0][0];
        return scores;
    }
    return cl_scores(result.matrix, single);  // above-diagonal NaNs are never read by the paper's formulas
}

Comparison run_comparison(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                          const ContinualOptions& options, const std::vector<std::string>& methods) {
    Comparison comparison;
    for (const Task& t : tasks) comparison.tasks.push_back(t.name);
    // The single-task reference first: FWT of every sequential method needs it.
    ComparisonRow single;
    single.method = "single";
    ContinualOptions single_options = options;
    single_options.out_dir = options.out_dir.empty() ? "" : options.out_dir + "/single";
    single.result = run_named_method(model, tokenizer, tasks, single_options, "single");
    for (size_t i = 0; i < tasks.size(); i++) comparison.single.push_back(single.result.matrix[i][i]);
    single.scores = comparison_scores("single", single.result, comparison.single);
    comparison.interrupted = interrupt_requested();
    if (comparison.interrupted) return comparison;
    for (const std::string& method : methods) {
        if (method == "single") {
            comparison.rows.push_back(single);
            continue;
        }
        ContinualOptions o = options;
        o.out_dir = options.out_dir.empty() ? "" : options.out_dir + "/" + method;
        ComparisonRow row;
        row.method = method;
        row.result = run_named_method(model, tokenizer, tasks, o, method);
        comparison.interrupted = row.result.interrupted || interrupt_requested();
        if (comparison.interrupted) return comparison;
        if (row.result.stopped) fail("--compare", method + " stopped early (--stop-after is not supported with --compare)");
        row.scores = comparison_scores(method, row.result, comparison.single);
        if (options.verbose) {
            std::printf("[compare] %-12s AP %.1f  F.Ra %.1f  FWT %.1f  BWT %.1f  %.0fs\n", method.c_str(), row.scores.ap,
                        row.scores.forgetting, row.scores.forward_transfer, row.scores.backward_transfer,
                        row.result.seconds);
            std::fflush(stdout);
        }
        comparison.rows.push_back(row);
    }
    return comparison;
}

static std::string cell(double v) {
    if (std::isnan(v)) return "—";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

static nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

std::string comparison_markdown(const Comparison& c) {
    std::string md = "# " + c.title + "\n\n" + c.settings + "\n";
    md += "Tasks in order: ";
    for (size_t i = 0; i < c.tasks.size(); i++) md += (i ? ", " : "") + c.tasks[i];
    md += "\n\n| method | AP ↑ | F.Ra ↓ | FWT ↑ | BWT ↑ | wall time (s) |\n|---|---:|---:|---:|---:|---:|\n";
    for (const ComparisonRow& r : c.rows) {
        md += "| " + r.method + " | " + cell(r.scores.ap) + " | " + cell(r.scores.forgetting) + " | " +
              cell(r.scores.forward_transfer) + " | " + cell(r.scores.backward_transfer) + " | " +
              cell(r.result.seconds) + " |\n";
    }
    md += "\nSingle-task scores (FWT's reference ã_i): ";
    for (size_t i = 0; i < c.single.size(); i++) md += (i ? ", " : "") + cell(c.single[i]);
    md += "\n\nScores in percent (exact match for Long_Sequence, ROUGE-L for SuperNI), the paper's formulas "
          "(sapt/cl_scores.h): AP = mean of the last row; F.Ra = mean over the first T-1 tasks of (best earlier "
          "score - final score); FWT = mean of (a[i][i] - ã_i); BWT = mean over the first T-1 tasks of "
          "(a[T][i] - a[i][i]). mtl and single have no sequence: AP only.\n";
    return md;
}

std::string comparison_json(const Comparison& c) {
    nlohmann::json js;
    js["title"] = c.title;
    js["settings"] = c.settings;
    js["tasks"] = c.tasks;
    js["single"] = c.single;
    js["methods"] = nlohmann::json::array();
    for (const ComparisonRow& r : c.rows) {
        nlohmann::json matrix = nlohmann::json::array();
        for (const auto& row : r.result.matrix) {
            nlohmann::json values = nlohmann::json::array();
            for (double v : row) values.push_back(number_or_null(v));
            matrix.push_back(values);
        }
        js["methods"].push_back({{"method", r.method}, {"AP", number_or_null(r.scores.ap)},
                                 {"F.Ra", number_or_null(r.scores.forgetting)},
                                 {"FWT", number_or_null(r.scores.forward_transfer)},
                                 {"BWT", number_or_null(r.scores.backward_transfer)},
                                 {"seconds", r.result.seconds}, {"matrix", matrix}});
    }
    return js.dump(2);
}

void write_comparison(const std::string& dir, const Comparison& c) {
    std::filesystem::create_directories(dir);
    BarChart chart;
    chart.title = c.title;
    chart.groups = {"AP", "F.Ra", "FWT", "BWT"};
    chart.values.assign(4, {});
    for (const ComparisonRow& r : c.rows) {
        chart.series.push_back(r.method);
        chart.values[0].push_back(r.scores.ap);
        chart.values[1].push_back(r.scores.forgetting);
        chart.values[2].push_back(r.scores.forward_transfer);
        chart.values[3].push_back(r.scores.backward_transfer);
    }
    write_bar_chart_png(dir + "/compare.png", chart);
    atomic_write_file(dir + "/compare.md", comparison_markdown(c) + "\n![scores](compare.png)\n");
    atomic_write_file(dir + "/compare.json", comparison_json(c));
}
