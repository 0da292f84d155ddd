// sapt.h — the SAPT method as one state object: the PET blocks of every task (LoRA banks on every adapted
// site, or soft prompts), the shared selection module (SALS) and the recorded reflection targets, with
// the calls a training loop makes: add a task, compute a batch's selection weights and arm the model's
// PET hook with them, the reflection KL on a pseudo batch, and save / load. The baselines use the same
// state with `selection` off (every task weight 1). Not here: the loop, batching, the optimizer.
//
// Tensor names in sapt_save files (all F32 unless said):
//   <site.module>.lora_<q|v>.A / .B                    current task's LoRA (R, C_in) / (C_out, R)
//   <site.module>.lora_<q|v>.previous_A / .previous_B  earlier tasks stacked ((K-1)R, C_in) / (C_out, (K-1)R)
//   prompt.current (L, C), prompt.previous (K-1, L, C)
//   sals.down (Hd, C), sals.up (C, Hd), sals.norm_weight (C), sals.norm_bias (C),
//   sals.key (1, C), sals.previous_keys (K-1, C)
//   reflection.target.<j> (j+1): task j's recorded mean selection weights (task index from 0)
// and metadata "sapt.num_tasks", "sapt.pet" ("lora" | "prompt"), "sapt.lora_rank", "sapt.selection".
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "models/model.h"
#include "models/pet_hook.h"
#include "sapt/lora.h"
#include "sapt/prompt.h"
#include "sapt/sals.h"

enum class PetKind { Lora, Prompt };

struct SaptOptions {
    PetKind pet = PetKind::Lora;
    int lora_rank = 4;           // R
    float lora_alpha = 32.0f;    // scaling = alpha / R
    float lora_dropout = 0.0f;
    int prompt_length = 10;      // L (SAPT-Prompt)
    int trans_hidden = 100;      // SALS bottleneck
    // true: SAPT (selection weights from SALS). false: every task weight 1 (IncLoRA; SeqLoRA / single
    // task with one slot); there is then no SALS module and no KL.
    bool selection = true;
    // --compat official: max-pool over padding too, and no gradient into x through earlier tasks' LoRAs.
    bool compat_official = false;
};

struct SaptState {
    SaptOptions options;
    ModelKind model_kind = ModelKind::T5;
    Tensor embedding_table;            // (V, C) the model's token embedding (shared, not copied)
    std::vector<AdaptedSite> sites;    // the model's adapted projections, in site order
    std::vector<LoraBank> lora;        // one per adapted site, in site order (pet == Lora)
    PromptBank prompt;                 // pet == Prompt
    Sals sals;                         // options.selection
    int num_tasks = 0;                 // K: 0 until the first sapt_add_task
    std::vector<std::vector<float>> targets;  // targets[j]: task j's recorded mean weights (j+1 values)
    // Armed by sapt_begin_batch, read by the hook.
    Tensor batch_weights;              // (B, K), or undefined for weight 1 everywhere
    bool training = false;
};

// A state for `model` with no task yet. Keeps a handle to the model's embedding table.
SaptState sapt_create(const Model& model, const SaptOptions& options);

// Starts a new task: the current PET block and key become frozen earlier ones (newest first) and fresh
// ones are drawn from rng (LoRA A Kaiming-uniform, B zeros; prompt from vocabulary rows; key U(-1, 1)).
// The SALS projector is kept (it carries over between tasks). The first call creates everything.
void sapt_add_task(SaptState& state, Rng& rng);

// What the optimizer trains for the current task: every site's current A and B (or the current
// prompt), then the current key and the SALS projector (when selection is on). Earlier blocks and keys
// never appear here and never require a gradient.
std::vector<Tensor> sapt_trainable_parameters(const SaptState& state);

// The selection ids of a batch: T5 the encoder input ids; LLaMA the prompt without the answer. ids (B, T)
// I32, mask (B, T) U8 (1 = token). The max-pool ignores padding unless compat_official.
// Computes SALS once, stores the weights in the state for the hook (arming it for this batch) and
// returns the selection output (weights (B, K); without selection: weights undefined, the rest too).
SalsOutput sapt_begin_batch(SaptState& state, const Model& model, const Tensor& ids, const Tensor& mask,
                            bool training = false);

// The hook the model's forward takes. It reads the state's armed weights on every call, so it stays
// valid across batches; the state must outlive it.
PetHook sapt_hook(SaptState& state);

// SALS alone (no arming), for the reflection KL and for recording targets: ids (B, T), mask (B, T).
SalsOutput sapt_selection(const SaptState& state, const Model& model, const Tensor& ids, const Tensor& mask);

// The target of task j while K tasks exist: K-1-j zeros, then targets[j].
std::vector<float> sapt_replay_target(const SaptState& state, int task);

// Reflection KL of a pseudo batch against `target` (K values, e.g. sapt_replay_target): a scalar with a
// gradient to the current key and the projector. Multiply it by reflection_weight(...) (reflection.h).
Tensor sapt_kl_loss(const SaptState& state, const Model& model, const Tensor& pseudo_ids, const Tensor& mask,
                    const std::vector<float>& target);

// Every SAPT tensor under the names above (views, no copies), for a checkpoint; and back. sapt_restore
// needs a state created for the same model and options; it rebuilds the tasks from the file.
std::vector<std::pair<std::string, Tensor>> sapt_tensors(const SaptState& state);
std::map<std::string, std::string> sapt_metadata(const SaptState& state);
void sapt_restore(SaptState& state, const SafeTensorsFile& file);
void sapt_save(const SaptState& state, const std::string& path);  // atomic
void sapt_load(SaptState& state, const std::string& path);

// Loads the official code's names (from load_pretrained_model's extra tensors, e.g. a fixture's
// model.safetensors): <module>.lora_q.lora_A, <module>.previous_lora_weights_q.N.lora_A, <prefix>.prompt_key,
// <prefix>.previous_prompts_keys, <prefix>.trans_input.{0,1,3}.* with prefix "encoder" (T5) / "model" (LLaMA).
// Sets num_tasks from the previous keys. `where` names the source in error messages.
void sapt_load_official(SaptState& state, const WeightMap& tensors, const std::string& where);
