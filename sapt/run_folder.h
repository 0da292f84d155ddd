// run_folder.h — a ./train run folder read back for use after training: its saved arguments (args.json),
// the backbone and tokenizer it trained on (backbone.json, or the same choice train.cpp makes), and one
// method's SAPT state from <run>/<method>/checkpoint.safetensors holding only the tasks that method
// finished: a block still being trained when the run stopped is left out. Shared by ./generate, ./export
// and ./train --eval-only. Not here: what those programs do with it, or training.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "models/model.h"
#include "sapt/batching.h"
#include "sapt/evaluate.h"
#include "sapt/sapt.h"
#include "tokenizer/tokenizer.h"

// What a run was trained with, as train.cpp derived it from its arguments.
struct RunSettings {
    std::string dir;                          // the run folder
    std::map<std::string, std::string> args;  // args.json
    bool builtin = false;                     // no --data: the built-in suite
    bool own_backbone = false;                // the tiny T5 pretrained by ./train (no HF sentinel ids)
    std::string model_dir, tokenizer_path;
    int n_extra_ids = 0;                      // HF T5's 100 <extra_id_*> after the SentencePiece pieces
    std::string data_root, benchmark;         // the run's CL_Benchmark root and benchmark name
    std::string precision = "f32";
    bool compat_official = false;
    SaptOptions sapt;                         // PET kind, rank, alpha (selection comes from the method)
    BatchingOptions batching;                 // filled for the model's kind by load_run
    EvalOptions eval;                         // ./train's evaluation settings for this run
};

struct LoadedRun {
    RunSettings settings;
    Model model;
    Tokenizer tokenizer;
};

// One method's learned state: the finished tasks (in task order) and their blocks, keys and projector.
struct RunMethod {
    std::string method;      // the folder name: sapt, seqlora, inclora, sapt-prompt, ...
    std::string checkpoint;  // <run>/<method>/checkpoint.safetensors
    std::vector<std::string> tasks;  // finished tasks, first trained first
    SaptState state;         // state.num_tasks == tasks.size() for block-per-task methods, else 1
};

// Reads args.json (and backbone.json when ./train wrote one). Fails naming the file when the folder is
// not a run folder or its backbone cannot be found.
RunSettings read_run_settings(const std::string& dir);

// The settings, the backbone (with the run's precision) and the tokenizer.
LoadedRun load_run(const std::string& dir);

// The method folders of the run that hold a checkpoint, sorted.
std::vector<std::string> run_methods(const std::string& dir);

// "" picks sapt when the run has it, else the run's only method (fails when there are several).
std::string choose_run_method(const std::string& dir, const std::string& method);

// The method's finished tasks. Fails naming the checkpoint when no task is finished, when the method
// keeps state outside the checkpoint (seqft, l2p, mtl), or when a single-block method stopped mid-task.
RunMethod load_run_method(const LoadedRun& run, const std::string& method);

// The backbone.json ./train writes beside args.json: the model, tokenizer and data folder it resolved (the
// built-in and corpus backbones live in runs/cache/<key>, which args.json alone does not name).
void write_run_record(const std::string& run_dir, const std::string& model_dir, const std::string& tokenizer_path,
                      int n_extra_ids, const std::string& data_root);
