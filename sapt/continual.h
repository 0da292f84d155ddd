// continual.h — the continual-learning loop over a task order: for each task, prepare the method's PET
// block, train (with reflection on earlier tasks' pseudo samples for SAPT), record the task's mean
// selection weights, produce its pseudo samples, evaluate every task seen so far -> the accuracy matrix
// a[j][i]. A checkpoint is written after every task and every N optimizer steps; a resumed run ends with
// the same matrix as an uninterrupted one. Not here: reading options or data (train.cpp), the report.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "models/model.h"
#include "sapt/baselines/hooks.h"
#include "sapt/batching.h"
#include "sapt/checkpoint.h"
#include "sapt/evaluate.h"
#include "sapt/generator.h"
#include "sapt/methods.h"
#include "sapt/trainer.h"

struct ContinualOptions {
    std::string method = "sapt";
    SaptOptions sapt;          // PET kind, rank, alpha, compat (selection comes from the method)
    BatchingOptions batching;
    TrainOptions train;
    EvalOptions eval;
    GeneratorOptions generator;
    BaselineOptions baselines; // the baselines' settings (sapt/baselines/hooks.h)
    std::string pseudo_dir;    // released pseudo samples instead of training generators ("" = generate)
    // Targets (mean selection weights) are recorded on every holdout_every-th training instance, held out
    // of training (at most max_holdout of them); under compat official on the dev split (= test).
    int holdout_every = 10;
    int max_holdout = 200;
    uint64_t seed = 42;
    std::string out_dir;       // checkpoint.safetensors and log.jsonl go here
    bool resume = false;       // continue from out_dir/checkpoint.safetensors when it exists
    int stop_after_tasks = 0;  // > 0: return after this many tasks as if killed (tests, staged runs)
    int stop_after_steps = 0;  // > 0: return inside the first task this call trains, after this many
                               // optimizer steps and a checkpoint, as if killed there
    bool verbose = true;       // one line per finished task on stdout
};

struct ContinualResult {
    std::vector<std::string> tasks;
    std::vector<std::vector<double>> matrix;                // a[j][i], NaN above the diagonal
    std::vector<std::vector<std::vector<double>>> weights;  // per stage, per task: mean weight per block
    std::vector<PseudoQuality> pseudo_quality;              // per task with pseudo samples (SAPT)
    bool stopped = false;                                   // returned early (stop_after_tasks)
    bool interrupted = false;  // returned early after SIGINT / SIGTERM (engine/interrupt.h), checkpoint written
    double seconds = 0;
};

// Trains `method` over `tasks` in the given order on the frozen `model`.
ContinualResult run_continual(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                              const ContinualOptions& options);

// The single-task reference of FWT: for each task, a fresh LoRA trained on that task alone (the seqlora
// row on a one-task order), scored on its test set. After SIGINT / SIGTERM the scores not reached are NaN.
std::vector<double> single_task_scores(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                                       const ContinualOptions& options);

// A task's reflection target: its mean selection weights over `inputs` (batched as evaluation batches them).
std::vector<float> record_selection(const Model& model, const SaptState& state, const Tokenizer& tokenizer,
                                    const std::vector<Instance>& inputs, const ContinualOptions& options);

// The checkpoint path of a run.
std::string checkpoint_path(const std::string& out_dir);
