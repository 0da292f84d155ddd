// optim.cpp — see optim.h. The arithmetic lives in the backend kernels (adamw_step, sum_squares, scale);
// this file keeps the bookkeeping torch keeps: which parameters have gradients, per-parameter step
// counts, and the state that a checkpoint must carry for a resumed run to continue bit for bit.
#include "engine/optim.h"

#include <cmath>
#include <set>

#include "engine/backend.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/safetensors.h"

AdamW adamw_create(const std::vector<Tensor>& params, double lr, double weight_decay, double beta1, double beta2,
                   double eps) {
    AdamW opt;
    opt.lr = lr;
    opt.weight_decay = weight_decay;
    opt.beta1 = beta1;
    opt.beta2 = beta2;
    opt.eps = eps;
    for (size_t i = 0; i < params.size(); i++) {
        const Tensor& p = params[i];
        std::string label = "parameter " + std::to_string(i) + " '" + (p.defined() ? p.name() : "") + "'";
        if (!p.defined()) fail("adamw_create", label + " is undefined");
        if (p.dtype() != DType::F32) {
            fail("adamw_create", label + " has dtype " + dtype_name(p.dtype()) + " (expected F32: only f32 tensors train)");
        }
        if (!p.requires_grad()) fail("adamw_create", label + " does not require a gradient (a frozen tensor)");
        opt.params.push_back(p);
        opt.exp_avg.push_back(tensor_zeros(p.shape(), DType::F32, p.device()));
        opt.exp_avg_sq.push_back(tensor_zeros(p.shape(), DType::F32, p.device()));
        opt.param_steps.push_back(0);
    }
    return opt;
}

void adamw_step(AdamW& opt) {
    if (!opt.lr_scale.empty() && opt.lr_scale.size() != opt.params.size()) {
        fail("adamw_step", "lr_scale has " + std::to_string(opt.lr_scale.size()) + " entries (expected one per parameter, " +
                               std::to_string(opt.params.size()) + ")");
    }
    for (size_t i = 0; i < opt.params.size(); i++) {
        const Tensor& p = opt.params[i];
        if (!p.has_grad()) continue;
        opt.param_steps[i] += 1;
        const double lr = opt.lr_scale.empty() ? opt.lr : opt.lr * opt.lr_scale[i];
        kernels_for(p.device()).adamw_step(p.f32(), p.grad(), opt.exp_avg[i].f32(), opt.exp_avg_sq[i].f32(),
                                           (size_t)p.numel(), lr, opt.beta1, opt.beta2, opt.eps,
                                           opt.weight_decay, (int)opt.param_steps[i]);
    }
    opt.step += 1;
}

void zero_grad(const std::vector<Tensor>& params) {
    for (const Tensor& p : params) p.zero_grad();
}

void adamw_zero_grad(AdamW& opt) { zero_grad(opt.params); }

GradientSquares gradient_squares(const std::vector<Tensor>& params) {
    GradientSquares out;
    out.per_tensor.assign(params.size(), 0.0);
    // Each backend writes its tensors' sums into an array of its own memory; one copy brings it back.
    for (const Backend* backend : registered_backends()) {
        const Device device = backend->device;
        std::vector<size_t> here;
        for (size_t i = 0; i < params.size(); i++) {
            if (params[i].has_grad() && params[i].device() == device) here.push_back(i);
        }
        if (here.empty()) continue;
        const std::shared_ptr<Buffer> sums = buffer_alloc(here.size() * sizeof(double), device);
        const Kernels& k = *backend->kernels;
        for (size_t j = 0; j < here.size(); j++) {
            const Tensor& p = params[here[j]];
            k.sum_squares_to((double*)sums->data + j, p.grad(), (size_t)p.numel());
        }
        std::vector<double> host(here.size());
        copy_bytes(host.data(), Device::CPU, sums->data, device, host.size() * sizeof(double));
        for (size_t j = 0; j < here.size(); j++) out.per_tensor[here[j]] = host[j];
    }
    for (size_t i = 0; i < params.size(); i++) {
        out.total += out.per_tensor[i];
        if (out.first_non_finite < 0 && !std::isfinite(out.per_tensor[i])) out.first_non_finite = (int)i;
    }
    return out;
}

float clip_grad_norm(const std::vector<Tensor>& params, float max_norm) {
    return clip_grad_norm_given(params, max_norm, gradient_squares(params).total);
}

float clip_grad_norm_given(const std::vector<Tensor>& params, float max_norm, double sum_of_squares) {
    float total_norm = (float)std::sqrt(sum_of_squares);
    float clip_coef = max_norm / (total_norm + 1e-6f);
    if (clip_coef < 1.0f) {
        for (const Tensor& p : params) {
            if (p.has_grad()) kernels_for(p.device()).scale(p.grad(), p.grad(), clip_coef, (size_t)p.numel());
        }
    }
    return total_norm;
}

float lr_at(const LrSchedule& schedule, int64_t step) {
    // HF divides by max(1, warmup) so that warmup_steps = 0 means "no warm-up", not a division by zero.
    double warmup = (double)std::max<int64_t>(1, schedule.warmup_steps);
    double factor = 1.0;
    switch (schedule.kind) {
        case LrScheduleKind::Constant: factor = 1.0; break;
        case LrScheduleKind::ConstantWithWarmup:
            factor = step < schedule.warmup_steps ? (double)step / warmup : 1.0;
            break;
        case LrScheduleKind::LinearWithWarmup:
            if (step < schedule.warmup_steps) {
                factor = (double)step / warmup;
            } else {
                double decay_steps = (double)std::max<int64_t>(1, schedule.total_steps - schedule.warmup_steps);
                factor = std::max(0.0, (double)(schedule.total_steps - step) / decay_steps);
            }
            break;
    }
    return (float)(schedule.base_lr * factor);
}

// ---- checkpointing -----------------------------------------------------------------------------

static std::vector<std::string> state_names(const AdamW& opt) {
    std::vector<std::string> names;
    std::set<std::string> seen;
    for (size_t i = 0; i < opt.params.size(); i++) {
        std::string name = opt.params[i].name().empty() ? "param" + std::to_string(i) : opt.params[i].name();
        if (!seen.insert(name).second) fail("adamw_state", "two parameters are both named '" + name + "'");
        names.push_back(name);
    }
    return names;
}

std::vector<std::pair<std::string, Tensor>> adamw_state(const AdamW& opt) {
    std::vector<std::string> names = state_names(opt);
    std::vector<std::pair<std::string, Tensor>> state;
    std::vector<int32_t> steps;
    for (size_t i = 0; i < opt.params.size(); i++) {
        state.push_back({"adamw.exp_avg." + names[i], opt.exp_avg[i]});
        state.push_back({"adamw.exp_avg_sq." + names[i], opt.exp_avg_sq[i]});
        steps.push_back((int32_t)opt.param_steps[i]);
    }
    state.push_back({"adamw.param_steps", tensor_from_i32({(int64_t)steps.size()}, steps)});
    state.push_back({"adamw.step", tensor_from_i32({1}, {(int32_t)opt.step})});
    return state;
}

// The saved tensor `key`, checked against the shape and dtype this optimizer expects.
static Tensor saved_tensor(const SafeTensorsFile& file, const std::string& key, const std::vector<int64_t>& shape,
                           DType dtype) {
    if (!file.has(key)) fail(file.path, "optimizer state '" + key + "' is missing");
    Tensor saved = file.get(key);
    if (saved.shape() != shape || saved.dtype() != dtype) {
        fail(file.path, "optimizer state '" + key + "' is " + dtype_name(saved.dtype()) + " " +
                            shape_str(saved.shape()) + " (expected " + dtype_name(dtype) + " " + shape_str(shape) + ")");
    }
    return saved;
}

void adamw_load_state(AdamW& opt, const SafeTensorsFile& file) {
    std::vector<std::string> names = state_names(opt);
    int64_t count = (int64_t)opt.params.size();
    Tensor steps = saved_tensor(file, "adamw.param_steps", {count}, DType::I32);
    Tensor step = saved_tensor(file, "adamw.step", {1}, DType::I32);
    for (size_t i = 0; i < opt.params.size(); i++) {
        const Tensor& p = opt.params[i];
        // Copies, not views: the optimizer updates its moments in place and outlives the mapped file.
        Tensor m = saved_tensor(file, "adamw.exp_avg." + names[i], p.shape(), DType::F32);
        Tensor v = saved_tensor(file, "adamw.exp_avg_sq." + names[i], p.shape(), DType::F32);
        opt.exp_avg[i] = p.device() == Device::CPU ? tensor_clone(m) : tensor_to_device(m, p.device());
        opt.exp_avg_sq[i] = p.device() == Device::CPU ? tensor_clone(v) : tensor_to_device(v, p.device());
        opt.param_steps[i] = steps.i32()[i];
    }
    opt.step = step.i32()[0];
}
