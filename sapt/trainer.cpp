// trainer.cpp — the training loop of one task. See trainer.h.
#include "sapt/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/error.h"
#include "engine/fileio.h"
#include "engine/interrupt.h"
#include "engine/ops.h"
#include "sapt/data_parallel.h"
#include "sapt/reflection.h"

Tensor model_loss(const Model& model, const PetHook* hook, const Batch& batch, bool training) {
    if (model.kind == ModelKind::T5) {
        T5RunOptions run;
        run.training = training;
        run.recompute_layers = model.recompute_layers;
        T5EncoderOutput encoded = t5_encode(model.t5, batch.input_ids, batch.mask, hook, run);
        Tensor decoder_input = t5_shift_right(batch.labels, model.t5.config);
        return t5_loss(t5_decode(model.t5, decoder_input, encoded, hook, run), batch.labels);
    }
    // HF's training forward takes positions 0..T-1 whatever the left padding (no position_ids passed).
    LlamaRunOptions run;
    run.recompute_layers = model.recompute_layers;
    Tensor logits = llama_forward(model.llama, batch.input_ids, batch.mask, Tensor{}, hook, nullptr, false, nullptr, run);
    return llama_loss(logits, batch.labels);
}

void append_log_line(const std::string& path, const std::string& json_line) {
    if (path.empty() || dist_rank() != 0) return;  // rank 0 alone writes the log
    append_to_file(path, json_line + "\n");
}

static float scalar(const Tensor& t) { return tensor_values(t)[0]; }

// A rank's loss term times its share of the global batch (data_parallel.h); one process keeps the term as is.
static Tensor weighted(const Tensor& term, double weight) { return weight == 1.0 ? term : scale(term, (float)weight); }


// Pseudo rows of earlier task `task` for micro-step `micro`: a fresh draw from (seed, task, micro) so
// that a resumed run replays exactly what the uninterrupted one would have, with nothing to save.
static std::vector<int> replay_rows(const ReplaySet& set, int batch_size, uint64_t seed, int64_t micro) {
    Rng rng = rng_make(seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(set.task + 1)), (uint64_t)micro);
    std::vector<int> order = epoch_order((int)set.examples.size(), rng, true);
    if ((int)order.size() > batch_size) order.resize((size_t)batch_size);
    return order;
}

static std::string format_seconds(double s) {
    char buf[32];
    int total = (int)std::lround(std::max(0.0, s));
    std::snprintf(buf, sizeof buf, "%d:%02d", total / 60, total % 60);
    return buf;
}

TrainResult train_task(const Model& model, SaptState& state, const std::vector<EncodedExample>& examples,
                       const std::vector<ReplaySet>& replay, const BatchingOptions& batching,
                       const TrainOptions& options, AdamW& optimizer, TrainPosition& position,
                       const std::function<void(const TrainPosition&, const AdamW&)>& on_checkpoint,
                       const MethodHooks* hooks) {
    if (examples.empty()) fail("train_task", options.label + ": no training examples");
    if (options.grad_accum <= 0 || options.batch_size <= 0 || (options.epochs <= 0 && options.max_steps <= 0)) {
        fail("train_task", "batch size, gradient accumulation and epochs (or max steps) must be positive");
    }
    const std::vector<Tensor> params = method_trainable(hooks, state);
    const PetHook hook = method_hook(hooks, state);
    const int batches_per_epoch = (int)((examples.size() + (size_t)options.batch_size - 1) / (size_t)options.batch_size);
    const int64_t steps_per_epoch = (batches_per_epoch + options.grad_accum - 1) / options.grad_accum;
    const int64_t total_steps = options.max_steps > 0 ? options.max_steps : steps_per_epoch * options.epochs;
    const bool show_bar = isatty(fileno(stderr)) && dist_rank() == 0;
    const float kl_weight = reflection_weight(options.kl_lambda, options.grad_accum, options.compat_official);

    TrainResult result;
    const auto start = std::chrono::steady_clock::now();
    int64_t tokens_seen = 0;
    double ce_sum = 0, kl_sum = 0;
    int64_t step_tokens = 0;  // this rank's tokens in the coming optimizer step
    int in_step = 0;  // micro-batches accumulated into the coming optimizer step
    const int64_t first_step = position.step;  // > 0 after a resume: the ETA counts this call's steps only
    const bool on_device = !params.empty() && params[0].device() != Device::CPU;
    DeviceTraffic traffic_at_step_start = device_traffic();
    double last_plain_line = 0;  // seconds into the task when the last plain progress line was printed
    adamw_zero_grad(optimizer);
    while (!position.finished && position.step < total_steps) {
        if (in_step == 0) traffic_at_step_start = device_traffic();
        if (position.order.empty()) position.order = epoch_order((int)examples.size(), position.data_rng, true);
        const std::vector<std::vector<int>> batches = batch_rows(position.order, options.batch_size);
        // Under data parallelism this rank's rows of the global micro-batch (data_parallel.h); else all of it.
        const BatchShare share = batch_share(examples, batches[(size_t)position.next_batch], batching, true,
                                             dist_rank(), dist_world_size());
        if (!share.empty) {
            const Batch& batch = share.batch;
            method_begin_batch(hooks, state, model, batch.selection_ids, batch.selection_mask, /*training=*/true);
            const BatchLoss batch_loss = method_batch_loss(hooks, model, hook, batch);
            const float ce = scalar(batch_loss.ce);
            if (!std::isfinite(ce)) {
                fail("train_task", options.label + ": the loss is not finite at step " + std::to_string(position.step) +
                                       " (cross-entropy " + std::to_string(ce) + ")");
            }
            // A baseline's own term (EWC, LwF, L2P, O-LoRA) joins the cross-entropy.
            Tensor loss = weighted(batch_loss.ce, share.token_weight);
            if (batch_loss.extra.defined()) {
                loss = add(loss, weighted(batch_loss.extra, batch_loss.extra_is_token_mean ? share.token_weight
                                                                                           : share.row_weight));
            }
            backward(scale(loss, 1.0f / (float)options.grad_accum));
            ce_sum += ce * share.token_weight;
            step_tokens += batch.tokens;
        }
        // The official trainer replays from its second optimizer step on (global_step > 0).
        const bool replay_now = !replay.empty() && (!options.compat_official || position.step > 0);
        for (const ReplaySet& set : replay) {
            if (!replay_now || set.examples.empty()) break;
            const BatchShare pseudo = batch_share(set.examples, replay_rows(set, options.batch_size, options.replay_seed,
                                                                            position.micro_steps),
                                                   batching, false, dist_rank(), dist_world_size());
            if (pseudo.empty) continue;
            // KLDivLoss(batchmean): a mean over the pseudo rows.
            const float weight = pseudo.row_weight == 1.0 ? kl_weight : kl_weight * (float)pseudo.row_weight;
            Tensor kl = sapt_kl_loss(state, model, pseudo.batch.selection_ids, pseudo.batch.selection_mask,
                                     sapt_replay_target(state, set.task));
            const float kl_value = scalar(kl);
            if (!std::isfinite(kl_value)) {
                fail("train_task", options.label + ": the reflection KL of task " + std::to_string(set.task) +
                                       " is not finite at step " + std::to_string(position.step));
            }
            kl_sum += weight * kl_value;
            backward(scale(kl, weight));
        }
        position.micro_steps++;
        position.next_batch++;
        in_step++;
        const bool epoch_done = position.next_batch >= (int)batches.size();
        if (in_step < options.grad_accum && !epoch_done) continue;

        // Data parallel: the gradients and the loss sums over every rank; from here on each rank does the same.
        // A signal seen by any rank stops all of them after this step (mpirun forwards it, not at one instant).
        std::vector<double> sums = {ce_sum, kl_sum, (double)step_tokens, interrupt_requested() ? 1.0 : 0.0};
        sum_over_ranks(params, sums);
        const bool interrupted = dist_world_size() > 1 ? sums[3] > 0 : interrupt_requested();
        ce_sum = sums[0];
        kl_sum = sums[1];
        tokens_seen += (int64_t)sums[2];
        step_tokens = 0;
        // One device reduction per gradient, read back together: the non-finite check and the clipping norm.
        const GradientSquares squares = gradient_squares(params);
        if (squares.first_non_finite >= 0) {
            const Tensor& p = params[(size_t)squares.first_non_finite];
            fail("train_task", options.label + ": non-finite gradient in " +
                                   (p.name().empty() ? "parameter " + std::to_string(squares.first_non_finite) : p.name()) +
                                   " at step " + std::to_string(position.step));
        }
        if (options.max_grad_norm > 0) clip_grad_norm_given(params, options.max_grad_norm, squares.total);
        optimizer.lr = options.lr;
        adamw_step(optimizer);
        adamw_zero_grad(optimizer);
        position.step++;
        result.last_loss = ce_sum / in_step;
        result.last_kl = kl_sum / in_step;
        ce_sum = kl_sum = 0;
        in_step = 0;
        if (epoch_done) {
            position.epoch++;
            position.next_batch = 0;
            position.order.clear();
        }

        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double tokens_per_s = elapsed > 0 ? tokens_seen / elapsed : 0;
        const int64_t done_here = position.step - first_step;
        // A line refreshed in place on a terminal; elsewhere (a log file, a batch job) a plain line every 10 s.
        const double memory_mib = (double)device_memory_in_use() / 1048576.0;
        const std::string eta = format_seconds(elapsed / std::max<int64_t>(1, done_here) * (total_steps - position.step));
        if (dist_rank() == 0 && (show_bar || elapsed - last_plain_line >= 10.0)) {
            char memory[48] = "";
            if (on_device) std::snprintf(memory, sizeof memory, " device %.0f MiB", memory_mib);
            std::fprintf(stderr, "%s%s step %lld/%lld loss %.4f kl %.4f %.0f tok/s%s, task left %s%s",
                         show_bar ? "\r" : "", options.label.c_str(), (long long)position.step, (long long)total_steps,
                         result.last_loss, result.last_kl, tokens_per_s, memory, eta.c_str(), show_bar ? "   " : "\n");
            std::fflush(stderr);
            last_plain_line = elapsed;
        }
        nlohmann::json line = {{"event", "train_step"}, {"task", options.label}, {"step", position.step},
                               {"loss", result.last_loss}, {"kl", result.last_kl}, {"tokens_per_s", tokens_per_s}};
        if (on_device) {
            // What this step moved between host and device: the budget tests/device checks.
            const DeviceTraffic now = device_traffic();
            line["device"] = {{"copies_in", now.to_device_copies - traffic_at_step_start.to_device_copies},
                              {"bytes_in", now.to_device_bytes - traffic_at_step_start.to_device_bytes},
                              {"copies_out", now.to_host_copies - traffic_at_step_start.to_host_copies},
                              {"bytes_out", now.to_host_bytes - traffic_at_step_start.to_host_bytes},
                              {"synchronizations", now.synchronizations - traffic_at_step_start.synchronizations},
                              {"memory_mib", memory_mib}};
        }
        append_log_line(options.log_path, line.dump());
        if (on_checkpoint && options.checkpoint_every > 0 && position.step % options.checkpoint_every == 0 &&
            position.step < total_steps) {
            on_checkpoint(position, optimizer);
        }
        if (options.stop_at_step > 0 && position.step == options.stop_at_step && position.step < total_steps) {
            if (on_checkpoint) on_checkpoint(position, optimizer);
            if (show_bar) std::fprintf(stderr, "\n");
            result.steps = position.step;
            return result;
        }
        // Ctrl-C or a scheduler's SIGTERM: this step is done and checkpointed; the caller stops the run. Also at
        // the last step: a checkpoint at the task's last step resumes straight into the task's evaluation.
        if (options.stop_on_interrupt && interrupted) {
            if (on_checkpoint) on_checkpoint(position, optimizer);
            if (show_bar) std::fprintf(stderr, "\n");
            result.steps = position.step;
            return result;
        }
    }
    if (show_bar) std::fprintf(stderr, "\n");
    position.finished = true;
    result.steps = position.step;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}
