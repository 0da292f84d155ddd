// peft.h — LoRA blocks to and from Hugging Face PEFT's adapter folders, and SALS's keys and projector beside
// them. A PEFT LoRA adapter folder is adapter_config.json (peft_type "LORA", r, lora_alpha, target_modules,
// base_model_name_or_path, task_type) + adapter_model.safetensors with, per adapted projection,
//   base_model.model.<module>.lora_A.weight (R, C_in) and .lora_B.weight (C_out, R)
// (PEFT's save_pretrained drops the adapter name ".default" from the keys; its scaling is lora_alpha / r,
// ours too). <module> is the HF name of the projection: encoder.block.0.layer.0.SelfAttention.q for T5,
// model.layers.0.self_attn.q_proj for LLaMA. tests/fixtures/peft/README.md cites the PEFT sources.
// Not here: PEFT's other adapter types (prompt tuning, DoRA, rsLoRA scaling), pickle (.bin) adapters.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "models/model.h"
#include "sapt/run_folder.h"
#include "sapt/sapt.h"

// One task's LoRA: A and B per adapted site, in the model's site order.
struct LoraBlock {
    std::string task;
    int rank = 0;
    float alpha = 0;
    std::vector<Tensor> A;  // (R, C_in) per site
    std::vector<Tensor> B;  // (C_out, R) per site
};

// The SALS part of a sequence, tasks in task order (the block of task 0 first).
struct SalsParameters {
    std::vector<std::string> tasks;
    Tensor down, up, norm_weight, norm_bias;  // as in Sals
    Tensor keys;                              // (K, C), row i = task i's key
    std::vector<std::vector<float>> targets;  // reflection targets of the tasks (may be empty)
};

// PEFT's key of one site's A or B ("base_model.model." + site.name + ".lora_A.weight").
std::string peft_tensor_name(const AdaptedSite& site, char which);
// PEFT's target_modules for our adapted sites: ["q", "v"] (T5) / ["q_proj", "v_proj"] (LLaMA).
std::vector<std::string> peft_target_modules(ModelKind kind);
// "SEQ_2_SEQ_LM" (T5) / "CAUSAL_LM" (LLaMA).
std::string peft_task_type(ModelKind kind);

// Task i's block of a LoRA state (task order: i = 0 is the first task trained), as owned copies.
LoraBlock lora_block_of_task(const SaptState& state, int task);
// The SALS parameters of a state with selection (keys reordered to task order).
SalsParameters sals_parameters_of(const SaptState& state, const std::vector<std::string>& tasks);

// Writes <dir>/adapter_config.json and <dir>/adapter_model.safetensors (each atomically).
void write_peft_adapter(const std::string& dir, const LoraBlock& block, const std::vector<AdaptedSite>& sites,
                        ModelKind kind, const std::string& base_model);
// Reads a PEFT LoRA adapter folder for `model`: checks the config (LORA, target_modules, no DoRA, no
// fan_in_fan_out), that every site has its A and B and nothing else is there, and the shapes. Fails
// naming the file for an adapter of another model, shape or rank (when expected_rank > 0).
LoraBlock read_peft_adapter(const std::string& dir, const Model& model, int expected_rank);

// <dir>/sals.safetensors (+ <dir>/sals.json, a description of every tensor) and back. read checks the
// shapes against `model` and that the file's tasks are `tasks` when tasks is not empty.
void write_sals_parameters(const std::string& dir, const SalsParameters& sals, ModelKind kind, int trans_hidden);
SalsParameters read_sals_parameters(const std::string& dir, const Model& model, int trans_hidden);

// ./export: every finished task's block of a LoRA method as a PEFT adapter folder <to>/<task>/ (one
// folder <to>/<method>/ for a single-block method), plus <to>/sals.safetensors and sals.json with SAPT.
// Writes nothing when anything fails before the first file. Returns the adapter folders written.
std::vector<std::string> export_run_method(const LoadedRun& run, const RunMethod& method, const std::string& to,
                                           const std::string& base_model);

// The state a sequence starts from: the blocks (task order) as earlier tasks' frozen blocks, the newest
// in the current slot, with the keys, projector and targets of `sals` when given (sals.tasks.empty():
// none, for methods without selection). state must be freshly created (no task); its rank must match.
void sapt_state_from_blocks(SaptState& state, const std::vector<LoraBlock>& blocks, const SalsParameters& sals);

// What --import-adapters names: one export folder (with sals.json: all its tasks, in order, with their
// keys) or a list of PEFT adapter folders (the folder name is the task's name; no keys).
struct ImportedAdapters {
    std::vector<LoraBlock> blocks;
    SalsParameters sals;  // tasks empty when the folders carry no sals.safetensors
};
ImportedAdapters read_imported_adapters(const std::vector<std::string>& dirs, const Model& model, int rank,
                                        int trans_hidden);
