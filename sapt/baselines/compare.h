// compare.h — every method side by side on the same backbone, data, order and budget: `./train --compare
// all` (or a comma list) runs each one, scores it with the paper's formulas (FWT against the `single`
// runs, BWT over the first T-1 tasks) and writes one table, method x (AP, F.Ra, FWT, BWT, wall time), as
// compare.md, compare.json and a bar chart compare.png; over several seeds, the same table as mean ± sample
// std with error bars. Not here: the methods (the files beside this) or the loop (sapt/continual.h).
#pragma once
#include <string>
#include <vector>

#include "sapt/cl_scores.h"
#include "sapt/continual.h"

// Every method ./train --compare all runs, in table order: the loop's methods, then "sapt-prompt"
// (SAPT with soft prompts as PET blocks), "mtl" (joint training) and "single" (one LoRA per task alone).
const std::vector<std::string>& comparison_methods();
// The ablations of SAPT (sapt/ablations.h): selectable by name in a list, not part of "all".
const std::vector<std::string>& ablation_methods();
// "all" or a comma list of names from comparison_methods() and ablation_methods(); throws naming the unknown one.
std::vector<std::string> parse_comparison_methods(const std::string& text);

// Runs one named method of comparison_methods() ("single" gives a matrix with only its diagonal: each
// task's score after training on it alone).
ContinualResult run_named_method(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                                 const ContinualOptions& options, const std::string& name);

struct ComparisonRow {
    std::string method;
    ContinualResult result;
    ClScores scores;          // AP always; F.Ra, FWT, BWT NaN for mtl and single (no sequence)
};

struct Comparison {
    std::string title;
    std::string settings;     // Markdown lines: backbone, data, budget, the command
    std::vector<std::string> tasks;
    std::vector<double> single;  // FWT's reference: each task's score trained alone
    std::vector<ComparisonRow> rows;
    bool interrupted = false;    // SIGINT / SIGTERM: rows stop at the method that was running (checkpointed)
};

// The scores of a finished run: the paper's formulas with FWT against `single`; AP only (the rest NaN)
// for "mtl" and "single".
ClScores comparison_scores(const std::string& method, const ContinualResult& result, const std::vector<double>& single);

// Runs `methods` in order (the single-task reference is run once, also when "single" is not listed,
// since FWT needs it). Each run logs and checkpoints under options.out_dir/<method>.
Comparison run_comparison(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                          const ContinualOptions& options, const std::vector<std::string>& methods);

std::string comparison_markdown(const Comparison& comparison);
std::string comparison_json(const Comparison& comparison);
// compare.md, compare.json and compare.png into `dir`, atomically.
void write_comparison(const std::string& dir, const Comparison& comparison);

// ---- several seeds (./train --compare LIST --seeds 1,2,3) ---------------------------------------------
// One number over the seeds: the mean and the sample standard deviation (divisor n - 1, so that it
// estimates the spread of a new seed rather than describing these n). std is NaN for n = 1; both are NaN
// when any value is NaN (mtl's FWT, say: a score that does not exist is not averaged away).
struct MeanStd {
    double mean = 0;
    double std = 0;
    int n = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// The same comparison run once per seed (each a whole run: data draws, backbone, single-task reference,
// every method), with the methods in the same order in every run.
struct SeededComparison {
    std::string title;
    std::string settings;
    std::vector<std::string> tasks;
    std::vector<long long> seeds;
    std::vector<Comparison> runs;  // runs[s]: the comparison of seeds[s]
};

// Per method the mean ± std of AP, F.Ra, FWT, BWT and wall time, and each seed's AP.
std::string seeded_comparison_markdown(const SeededComparison& seeded);
// Per method and score: mean, std and the per-seed values; every seed's whole comparison under "runs".
std::string seeded_comparison_json(const SeededComparison& seeded);
// compare.md, compare.json and compare.png (bars at the mean, error bars of one std) into `dir`.
void write_seeded_comparison(const std::string& dir, const SeededComparison& seeded);
