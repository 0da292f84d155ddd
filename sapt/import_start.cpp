// import_start.cpp — the loop checkpoint of a sequence that starts from imported adapters. See import_start.h.
#include "sapt/import_start.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/reflection.h"

// The first n tasks' SALS parameters: their keys and targets, the (final) projector.
static SalsParameters first_tasks(const SalsParameters& sals, size_t n) {
    if (sals.tasks.empty()) return sals;
    SalsParameters s = sals;
    s.tasks.resize(n);
    s.keys = tensor_clone(slice(sals.keys, 0, 0, (int64_t)n));
    if (s.targets.size() > n) s.targets.resize(n);
    return s;
}

// Task j's mean selection weights over its training inputs, with j + 1 tasks in the state.
static std::vector<float> record_targets(const Model& model, const SaptState& state, const Tokenizer& tokenizer,
                                         const Task& task, const ContinualOptions& options) {
    NoGradScope no_grad;
    const std::vector<EncodedExample> examples = encode_examples(task.train, tokenizer, options.batching);
    std::vector<int> all(examples.size());
    std::iota(all.begin(), all.end(), 0);
    SelectionRecord record;
    for (const auto& rows : batch_rows(all, options.eval.batch_size)) {
        const Batch batch = make_batch(examples, rows, options.batching, false);
        selection_record_add(record, sapt_selection(state, model, batch.selection_ids, batch.selection_mask).weights);
    }
    tape_clear();
    return selection_record_finish(record);
}

void write_imported_start(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                          const ImportedAdapters& imported, const ContinualOptions& options) {
    const MethodSpec& method = method_spec(options.method);
    const size_t n = imported.blocks.size(), T = tasks.size();
    if (n == 0 || T <= n) fail("--import-adapters", "expected adapters and at least one task to train after them");
    for (size_t j = 0; j < n; j++) {
        if (tasks[j].name != imported.blocks[j].task) {
            fail("--import-adapters", "task " + std::to_string(j) + " is " + tasks[j].name + ", the adapter is " + imported.blocks[j].task);
        }
    }
    if (!method.block_per_task && n != 1) {
        fail("--import-adapters", method.name + " trains one block for the whole sequence: it can start from one adapter (got " +
                                      std::to_string(n) + ")");
    }
    if (method.selection && imported.sals.tasks.empty()) {
        fail("--import-adapters", "SAPT needs each imported block's key: import a folder written by ./export (with "
                                  "sals.safetensors); PEFT folders alone carry no keys");
    }
    const SaptOptions sapt_options = method_sapt_options(method, options.sapt);
    if (!options.out_dir.empty()) std::filesystem::create_directories(options.out_dir);  // the generators log there
    LoopState loop;
    loop.method = method.name;
    for (const Task& t : tasks) loop.tasks.push_back(t.name);
    loop.matrix.assign(T, std::vector<double>(T, std::numeric_limits<double>::quiet_NaN()));
    loop.weights.assign(T, {});
    loop.pseudo.assign(T, {});
    // Stage j as the loop would have left it: j + 1 tasks, scored on each of their test sets. The projector
    // is the imported (final) one at every stage: the earlier projectors were not exported.
    SaptState state;
    std::vector<std::vector<float>> targets = imported.sals.targets;
    for (size_t j = 0; j < n; j++) {
        state = sapt_create(model, sapt_options);
        const std::vector<LoraBlock> blocks(imported.blocks.begin(), imported.blocks.begin() + (long)j + 1);
        SalsParameters sals = first_tasks(imported.sals, j + 1);
        sals.targets.clear();
        sapt_state_from_blocks(state, blocks, sals);
        if (method.reflection && targets.size() == j) targets.push_back(record_targets(model, state, tokenizer, tasks[j], options));
        loop.weights[j].assign(T, {});
        for (size_t i = 0; i <= j; i++) {
            const EvalResult eval = evaluate_task(model, state, tokenizer, tasks[i].benchmark, tasks[i].test,
                                                  options.batching, options.eval);
            loop.matrix[j][i] = eval.score;
            loop.weights[j][i] = eval.task_weights;
        }
        if (method.reflection) {  // the seeds the loop uses for task j's generator
            GeneratorOptions generator = options.generator;
            generator.train.log_path = options.out_dir.empty() ? "" : options.out_dir + "/log.jsonl";
            loop.pseudo[j] = options.pseudo_dir.empty()
                ? generate_pseudo_samples(model, tokenizer, tasks[j], options.batching, generator, options.seed + 3000 + j)
                : load_pseudo_samples(options.pseudo_dir, tasks[j].benchmark, tasks[j].name, options.sapt.compat_official);
        }
    }
    if (method.reflection) state.targets.assign(targets.begin(), targets.begin() + (long)n);
    loop.completed = (int)n;
    loop.in_task = false;
    loop.global_rng = rng_to_string(rng_make(options.seed));
    save_loop_checkpoint(checkpoint_path(options.out_dir), state, loop, nullptr);
}
