// report.h — what a finished ./train leaves behind and prints: per method the accuracy matrix a[j][i]
// as a text table with AP, F.Ra, FWT and BWT, a side-by-side summary, report.md and report.json, and PNG
// heat-maps of a[j][i] and of the mean selection weights per task plus a bar chart of the scores.
// Not here: computing any of it (continual.h, cl_scores.h).
#pragma once
#include <string>
#include <vector>

#include "sapt/cl_scores.h"
#include "sapt/continual.h"

struct MethodRun {
    std::string method;
    ContinualResult result;
    ClScores scores;
};

struct RunReport {
    std::string title;
    std::vector<std::string> tasks;
    std::vector<MethodRun> runs;
    std::vector<double> single;  // single-task scores (FWT's reference); empty: FWT not measured
    bool compat_official = false;
    std::string settings;        // one line per setting, shown in report.md
    double seconds = 0;
};

// Scores of a finished run (FWT against `single`, or 0 when single is empty and not compat official).
ClScores score_run(const ContinualResult& result, const std::vector<double>& single, bool compat_official);

// The matrix and its scores as a text table (what ./train prints per method).
std::string format_method_table(const RunReport& report, const MethodRun& run);
// Methods side by side: AP, F.Ra, FWT, BWT.
std::string format_summary(const RunReport& report);

// How the selection evolves: for every finished task j of a method with selection, the heat-map of the mean
// selection weights right after it (rows: the test inputs of tasks 1..j; columns: the blocks of tasks
// 1..j) as selection_<method>_after_T<j>.png in `dir`. Returns the file names written, in task order
// (none for a method without selection).
std::vector<std::string> write_selection_heatmaps(const std::string& dir, const std::string& method,
                                                  const std::vector<std::string>& tasks, const ContinualResult& result);

// report.md, report.json, accuracy_<method>.png, selection_<method>.png (methods with selection; and the
// heat-map after every task, write_selection_heatmaps) and scores.png into `dir`.
void write_report(const std::string& dir, const RunReport& report);
