// optim.h — training a list of parameter tensors: AdamW with torch.optim.AdamW's exact semantics
// (torch 1.13, amsgrad off), global gradient-norm clipping (torch.nn.utils.clip_grad_norm_), and the
// learning-rate schedules HF's Trainer offers (constant, constant after warm-up, linear warm-up + decay).
// The update itself is the backend kernel adamw_step, so parameters may live on the CPU or the GPU.
// Not here: parameter groups with different hyper-parameters (SAPT trains everything with one lr).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

struct SafeTensorsFile;

struct AdamW {
    // double, like torch's Python floats: the kernel forms 1 - beta2 in double before rounding to f32.
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;
    int64_t step = 0;                  // adamw_step calls so far (what a schedule is indexed by)
    std::vector<Tensor> params;        // f32, trained in place
    std::vector<Tensor> exp_avg;       // m, one per parameter, same shape and device
    std::vector<Tensor> exp_avg_sq;    // v
    std::vector<int64_t> param_steps;  // updates each parameter has received (torch's state['step'])
    // Per parameter, empty = 1 for every one: parameter i steps with lr * lr_scale[i] (torch's parameter
    // groups with their own lr; a schedule that sets lr moves every group in proportion).
    std::vector<double> lr_scale;
};

// An optimizer over `params` (each F32 with requires_grad) with zero moments.
AdamW adamw_create(const std::vector<Tensor>& params, double lr = 1e-3, double weight_decay = 0.01,
                   double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);

// One update with opt.lr. A parameter whose gradient was never allocated is skipped, its moments and
// step count untouched — torch's `if p.grad is None: continue`.
void adamw_step(AdamW& opt);

// Fills every allocated gradient with 0 (torch 1.13's zero_grad(set_to_none=False)).
void zero_grad(const std::vector<Tensor>& params);
void adamw_zero_grad(AdamW& opt);

// torch.nn.utils.clip_grad_norm_(params, max_norm): total = L2 norm of all allocated gradients taken
// together; when max_norm / (total + 1e-6) < 1 every gradient is scaled by that factor. Returns total
// (before clipping).
float clip_grad_norm(const std::vector<Tensor>& params, float max_norm);

// The sums of squares of every allocated gradient, each computed where the gradient lives and read back
// together: one copy per step from a GPU, however many tensors train. A NaN or an infinity anywhere in a
// gradient makes its sum non-finite, so this is also the training step's non-finite check.
struct GradientSquares {
    std::vector<double> per_tensor;  // 0 for a tensor without a gradient
    double total = 0;                // summed in parameter order
    int first_non_finite = -1;       // index of the first tensor whose gradient holds a NaN or an infinity
};
GradientSquares gradient_squares(const std::vector<Tensor>& params);
// clip_grad_norm with the sums already known (the total of gradient_squares). Returns the norm.
float clip_grad_norm_given(const std::vector<Tensor>& params, float max_norm, double sum_of_squares);

// ---- learning-rate schedules (HF transformers.optimization, indexed by the optimizer step) -------------
enum class LrScheduleKind {
    Constant,            // get_constant_schedule
    ConstantWithWarmup,  // get_constant_schedule_with_warmup
    LinearWithWarmup,    // get_linear_schedule_with_warmup
};

struct LrSchedule {
    LrScheduleKind kind = LrScheduleKind::Constant;
    float base_lr = 1e-3f;
    int64_t warmup_steps = 0;
    int64_t total_steps = 0;  // LinearWithWarmup only: lr reaches 0 here
};

// The lr of the update made after `step` earlier updates (LambdaLR: base_lr * lambda(step)). Note HF's
// warm-up starts at lr 0: with warm-up the very first update does not move the parameters.
float lr_at(const LrSchedule& schedule, int64_t step);

// ---- checkpointing -----------------------------------------------------------------------------
// Named state tensors: "adamw.exp_avg.<param>", "adamw.exp_avg_sq.<param>" (views of the live
// moments) and "adamw.param_steps" (P) / "adamw.step" (1), both I32. <param> is the tensor's name,
// or "param<i>" for an unnamed one.
std::vector<std::pair<std::string, Tensor>> adamw_state(const AdamW& opt);
// Restores moments and step counts saved by adamw_state into an optimizer over the same parameters
// (same names and shapes), copying them to each parameter's device.
void adamw_load_state(AdamW& opt, const SafeTensorsFile& file);
