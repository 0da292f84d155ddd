// run_eval.h — `./train --eval-only`: a trained run scored on any tasks of a CL_Benchmark folder, seen in
// training or not, with the benchmark's metric (exact match for Long_Sequence, ROUGE-L for SuperNI), for
// every method of the run that can be loaded back; the mean selection weights each task's inputs gave the
// trained tasks' blocks show where SAPT routes an unseen task. Results go to <run>/eval.md and eval.json.
// Not here: training (continual.h), loading the run (run_folder.h).
#pragma once
#include <map>
#include <string>
#include <vector>

struct EvalOnlyOptions {
    std::string run_dir;
    std::string data_root;               // CL_Benchmark root
    std::string benchmark;               // "" = the run's
    std::vector<std::string> tasks;      // folder names under <data_root>/<benchmark>/
    std::vector<std::string> methods;    // empty = every loadable method of the run
    int max_test = 0;                    // cap on test instances per task (0 = all)
};

struct EvalOnlyRow {
    std::string method;
    std::vector<std::string> trained;              // the tasks the method finished
    std::vector<double> scores;                    // per evaluated task
    std::vector<std::vector<double>> weights;      // per evaluated task: mean weight per trained task
};

struct EvalOnlyResult {
    EvalOnlyOptions options;
    std::string benchmark, metric;
    std::vector<int> test_sizes;
    std::vector<EvalOnlyRow> rows;
    std::vector<std::string> skipped;  // "method: why"
};

// Scores the run; writes nothing.
EvalOnlyResult evaluate_run_folder(const EvalOnlyOptions& options);
std::string eval_only_markdown(const EvalOnlyResult& result);
std::string eval_only_json(const EvalOnlyResult& result);
// Writes <run>/eval.md and <run>/eval.json, each atomically, once both texts are complete.
void write_eval_only(const EvalOnlyResult& result);

// The --eval-only branch of ./train: reads --run, --data, --tasks, [--benchmark, --method,
// --max-test-per-task] from train.cpp's parsed options, scores, prints the table and writes the files.
int train_eval_only(const std::map<std::string, std::string>& args);
