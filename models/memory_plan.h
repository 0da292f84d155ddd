// memory_plan.h — how much device memory a run of ./train will need, from config.json alone: frozen
// weights at the chosen precision, adapters and AdamW state for K tasks, the training step's tape
// (activations, logits, gradients) with and without --recompute layer, evaluation's KV cache, the
// pseudo-sample generators and a workspace. The training step is planned by replaying the engine's own
// forward op by op (which tensors each op allocates and its closure keeps, which gradient buffers the
// backward adds, what each backward allocates for a moment) and sweeping the tape backward, so the plan
// is the peak of live tensor bytes (engine/tensor.h) a real step reaches. Not here: loading weights.
#pragma once
#include <string>
#include <vector>

#include "models/config.h"

// The run's shape, as ./train's flags set it.
struct MemoryPlanOptions {
    int batch_size = 8;          // B per micro-batch
    int source_length = 512;     // S: prompt tokens (T5 encoder input, LLaMA prompt)
    int target_length = 50;      // answer tokens (T5 decoder, LLaMA answer after the prompt)
    int n_tasks = 15;            // K adapters at the last task
    int lora_rank = 4;           // R of SAPT's LoRAs on q and v
    bool selection = true;       // SAPT's SALS selection (false: IncLoRA / SeqLoRA-style fixed weights)
    int sals_hidden = 100;
    bool frozen_bf16 = false;    // --precision bf16: frozen weights stored in 2 bytes
    bool recompute_layers = false;
    float dropout_rate = -1.0f;  // T5 dropout while training; < 0: config.json's
    int eval_batch_size = 32;
    int eval_new_tokens = 50;
    bool generators = true;             // SAPT trains a pseudo-sample generator per task (not with --pseudo-dir)
    int generator_batch_size = 16;      // the generator LoRA's own training
    int generator_target_length = 512;  // "<definition>__inp__<input>" tokens
    int generator_source_length = 4;    // "__gen__" with its special tokens
    int generator_lora_rank = 8;
    int generator_rows = 20;            // pseudo samples drawn in one batch (2% of 1000 training instances)
    int generator_new_tokens = 512;
};

// The training step's part of the plan, in bytes above what lives before the step.
struct StepPlan {
    double held_after_forward = 0;  // what the tape keeps for backward, logits included
    double logits = 0;              // the (B, T, V) logits alone
    double peak = 0;                // the most live at once over forward and backward
};

// One training micro-step (forward + backward) of T5 / LLaMA with the SAPT LoRA bank on every q and v.
StepPlan plan_t5_step(const T5Config& config, const MemoryPlanOptions& options);
StepPlan plan_llama_step(const LlamaConfig& config, const MemoryPlanOptions& options);

struct MemoryPlanLine {
    std::string name;
    double bytes = 0;
};

struct MemoryPlan {
    std::vector<MemoryPlanLine> resident;  // held for the whole run
    StepPlan step, step_recomputed;        // the training micro-step without and with --recompute layer
    double evaluation = 0;                 // greedy decoding of an evaluation batch: KV cache and prompt pass
    double generator = 0;                  // the generator's training step (its LoRA + AdamW) or its sampling
    double generator_recomputed = 0;       // the same with --recompute layer (its training goes through it too)
    double workspace = 0;                  // attention score blocks, cuBLAS, CUDA context, allocator slack
    double resident_total() const;
    // resident + the largest of the phases (they run one after another) + workspace.
    double peak(bool recompute) const;
};

// The whole run's plan. `config_json` is the text of config.json; `where` names it in errors.
MemoryPlan plan_memory(const std::string& config_json, const std::string& where, const MemoryPlanOptions& options);

// The largest micro-batch (1 .. 4096) whose plan fits in `device_bytes`; 0 when not even 1 does.
int largest_fitting_batch(const std::string& config_json, const std::string& where, MemoryPlanOptions options,
                          double device_bytes);

// The report ./train --plan-memory prints: the breakdown, both totals, the largest batch for each
// choice of --recompute, and a warning naming the flags that make a run fit when it does not.
std::string format_memory_plan(const std::string& config_json, const std::string& where,
                               const MemoryPlanOptions& options, double device_bytes);
