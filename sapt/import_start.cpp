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
    SalsParameters s = sals;
    s.tasks.resize(n);
    s.keys = tensor_clone(slice(sals.keys, 0, 0, (int64_t)n));
    if (s.targets.size() > n) s.targets.resize(n);
    return s;
}


// Key j of an adapter that came without one (PEFT folders alone), learned as the loop learns it beside its
// block: on task j's training split, with reflection on the earlier tasks' pseudo samples, the earlier keys
// and every block frozen (the block is not retrained), the key and the projector trainable. Updates `sals`
// (keys so far, the projector). Key 0 gets no gradient at K = 1, as in the loop.
static void learn_key(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks, size_t j,
                      SaptState& state, const std::vector<std::vector<Instance>>& pseudo,
                      const ContinualOptions& options) {
    for (LoraBank& bank : state.lora) bank.current_A.data->requires_grad = bank.current_B.data->requires_grad = false;
    const std::vector<Tensor> params = sals_trainable(state.sals);
    MethodHooks hooks;
    hooks.trainable = [params] { return params; };
    std::vector<ReplaySet> replay;
    for (size_t i = 0; i < j; i++) {
        ReplaySet set;
        set.task = (int)i;
        set.examples = encode_examples(pseudo[i], tokenizer, options.batching);
        if (!set.examples.empty()) replay.push_back(set);
    }
    AdamW optimizer = adamw_create(params, options.train.lr, options.train.weight_decay);
    TrainOptions train = options.train;
    train.label = "key of imported task " + std::to_string(j + 1) + " " + tasks[j].name;
    train.log_path = options.out_dir.empty() ? "" : options.out_dir + "/log.jsonl";
    train.replay_seed = options.seed + 4000;
    TrainPosition position;
    position.data_rng = rng_make(options.seed, 2000 + j);
    train_task(model, state, encode_examples(tasks[j].train, tokenizer, options.batching), replay, options.batching,
               train, optimizer, position, nullptr, &hooks);
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
    const SaptOptions sapt_options = method_sapt_options(method, options.sapt);
    if (!options.out_dir.empty()) std::filesystem::create_directories(options.out_dir);  // the generators log there
    const bool learn_keys = method.selection && imported.sals.tasks.empty();
    LoopState loop;
    loop.method = method.name;
    for (const Task& t : tasks) loop.tasks.push_back(t.name);
    loop.matrix.assign(T, std::vector<double>(T, std::numeric_limits<double>::quiet_NaN()));
    loop.weights.assign(T, {});
    loop.pseudo.assign(T, {});
    // Learned keys start as the loop's draws: the projector of task 0 and key j from task j's init stream.
    SalsParameters sals = imported.sals;
    std::vector<Tensor> keys;
    if (learn_keys) {
        SaptState probe = sapt_create(model, sapt_options);
        Rng init = rng_make(options.seed, 1000);
        const Sals start = sals_create((int)probe.embedding_table.dim(1), sapt_options.trans_hidden, init);
        sals.down = start.down;
        sals.up = start.up;
        sals.norm_weight = start.norm_weight;
        sals.norm_bias = start.norm_bias;
    }
    std::vector<std::vector<float>> targets = imported.sals.targets;
    // Stage j as the loop would have left it: j + 1 tasks, scored on each of their test sets. With given keys
    // the projector is the imported (final) one at every stage: the earlier projectors were not exported.
    SaptState state;
    for (size_t j = 0; j < n; j++) {
        SalsParameters stage;
        if (learn_keys) {
            Rng key_rng = rng_make(options.seed, 1000 + j);
            Tensor key = tensor_empty({1, sals.down.dim(1)});
            init_uniform(key, -1.0f, 1.0f, key_rng);
            keys.push_back(key);
            sals.tasks.push_back(imported.blocks[j].task);
            sals.keys = concat(keys, 0);
            stage = sals;
        } else if (method.selection) {
            stage = first_tasks(sals, j + 1);
        }
        stage.targets.clear();
        state = sapt_create(model, sapt_options);
        sapt_state_from_blocks(state, std::vector<LoraBlock>(imported.blocks.begin(), imported.blocks.begin() + (long)j + 1), stage);
        if (learn_keys && j > 0) {
            state.targets.assign(targets.begin(), targets.begin() + (long)j);
            learn_key(model, tokenizer, tasks, j, state, loop.pseudo, options);
            const SalsParameters learned = sals_parameters_of(state, sals.tasks);
            sals.down = learned.down;
            sals.up = learned.up;
            sals.norm_weight = learned.norm_weight;
            sals.norm_bias = learned.norm_bias;
            keys[j] = tensor_clone(slice(learned.keys, 0, (int64_t)j, (int64_t)j + 1));
            sals.keys = concat(keys, 0);
        }
        if (method.reflection && targets.size() == j) targets.push_back(record_selection(model, state, tokenizer, tasks[j].train, options));  // its training inputs
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
    for (LoraBank& bank : state.lora) bank.current_A.data->requires_grad = bank.current_B.data->requires_grad = true;
    loop.completed = (int)n;
    loop.in_task = false;
    loop.global_rng = rng_to_string(rng_make(options.seed));
    save_loop_checkpoint(checkpoint_path(options.out_dir), state, loop, nullptr);
}
