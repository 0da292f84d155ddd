// mtl.cpp — joint training on all tasks. See mtl.h.
#include "sapt/baselines/mtl.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "engine/error.h"

ContinualResult run_multitask(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                              const ContinualOptions& options) {
    if (tasks.empty()) fail("run_multitask", "no tasks");
    const auto start = std::chrono::steady_clock::now();
    const MethodSpec& single_block = method_spec("seqlora");
    SaptState state = sapt_create(model, method_sapt_options(single_block, options.sapt));
    rng_seed(global_rng(), options.seed);
    Rng init = rng_make(options.seed, 1000);
    method_begin_task(single_block, state, init);

    std::vector<Instance> all;
    for (const Task& task : tasks) all.insert(all.end(), task.train.begin(), task.train.end());
    const std::vector<EncodedExample> examples = encode_examples(all, tokenizer, options.batching);
    AdamW optimizer = adamw_create(sapt_trainable_parameters(state), options.train.lr, options.train.weight_decay);
    TrainPosition position;
    position.data_rng = rng_make(options.seed, 2000);
    if (!options.out_dir.empty()) std::filesystem::create_directories(options.out_dir);
    TrainOptions train = options.train;
    train.label = "mtl all " + std::to_string(tasks.size()) + " tasks";
    train.log_path = options.out_dir.empty() ? "" : options.out_dir + "/log.jsonl";
    train.stop_at_step = 0;
    const TrainResult trained = train_task(model, state, examples, {}, options.batching, train, optimizer, position);

    const size_t T = tasks.size();
    ContinualResult result;
    for (const Task& t : tasks) result.tasks.push_back(t.name);
    result.matrix.assign(T, std::vector<double>(T, std::numeric_limits<double>::quiet_NaN()));
    result.weights.assign(T, {});
    for (size_t i = 0; i < T; i++) {
        result.matrix[T - 1][i] = evaluate_task(model, state, tokenizer, tasks[i].benchmark, tasks[i].test,
                                                options.batching, options.eval).score;
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.verbose) {
        std::printf("[mtl] %zu tasks jointly, %lld steps %.1fs loss %.4f | scores:", T, (long long)trained.steps,
                    trained.seconds, trained.last_loss);
        for (double v : result.matrix[T - 1]) std::printf(" %.1f", v);
        std::printf("\n");
        std::fflush(stdout);
    }
    return result;
}
