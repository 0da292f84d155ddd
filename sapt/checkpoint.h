// checkpoint.h — the continual loop's checkpoint: one safetensors file holding every SAPT tensor
// (sapt_tensors: current and earlier PET blocks, keys, projector, reflection targets), the optimizer's
// moments when a task was interrupted, and under the metadata key "loop.state" a JSON text with the rest:
// the accuracy matrix so far, the selection weights, the pseudo samples, the position inside the task
// (step, epoch, data order, data RNG) and the global RNG. Written atomically, so a kill at any moment
// leaves the previous complete checkpoint. The loop state also names the backbone and tokenizer it was made
// with (fingerprints). Not here: when checkpoints are taken (continual.cpp).
#pragma once
#include <string>
#include <vector>

#include "data/cl_benchmark.h"
#include "engine/optim.h"
#include "sapt/pseudo_quality.h"
#include "sapt/sapt.h"
#include "sapt/trainer.h"
#include "tokenizer/tokenizer.h"

struct LoopState {
    std::string method;
    std::vector<std::string> tasks;
    int completed = 0;  // tasks fully done (trained, recorded, generator sampled, evaluated)
    // matrix[j][i]: score on task i after stage j (NaN where not evaluated); weights[j][i]: the mean
    // selection weight per block (task order) of task i's test inputs after stage j (empty without selection).
    std::vector<std::vector<double>> matrix;
    std::vector<std::vector<std::vector<double>>> weights;
    std::vector<std::vector<Instance>> pseudo;  // per task (empty until its generator ran)
    std::vector<PseudoQuality> pseudo_quality;  // per task with pseudo samples, as they were made
    bool in_task = false;                       // true: stopped inside task `completed`
    TrainPosition position;                     // valid when in_task
    std::string global_rng;
    // What the run was started on, so that --resume with another backbone or tokenizer is refused rather
    // than continued into a meaningless result ("" in checkpoints written before they were stored).
    std::string model_fingerprint;
    std::string tokenizer_fingerprint;
};

// Short hex fingerprints: of the backbone (each weight's name, dtype, shape and its first and last 64
// values: cheap even for 7B, and any other pretraining or architecture changes them) and of the tokenizer
// (its serialized model and the number of extra ids).
std::string model_fingerprint(const Model& model);
std::string tokenizer_fingerprint(const Tokenizer& tokenizer);

// LoopState as JSON text and back (`where` names the file in error messages).
std::string loop_state_to_json(const LoopState& loop);
LoopState loop_state_from_json(const std::string& text, const std::string& where);

// Writes state + loop (+ optimizer moments when given) to `path`, atomically.
// method_tensors / method_state: what a baseline keeps besides the SAPT state (MethodHooks::save), stored
// beside it ("method.*" tensors, the metadata entry "method.state" when not empty).
void save_loop_checkpoint(const std::string& path, const SaptState& state, const LoopState& loop,
                          const AdamW* optimizer,
                          const std::vector<std::pair<std::string, Tensor>>& method_tensors = {},
                          const std::string& method_state = "");
