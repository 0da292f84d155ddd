// trainer.h — training one task: AdamW at a constant learning rate over the PET tensors, epochs or a
// step budget, gradient accumulation, gradient clipping, the cross-entropy of each micro-batch plus (SAPT)
// lambda * KL of attentive reflection on one pseudo batch of every earlier task at every micro-step.
// A progress bar on a terminal, log.jsonl lines, a callback for mid-task checkpoints and a position that
// resumes a killed task exactly. Not here: what a task is in the sequence (continual.h), evaluation.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/optim.h"
#include "engine/rng.h"
#include "models/model.h"
#include "sapt/baselines/hooks.h"
#include "sapt/batching.h"
#include "sapt/sapt.h"

struct TrainOptions {
    int epochs = 1;
    int64_t max_steps = 0;       // optimizer steps; > 0 overrides epochs
    float lr = 3e-4f;            // constant, no warm-up (the official schedule)
    float weight_decay = 0.0f;   // HF Trainer's default
    int batch_size = 8;
    int grad_accum = 1;
    float max_grad_norm = 1.0f;  // HF Trainer's default; <= 0 turns clipping off
    float kl_lambda = 0.1f;      // reflection weight (SAPT only)
    bool compat_official = false;
    uint64_t replay_seed = 0;    // pseudo batches are drawn from (seed, earlier task, micro-step)
    int checkpoint_every = 0;    // optimizer steps between on_checkpoint calls; 0 = never
    int64_t stop_at_step = 0;    // > 0: call on_checkpoint and return unfinished at this step (a simulated kill)
    bool stop_on_interrupt = false;  // after SIGINT / SIGTERM (engine/interrupt.h): call on_checkpoint after the
                                     // step in progress and return unfinished, as at stop_at_step
    std::string label;           // shown on the progress bar and in the log ("sapt task 2/6 topic")
    std::string log_path;        // log.jsonl to append to ("" = no log)
};

// Pseudo samples of one earlier task, already encoded, for the reflection KL.
struct ReplaySet {
    int task = 0;  // index of the earlier task in the order
    std::vector<EncodedExample> examples;
};

// Where a task's training stands; a checkpoint stores it and train_task continues from it.
struct TrainPosition {
    int64_t step = 0;         // optimizer steps done
    int epoch = 0;            // current epoch
    int next_batch = 0;       // next micro-batch of the epoch
    int64_t micro_steps = 0;  // micro-batches done in total
    std::vector<int> order;   // this epoch's example order (empty: draw it at the start of the epoch)
    Rng data_rng;             // draws the next epoch's order
    bool finished = false;    // false after a return at stop_at_step
};

struct TrainResult {
    double last_loss = 0;     // mean CE of the last optimizer step
    double last_kl = 0;       // mean weighted KL of the last optimizer step (0 without replay)
    int64_t steps = 0;
    double seconds = 0;
};

// The loss of one batch: T5 encoder-decoder CE, LLaMA causal-LM CE on the answer tokens. `hook` may be
// null (the bare backbone).
Tensor model_loss(const Model& model, const PetHook* hook, const Batch& batch, bool training);

// Trains the state's trainable tensors (or a baseline's: `hooks`, sapt/baselines/hooks.h) on `examples`. `position` is read (resume) and updated;
// `optimizer` must be over sapt_trainable_parameters(state) (fresh, or restored with the position).
// on_checkpoint(position, optimizer) runs every options.checkpoint_every optimizer steps.
// Non-finite loss or gradient: throws sapt_error naming the step and the tensor.
TrainResult train_task(const Model& model, SaptState& state, const std::vector<EncodedExample>& examples,
                       const std::vector<ReplaySet>& replay, const BatchingOptions& batching,
                       const TrainOptions& options, AdamW& optimizer, TrainPosition& position,
                       const std::function<void(const TrainPosition&, const AdamW&)>& on_checkpoint = nullptr,
                       const MethodHooks* hooks = nullptr);

// Appends one JSON object (already serialised) as a line to `path` ("" does nothing).
void append_log_line(const std::string& path, const std::string& json_line);
