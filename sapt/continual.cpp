// continual.cpp — the task loop with checkpoints and resume. See continual.h.
#include "sapt/continual.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/interrupt.h"
#include "engine/safetensors.h"
#include "models/model_device.h"
#include "sapt/reflection.h"
#include "sapt/sapt_device.h"

std::string checkpoint_path(const std::string& out_dir) { return out_dir + "/checkpoint.safetensors"; }

// Independent random streams of one run, so that each task draws the same numbers whether or not the
// run was interrupted before it.
enum Stream : uint64_t { kInitStream = 1000, kDataStream = 2000, kGeneratorStream = 3000, kReplayStream = 4000 };

// The training instances of a task and the held-out inputs its selection target is recorded on.
static void split_holdout(const Task& task, const ContinualOptions& options, std::vector<Instance>* train,
                          std::vector<Instance>* holdout) {
    if (options.sapt.compat_official) {  // the official code records on dev (= test in the released data)
        *train = task.train;
        *holdout = task.dev.empty() ? task.test : task.dev;
        return;
    }
    const int every = std::max(2, options.holdout_every);
    for (size_t i = 0; i < task.train.size(); i++) {
        const bool hold = (int)(i % (size_t)every) == every - 1 && (int)holdout->size() < options.max_holdout;
        (hold ? holdout : train)->push_back(task.train[i]);
    }
    if (holdout->empty()) *holdout = *train;  // a task too small to spare an instance records on its own train
}

std::vector<float> record_selection(const Model& model, const SaptState& state, const Tokenizer& tokenizer,
                                    const std::vector<Instance>& inputs, const ContinualOptions& options) {
    NoGradScope no_grad;
    const std::vector<EncodedExample> examples = encode_examples(inputs, tokenizer, options.batching);
    std::vector<int> all(examples.size());
    for (size_t i = 0; i < all.size(); i++) all[i] = (int)i;
    SelectionRecord record;
    for (const auto& rows : batch_rows(all, options.eval.batch_size)) {
        const Batch batch = make_batch(examples, rows, options.batching, false);
        selection_record_add(record, sapt_selection(state, model, batch.selection_ids, batch.selection_mask).weights);
    }
    tape_clear();
    return selection_record_finish(record);
}

static void log_json(const ContinualOptions& options, const nlohmann::json& line) {
    append_log_line(options.out_dir.empty() ? "" : options.out_dir + "/log.jsonl", line.dump());
}

ContinualResult run_continual(const Model& backbone, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                              const ContinualOptions& options) {
    if (tasks.empty()) fail("run_continual", "no tasks in the order");
    // A shallow copy (tensor handles): SeqFT replaces its weights by private trainable copies.
    Model model = backbone;
    const auto start = std::chrono::steady_clock::now();
    const MethodSpec& method = method_spec(options.method);
    const int T = (int)tasks.size();
    // Data parallel: every rank trains the same state; rank 0 alone writes the folder, the log and checkpoints.
    const bool writes = dist_rank() == 0;
    if (!options.out_dir.empty() && writes) std::filesystem::create_directories(options.out_dir);
    const std::string ckpt = options.out_dir.empty() ? "" : checkpoint_path(options.out_dir);

    const Device device = model_device(model);
    if (options.batching.device != device) {
        fail("run_continual", std::string("the batches go to ") + (options.batching.device == Device::CPU ? "cpu" : "cuda") +
                                  " but the model lives on " + (device == Device::CPU ? "cpu" : "cuda") +
                                  " (expected BatchingOptions.device = the model's device)");
    }
    SaptState state = sapt_create(model, method_sapt_options(method, options.sapt));
    sapt_to_device(state, model, device);  // every SAPT tensor where the backbone is
    BaselineOptions baseline_options = options.baselines;
    baseline_options.seed = options.seed;
    baseline_options.replay_fraction = options.generator.fraction;  // Replay keeps as many as SAPT generates
    const MethodHooks hooks = make_method_hooks(method.name, model, state, options.batching, baseline_options);
    // What a baseline keeps besides the SAPT state (a memory, Fisher anchors, a teacher, a prompt pool, a
    // fine-tuned backbone) goes into the checkpoint through its save / restore hooks; a method with state and
    // without them could not resume.
    const bool hooks_keep_state = (hooks.after_task || hooks.trainable) && !(hooks.save && hooks.restore);
    LoopState loop;
    loop.method = method.name;
    for (const Task& t : tasks) loop.tasks.push_back(t.name);
    loop.matrix.assign((size_t)T, std::vector<double>((size_t)T, std::numeric_limits<double>::quiet_NaN()));
    loop.weights.assign((size_t)T, {});
    loop.pseudo.assign((size_t)T, {});
    loop.model_fingerprint = model_fingerprint(backbone);
    loop.tokenizer_fingerprint = tokenizer_fingerprint(tokenizer);
    rng_seed(global_rng(), options.seed);

    std::unique_ptr<SafeTensorsFile> resumed;
    if (options.resume && !ckpt.empty() && std::filesystem::exists(ckpt) && hooks_keep_state) {
        fail(ckpt, method.name + " keeps state outside the checkpoint and cannot resume (expected a fresh --out)");
    }
    if (options.resume && !ckpt.empty() && std::filesystem::exists(ckpt)) {
        resumed = std::make_unique<SafeTensorsFile>(safetensors_open(ckpt));
        auto it = resumed->metadata.find("loop.state");
        if (it == resumed->metadata.end()) fail(ckpt, "not a loop checkpoint (no loop.state metadata)");
        LoopState saved = loop_state_from_json(it->second, ckpt);
        if (saved.method != loop.method || saved.tasks != loop.tasks) {
            fail(ckpt, "the checkpoint is of another run (expected method " + loop.method + " over " +
                           std::to_string(T) + " tasks, got " + saved.method + " over " +
                           std::to_string(saved.tasks.size()) + ")");
        }
        const std::pair<const char*, std::string LoopState::*> prints[] = {
            {"backbone (--model)", &LoopState::model_fingerprint}, {"tokenizer", &LoopState::tokenizer_fingerprint}};
        for (const auto& [what, field] : prints) {
            if (!(saved.*field).empty() && saved.*field != loop.*field) {
                fail(ckpt, std::string("the checkpoint was made with another ") + what + " (fingerprint " + saved.*field +
                               ", this run's is " + loop.*field + "); resume with the settings it was started with");
            }
        }
        saved.model_fingerprint = loop.model_fingerprint;  // also when an older checkpoint had none
        saved.tokenizer_fingerprint = loop.tokenizer_fingerprint;
        loop = saved;
        sapt_restore(state, *resumed);
        sapt_to_device(state, model, device);
        if (hooks.restore) hooks.restore(*resumed);
        global_rng() = rng_from_string(loop.global_rng, ckpt);
    }
    auto save = [&](const AdamW* optimizer) {
        if (ckpt.empty() || !writes) return;
        loop.global_rng = rng_to_string(global_rng());
        MethodCheckpoint method_part;
        if (hooks.save) hooks.save(method_part);
        save_loop_checkpoint(ckpt, state, loop, optimizer, method_part.tensors, method_part.metadata);
    };

    ContinualResult result;
    result.tasks = loop.tasks;
    const int first_task = loop.completed;
    for (int t = loop.completed; t < T; t++) {
        const Task& task = tasks[(size_t)t];
        const bool mid_task = loop.in_task;
        if (!mid_task) {
            Rng init = rng_make(options.seed, kInitStream + (uint64_t)t);
            method_begin_task(method, state, init);
        }
        std::vector<Instance> train, holdout;
        split_holdout(task, options, &train, &holdout);
        if (hooks.extra_training_instances) {  // Replay: the memory of earlier tasks joins this task's data
            const std::vector<Instance> extra = hooks.extra_training_instances(t);
            train.insert(train.end(), extra.begin(), extra.end());
        }
        const std::vector<EncodedExample> examples = encode_examples(train, tokenizer, options.batching);
        std::vector<ReplaySet> replay;
        if (method.reflection) {
            for (int j = 0; j < t; j++) {
                ReplaySet set;
                set.task = j;
                set.examples = encode_examples(loop.pseudo[(size_t)j], tokenizer, options.batching);
                if (!set.examples.empty()) replay.push_back(set);
            }
        }
        AdamW optimizer = adamw_create(method_trainable(&hooks, state), options.train.lr, options.train.weight_decay);
        TrainPosition position;
        if (mid_task) {
            position = loop.position;
            adamw_load_state(optimizer, *resumed);
        } else {
            position.data_rng = rng_make(options.seed, kDataStream + (uint64_t)t);
        }
        TrainOptions train_options = options.train;
        train_options.label = method.name + " task " + std::to_string(t + 1) + "/" + std::to_string(T) + " " + task.name;
        train_options.replay_seed = options.seed + kReplayStream;
        if (hooks.learning_rate > 0) train_options.lr = hooks.learning_rate;
        if (state.options.pet == PetKind::Prompt) {
            // SAPT-Prompt: the soft prompt steps at the prompt learning rate (L2P's), the shared attention at
            // the method's; at LoRA's 3e-4 .. 3e-3 a prompt hardly moves from its random vocabulary rows.
            optimizer.lr_scale.assign(optimizer.params.size(), 1.0);
            for (size_t i = 0; i < optimizer.params.size(); i++) {
                // At --lr 0 nothing trains, the prompt included (and the ratio would be inf, 0 * inf NaN).
                if (optimizer.params[i].data == state.prompt.current.data && train_options.lr > 0) {
                    optimizer.lr_scale[i] = options.baselines.prompt_lr / train_options.lr;
                }
            }
        }
        train_options.log_path = options.out_dir.empty() ? "" : options.out_dir + "/log.jsonl";
        if (t == first_task) train_options.stop_at_step = options.stop_after_steps;
        train_options.stop_on_interrupt = true;
        auto on_checkpoint = [&](const TrainPosition& p, const AdamW& opt) {
            loop.in_task = true;
            loop.position = p;
            save(&opt);
        };
        const TrainResult trained = train_task(model, state, examples, replay, options.batching, train_options,
                                               optimizer, position, on_checkpoint, &hooks);
        if (!position.finished) {  // stopped at stop_after_steps or by a signal, the checkpoint already written
            result.stopped = true;
            result.interrupted = interrupt_requested();
            break;
        }

        if (hooks.after_task) hooks.after_task(t, task.train, examples);
        if (method.reflection && (int)state.targets.size() == t) {
            state.targets.push_back(record_selection(model, state, tokenizer, holdout, options));
        }
        const Rng rng_before_generator = global_rng();
        std::vector<GeneratedCheck> checks;
        if (method.reflection && t + 1 < T) {  // the last task's pseudo samples would never be replayed
            GeneratorOptions generator_options = options.generator;
            generator_options.train.log_path = train_options.log_path;
            generator_options.train.stop_on_interrupt = true;  // then it returns no samples
            loop.pseudo[(size_t)t] = options.pseudo_dir.empty()
                ? generate_pseudo_samples(model, tokenizer, task, options.batching, generator_options,
                                          options.seed + kGeneratorStream + (uint64_t)t, &checks)
                : load_pseudo_samples(options.pseudo_dir, task.benchmark, task.name, options.sapt.compat_official);
        }
        if (method.reflection && t + 1 < T && loop.pseudo[(size_t)t].empty() && interrupt_requested()) {
            // A signal during the generator's training: checkpoint the task as trained (its last step), so that
            // a resume trains the generator again from the same random state and goes on exactly.
            global_rng() = rng_before_generator;
            loop.in_task = true;
            loop.position = position;
            save(&optimizer);
            result.stopped = result.interrupted = true;
            break;
        }
        if (method.reflection && !loop.pseudo[(size_t)t].empty()) {
            loop.pseudo_quality.push_back(measure_pseudo_quality(model, state, tokenizer, t, task.name,
                                                                 loop.pseudo[(size_t)t], checks, options.batching,
                                                                 options.eval.batch_size));
        }
        loop.weights[(size_t)t].assign((size_t)T, {});
        for (int i = 0; i <= t; i++) {
            const EvalResult eval = evaluate_task(model, state, tokenizer, tasks[(size_t)i].benchmark,
                                                  tasks[(size_t)i].test, options.batching, options.eval, &hooks);
            loop.matrix[(size_t)t][(size_t)i] = eval.score;
            loop.weights[(size_t)t][(size_t)i] = eval.task_weights;
        }
        loop.completed = t + 1;
        loop.in_task = false;
        save(nullptr);

        nlohmann::json line = {{"event", "task_done"}, {"method", method.name}, {"task", task.name},
                               {"stage", t}, {"steps", trained.steps}, {"loss", trained.last_loss},
                               {"seconds", trained.seconds}, {"scores", std::vector<double>(
                                   loop.matrix[(size_t)t].begin(), loop.matrix[(size_t)t].begin() + t + 1)},
                               {"pseudo_samples", loop.pseudo[(size_t)t].size()}};
        log_json(options, line);
        if (options.verbose && writes) {
            std::printf("[%s] task %d/%d %-18s %4lld steps %6.1fs loss %.4f | scores:", method.name.c_str(), t + 1, T,
                        task.name.c_str(), (long long)trained.steps, trained.seconds, trained.last_loss);
            for (int i = 0; i <= t; i++) std::printf(" %.1f", loop.matrix[(size_t)t][(size_t)i]);
            if (device != Device::CPU) std::printf(" | %s", device_memory_summary().c_str());
            std::printf("\n");
            std::fflush(stdout);
        }
        if (options.stop_after_tasks > 0 && loop.completed >= options.stop_after_tasks && loop.completed < T) {
            result.stopped = true;
            break;
        }
        if (interrupt_requested() && loop.completed < T) {  // a signal during the evaluation: the task is saved
            result.stopped = result.interrupted = true;
            break;
        }
    }
    result.matrix = loop.matrix;
    result.weights = loop.weights;
    result.pseudo_quality = loop.pseudo_quality;
    for (PseudoQuality& q : result.pseudo_quality) {  // where the finished run routes each task's pseudo samples
        if (result.stopped) break;
        q.routed_at_end = routing_share(pseudo_selection_weights(model, state, tokenizer, loop.pseudo[(size_t)q.task],
                                                                 options.batching, options.eval.batch_size), q.task);
        log_json(options, {{"event", "pseudo_quality"}, {"method", method.name}, {"quality", pseudo_quality_to_json(q)}});
        if (options.verbose) std::printf("[%s] %s\n", method.name.c_str(), format_pseudo_quality(q).c_str());
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

std::vector<double> single_task_scores(const Model& model, const Tokenizer& tokenizer, const std::vector<Task>& tasks,
                                       const ContinualOptions& options) {
    std::vector<double> scores;
    for (size_t i = 0; i < tasks.size(); i++) {
        ContinualOptions one = options;
        one.method = "seqlora";
        one.out_dir = "";
        one.resume = false;
        one.stop_after_tasks = 0;
        one.verbose = false;
        one.seed = options.seed + 7919 * (uint64_t)(i + 1);
        scores.push_back(run_continual(model, tokenizer, {tasks[i]}, one).matrix[0][0]);
        if (interrupt_requested()) {  // nothing of these runs is checkpointed: the caller stops, a resume redoes them
            scores.resize(tasks.size(), std::numeric_limits<double>::quiet_NaN());
            return scores;
        }
        if (options.verbose && dist_rank() == 0) {
            std::printf("[single] task %zu/%zu %-18s score %.1f\n", i + 1, tasks.size(), tasks[i].name.c_str(),
                        scores.back());
            std::fflush(stdout);
        }
    }
    return scores;
}
