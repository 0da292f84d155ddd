// methods.h — the continual-learning methods ./train knows, as one table: what each one does with the
// shared PET machinery of sapt.h. A method is a row, not a code path: SAPT routes between one block per
// task with learned selection weights and keeps them with attentive reflection; SeqLoRA trains a single
// LoRA block from task to task (weight 1). A new baseline that fits these switches is one more row.
// Not here: the loop that reads the switches (continual.cpp).
#pragma once
#include <string>
#include <vector>

#include "engine/rng.h"
#include "sapt/sapt.h"

struct MethodSpec {
    std::string name;         // the --method value
    std::string description;  // one line for --help and reports
    bool selection;           // SALS weights (false: every block weight 1)
    bool block_per_task;      // a fresh PET block (and key) per task; false: one block for the whole sequence
    bool reflection;          // pseudo samples + reflection KL on earlier tasks
};

const std::vector<MethodSpec>& method_table();
// The row named `name`; throws naming the known methods otherwise.
const MethodSpec& method_spec(const std::string& name);

// The state options a method runs with (the PET kind, rank and compat flags come from `base`).
SaptOptions method_sapt_options(const MethodSpec& method, SaptOptions base);

// Prepares the state for the next task: a new block (and key) when the method keeps one per task, or
// the first block once for a single-block method.
void method_begin_task(const MethodSpec& method, SaptState& state, Rng& rng);
