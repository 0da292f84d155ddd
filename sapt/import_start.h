// import_start.h — a sequence that starts from LoRA adapters trained elsewhere (PEFT folders, or an
// ./export folder with its keys): they become the first, already finished tasks of the run, written as
// the loop checkpoint run_continual resumes from, with the accuracy matrix of their stages measured on
// their test sets, their reflection targets and pseudo samples. The loop then trains the remaining tasks
// as if it had trained the imported ones itself. Not here: reading the adapters (peft.h), the loop.
#pragma once
#include <string>
#include <vector>

#include "sapt/continual.h"
#include "sapt/peft.h"

// tasks: the imported tasks first (tasks.size() > imported.blocks.size(), names in the same order), then
// the tasks to train. Writes checkpoint_path(options.out_dir) for options.method. Fails before writing
// when the method cannot take the adapters (a single-block method with several).
void write_imported_start(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                          const ImportedAdapters& imported, const ContinualOptions& options);
