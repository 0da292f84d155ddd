// report.cpp — text tables, report files and pictures of a run. See report.h.
#include "sapt/report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/fileio.h"
#include "sapt/plot.h"

ClScores score_run(const ContinualResult& result, const std::vector<double>& single, bool compat_official) {
    ClOptions options;
    options.compat_official = compat_official;
    if (result.matrix.size() < 2) return ClScores{};
    std::vector<std::vector<double>> m = result.matrix;
    for (auto& row : m) {
        for (double& v : row) if (std::isnan(v)) v = 0;  // score.py's zero padding above the diagonal
    }
    if (!compat_official && single.size() != m.size()) {
        ClScores s = cl_scores(m, m.size() == single.size() ? single : std::vector<double>(m.size(), 0.0), options);
        s.forward_transfer = std::nan("");  // no single-task reference measured
        return s;
    }
    return cl_scores(m, single, options);
}

static std::string fmt(double v) {
    if (std::isnan(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

static std::string pad(const std::string& s, size_t width) {
    return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

std::string format_method_table(const RunReport& report, const MethodRun& run) {
    const auto& tasks = report.tasks;
    size_t name_width = 6;
    for (const auto& t : tasks) name_width = std::max(name_width, t.size());
    std::string out = run.method + ": a[j][i] = score on task i (columns) after training task j (rows)\n";
    out += std::string(name_width + 2, ' ');
    for (size_t i = 0; i < tasks.size(); i++) out += pad("T" + std::to_string(i + 1), 7);
    out += "\n";
    for (size_t j = 0; j < run.result.matrix.size(); j++) {
        out += "T" + std::to_string(j + 1) + " " + tasks[j] + std::string(name_width + 1 - tasks[j].size() -
                                                                          std::to_string(j + 1).size() + 1, ' ');
        for (double v : run.result.matrix[j]) out += pad(std::isnan(v) ? "" : fmt(v), 7);
        out += "\n";
    }
    out += "AP " + fmt(run.scores.ap) + "  F.Ra " + fmt(run.scores.forgetting) + "  FWT " +
           fmt(run.scores.forward_transfer) + "  BWT " + fmt(run.scores.backward_transfer) + "\n";
    return out;
}

std::string format_summary(const RunReport& report) {
    std::string out = pad("method", 10) + pad("AP", 8) + pad("F.Ra", 8) + pad("FWT", 8) + pad("BWT", 8) +
                      pad("time", 9) + "\n";
    for (const MethodRun& r : report.runs) {
        out += pad(r.method, 10) + pad(fmt(r.scores.ap), 8) + pad(fmt(r.scores.forgetting), 8) +
               pad(fmt(r.scores.forward_transfer), 8) + pad(fmt(r.scores.backward_transfer), 8) +
               pad(fmt(r.result.seconds) + "s", 9) + "\n";
    }
    return out;
}

// The last stage's mean selection weights: rows = evaluated task, columns = PET block (task order).
static std::vector<std::vector<double>> final_weights(const ContinualResult& result, size_t T) {
    std::vector<std::vector<double>> w;
    if (result.weights.empty()) return w;
    for (const auto& row : result.weights.back()) {
        std::vector<double> r = row;
        r.resize(T, std::nan(""));
        w.push_back(r);
    }
    return w;
}

static nlohmann::json nullable(const std::vector<std::vector<double>>& m) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : m) {
        nlohmann::json r = nlohmann::json::array();
        for (double v : row) r.push_back(std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v));
        rows.push_back(r);
    }
    return rows;
}

static nlohmann::json number_or_null(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

std::vector<std::string> write_selection_heatmaps(const std::string& dir, const std::string& method,
                                                  const std::vector<std::string>& tasks, const ContinualResult& result) {
    std::vector<std::string> written;
    for (size_t j = 0; j < result.weights.size(); j++) {
        const auto& stage = result.weights[j];
        if (stage.empty() || stage[0].empty()) continue;  // not reached, or a method without selection
        Heatmap h;
        h.title = method + ": selection weights after T" + std::to_string(j + 1);
        h.lo = 0, h.hi = 1;
        for (size_t i = 0; i <= j && i < stage.size() && i < tasks.size(); i++) {
            h.row_labels.push_back("T" + std::to_string(i + 1) + " " + tasks[i]);
            h.col_labels.push_back("T" + std::to_string(i + 1));
            std::vector<double> row = stage[i];
            row.resize(j + 1, std::nan(""));
            h.values.push_back(row);
        }
        const std::string name = "selection_" + method + "_after_T" + std::to_string(j + 1) + ".png";
        write_heatmap_png(dir + "/" + name, h);
        written.push_back(name);
    }
    return written;
}

void write_report(const std::string& dir, const RunReport& report) {
    const size_t T = report.tasks.size();
    std::vector<std::string> labels, short_labels;  // columns are narrow: "T3" there, "T3 first_word" on rows
    for (size_t i = 0; i < T; i++) {
        short_labels.push_back("T" + std::to_string(i + 1));
        labels.push_back(short_labels.back() + " " + report.tasks[i]);
    }

    std::string md = "# " + report.title + "\n\n";
    md += "Tasks in order: ";
    for (size_t i = 0; i < T; i++) md += (i ? ", " : "") + labels[i];
    md += "\n\n" + report.settings + "\n";
    md += "Scores (" + std::string(report.compat_official ? "score.py's formulas" : "the paper's formulas") +
          "; FWT against single-task scores" + (report.single.empty() ? ", not measured" : "") + "):\n\n```\n" +
          format_summary(report) + "```\n\n";
    if (!report.single.empty()) {
        md += "Single-task scores (a fresh LoRA per task):";
        for (size_t i = 0; i < T; i++) md += " " + labels[i] + " " + fmt(report.single[i]) + (i + 1 < T ? "," : "\n\n");
    }
    nlohmann::json js;
    js["title"] = report.title;
    js["tasks"] = report.tasks;
    js["single"] = report.single;
    js["seconds"] = report.seconds;
    js["compat_official"] = report.compat_official;
    BarChart chart;
    chart.title = "continual-learning scores";
    chart.groups = {"AP", "F.Ra", "BWT"};
    chart.values.assign(3, {});
    for (const MethodRun& run : report.runs) {
        md += "```\n" + format_method_table(report, run) + "```\n\n";
        write_heatmap_png(dir + "/accuracy_" + run.method + ".png",
                          Heatmap{run.method + ": score on task i after task j", labels, short_labels,
                                  run.result.matrix, 0, 100});
        md += "![" + run.method + " accuracy](accuracy_" + run.method + ".png)\n\n(rows: after training task j; "
              "columns: score on task i)\n\n";
        const auto weights = final_weights(run.result, T);
        bool has_weights = false;  // methods without selection record none
        if (!run.result.weights.empty()) {
            for (const auto& row : run.result.weights.back()) has_weights = has_weights || !row.empty();
        }
        if (has_weights) {
            write_heatmap_png(dir + "/selection_" + run.method + ".png",
                              Heatmap{run.method + ": selection weight per block", labels, short_labels, weights,
                                      0, 1});
            md += "![" + run.method + " selection weights](selection_" + run.method + ".png)\n\n(after the last "
                  "task; rows: the test inputs of task i; columns: the PET block of task k; each row sums to 1)\n\n";
            md += "After each task:";
            for (const std::string& name : write_selection_heatmaps(dir, run.method, report.tasks, run.result)) {
                md += " [" + name.substr(name.rfind("_T") + 1, name.size() - name.rfind("_T") - 5) + "](" + name + ")";
            }
            md += "\n\n";
        }
        js["methods"][run.method] = {{"matrix", nullable(run.result.matrix)},
                                     {"selection_weights", nullable(weights)},
                                     {"AP", run.scores.ap}, {"F.Ra", run.scores.forgetting},
                                     {"FWT", number_or_null(run.scores.forward_transfer)},
                                     {"BWT", run.scores.backward_transfer}, {"seconds", run.result.seconds}};
        md += pseudo_quality_markdown(run.result.pseudo_quality);  // SAPT's generators, per task
        for (const PseudoQuality& q : run.result.pseudo_quality) {
            js["methods"][run.method]["pseudo_samples"].push_back(pseudo_quality_to_json(q));
        }
        chart.series.push_back(run.method);
        chart.values[0].push_back(run.scores.ap);
        chart.values[1].push_back(run.scores.forgetting);
        chart.values[2].push_back(run.scores.backward_transfer);
    }
    write_bar_chart_png(dir + "/scores.png", chart);
    md += "![scores](scores.png)\n";
    atomic_write_file(dir + "/report.md", md);
    atomic_write_file(dir + "/report.json", js.dump(2));
}
