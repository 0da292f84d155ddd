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
#include "sapt/report.h"

const std::vector<std::string>& comparison_methods() {
    static const std::vector<std::string> names = {"seqft", "seqlora", "inclora", "replay", "ewc", "lwf",
                                                   "l2p", "olora", "mtl", "single", "sapt", "sapt-prompt"};
    return names;
}

const std::vector<std::string>& ablation_methods() {
    static const std::vector<std::string> names = {"sapt-no-arm", "sapt-no-sals"};
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
        std::vector<std::string> selectable = comparison_methods();
        selectable.insert(selectable.end(), ablation_methods().begin(), ablation_methods().end());
        for (const std::string& m : selectable) {
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

static nlohmann::json comparison_object(const Comparison& c) {
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
    return js;
}

std::string comparison_json(const Comparison& c) { return comparison_object(c).dump(2); }

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
    std::string selection;  // how each selecting method's routing evolved, task after task
    for (const ComparisonRow& r : c.rows) {
        const std::vector<std::string> names = write_selection_heatmaps(dir, r.method, c.tasks, r.result);
        if (names.empty()) continue;
        selection += "- " + r.method + ", selection weights after each task:";
        for (const std::string& name : names) selection += " [" + name + "](" + name + ")";
        selection += "\n";
    }
    if (!selection.empty()) selection = "\n" + selection;
    atomic_write_file(dir + "/compare.md", comparison_markdown(c) + "\n![scores](compare.png)\n" + selection);
    atomic_write_file(dir + "/compare.json", comparison_json(c));
}

MeanStd mean_std(const std::vector<double>& values) {
    MeanStd out;
    out.n = (int)values.size();
    if (values.empty()) fail("mean_std", "no values (expected one per seed)");
    double sum = 0;
    for (double v : values) sum += v;  // a NaN makes the sum NaN, as it should
    out.mean = sum / (double)out.n;
    if (out.n < 2) {
        out.std = kNaN;
        return out;
    }
    double squares = 0;
    for (double v : values) squares += (v - out.mean) * (v - out.mean);
    out.std = std::sqrt(squares / (double)(out.n - 1));
    return out;
}

// The five numbers of a row, as the table lists them.
static const char* const kScoreNames[] = {"AP", "F.Ra", "FWT", "BWT", "seconds"};

static double row_value(const ComparisonRow& row, int score) {
    switch (score) {
        case 0: return row.scores.ap;
        case 1: return row.scores.forgetting;
        case 2: return row.scores.forward_transfer;
        case 3: return row.scores.backward_transfer;
        default: return row.result.seconds;
    }
}

// Every run must list the same methods in the same order: a table row averages one method, not a slot.
static void check_same_methods(const SeededComparison& s) {
    if (s.runs.empty() || s.runs.size() != s.seeds.size()) {
        fail("seeded comparison", "expected one comparison per seed (" + std::to_string(s.seeds.size()) + " seeds, got " +
                                      std::to_string(s.runs.size()) + " comparisons)");
    }
    for (size_t k = 1; k < s.runs.size(); k++) {
        bool same = s.runs[k].rows.size() == s.runs[0].rows.size();
        for (size_t m = 0; same && m < s.runs[0].rows.size(); m++) same = s.runs[k].rows[m].method == s.runs[0].rows[m].method;
        if (!same) fail("seeded comparison", "seed " + std::to_string(s.seeds[k]) + " ran other methods than seed " +
                                                 std::to_string(s.seeds[0]) + " (expected the same list in every seed)");
    }
}

// The values of method row m's score over the seeds, in seed order.
static std::vector<double> per_seed(const SeededComparison& s, size_t m, int score) {
    std::vector<double> values;
    for (const Comparison& c : s.runs) values.push_back(row_value(c.rows[m], score));
    return values;
}

static std::string mean_std_cell(const MeanStd& v) {
    if (std::isnan(v.mean)) return "—";
    return cell(v.mean) + (std::isnan(v.std) ? "" : " ± " + cell(v.std));
}

std::string seeded_comparison_markdown(const SeededComparison& s) {
    check_same_methods(s);
    std::string seeds;
    for (size_t k = 0; k < s.seeds.size(); k++) seeds += (k ? ", " : "") + std::to_string(s.seeds[k]);
    std::string md = "# " + s.title + "\n\n" + s.settings + "\n";
    md += "Tasks in order: ";
    for (size_t i = 0; i < s.tasks.size(); i++) md += (i ? ", " : "") + s.tasks[i];
    md += "\n\nSeeds " + seeds + ": each cell is the mean ± the sample standard deviation (divisor n - 1) over the " +
          std::to_string(s.seeds.size()) + " runs. Each seed is a whole run (its data draws, backbone, single-task "
          "reference and every method) in the folder seed-<N>/.\n\n";
    md += "| method | AP ↑ | F.Ra ↓ | FWT ↑ | BWT ↑ | wall time (s) |\n|---|---:|---:|---:|---:|---:|\n";
    for (size_t m = 0; m < s.runs[0].rows.size(); m++) {
        md += "| " + s.runs[0].rows[m].method;
        for (int score = 0; score < 5; score++) md += " | " + mean_std_cell(mean_std(per_seed(s, m, score)));
        md += " |\n";
    }
    md += "\nAP per seed:\n\n| method |";
    for (long long seed : s.seeds) md += " seed " + std::to_string(seed) + " |";
    md += "\n|---|";
    for (size_t k = 0; k < s.seeds.size(); k++) md += "---:|";
    md += "\n";
    for (size_t m = 0; m < s.runs[0].rows.size(); m++) {
        md += "| " + s.runs[0].rows[m].method + " |";
        for (double v : per_seed(s, m, 0)) md += " " + cell(v) + " |";
        md += "\n";
    }
    md += "\nScores in percent (exact match for Long_Sequence, ROUGE-L for SuperNI), the paper's formulas "
          "(sapt/cl_scores.h); FWT of each seed against that seed's single-task scores. mtl and single have no "
          "sequence: AP only.\n";
    return md;
}

std::string seeded_comparison_json(const SeededComparison& s) {
    check_same_methods(s);
    nlohmann::json js;
    js["title"] = s.title;
    js["settings"] = s.settings;
    js["tasks"] = s.tasks;
    js["seeds"] = s.seeds;
    js["spread"] = "std is the sample standard deviation over the seeds (divisor n - 1)";
    js["methods"] = nlohmann::json::array();
    for (size_t m = 0; m < s.runs[0].rows.size(); m++) {
        nlohmann::json row = {{"method", s.runs[0].rows[m].method}};
        for (int score = 0; score < 5; score++) {
            const std::vector<double> values = per_seed(s, m, score);
            const MeanStd v = mean_std(values);
            nlohmann::json seeds = nlohmann::json::array();
            for (double x : values) seeds.push_back(number_or_null(x));
            row[kScoreNames[score]] = {{"mean", number_or_null(v.mean)}, {"std", number_or_null(v.std)}, {"per_seed", seeds}};
        }
        js["methods"].push_back(row);
    }
    js["runs"] = nlohmann::json::array();
    for (size_t k = 0; k < s.runs.size(); k++) {
        nlohmann::json run = comparison_object(s.runs[k]);
        run["seed"] = s.seeds[k];
        js["runs"].push_back(run);
    }
    return js.dump(2);
}

void write_seeded_comparison(const std::string& dir, const SeededComparison& s) {
    check_same_methods(s);
    std::filesystem::create_directories(dir);
    BarChart chart;
    chart.title = s.title + " (mean +- std, " + std::to_string(s.seeds.size()) + " seeds)";  // the font is ASCII
    chart.groups = {"AP", "F.Ra", "FWT", "BWT"};
    chart.values.assign(4, {});
    chart.errors.assign(4, {});
    for (size_t m = 0; m < s.runs[0].rows.size(); m++) {
        chart.series.push_back(s.runs[0].rows[m].method);
        for (int score = 0; score < 4; score++) {
            const MeanStd v = mean_std(per_seed(s, m, score));
            chart.values[(size_t)score].push_back(v.mean);
            chart.errors[(size_t)score].push_back(v.std);
        }
    }
    write_bar_chart_png(dir + "/compare.png", chart);
    atomic_write_file(dir + "/compare.md", seeded_comparison_markdown(s) + "\n![scores](compare.png)\n");
    atomic_write_file(dir + "/compare.json", seeded_comparison_json(s));
}
