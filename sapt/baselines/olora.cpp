// olora.cpp — O-LoRA's two regularisers and its hooks. See olora.h.
#include "sapt/baselines/olora.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "sapt/trainer.h"

Tensor frobenius_norm(const Tensor& t) {
    const Kernels& k = kernels_for(t.device());
    const float norm = (float)std::sqrt(k.sum_squares(t.f32(), (size_t)t.numel()));  // one scalar to the host
    Tensor out = tensor_to_device(tensor_from({1}, {norm}), t.device());
    if (needs_grad({&t})) {
        out.data->requires_grad = true;
        tape_push("frobenius_norm", [t, out, norm]() {
            if (!out.has_grad()) return;
            float* dt = t.grad();  // allocated (zero) even where nothing is added
            if (norm == 0.0f) return;  // the subgradient 0 at the origin, as torch
            const Kernels& k = kernels_for(t.device());
            float g = 0;
            copy_bytes(&g, Device::CPU, out.grad(), out.device(), sizeof g);
            k.axpy(dt, g / norm, t.f32(), (size_t)t.numel());  // dt += g * t / |t|
        });
    }
    return out;
}

// |x| as relu(x) + relu(-x): no abs op is needed, and the gradient is sign(x) (0 at 0, as torch.abs).
static Tensor absolute(const Tensor& x) { return add(relu(x), relu(scale(x, -1.0f))); }

static Device banks_device(const std::vector<LoraBank>& banks) {
    return banks.empty() ? Device::CPU : banks[0].current_A.device();
}

Tensor olora_orthogonality_loss(const std::vector<LoraBank>& banks) {
    std::vector<Tensor> overlaps;
    for (const LoraBank& bank : banks) {
        if (!bank.previous_A.defined()) continue;
        // ((K-1) R, C_in) x (R, C_in)^T -> ((K-1) R, R): the overlap of every earlier direction with every new one.
        overlaps.push_back(reshape(absolute(matmul(bank.previous_A, bank.current_A, false, true)), {-1}));
    }
    // One sum over every bank's overlaps: one reduction per step, not one per adapted site.
    Tensor total = overlaps.empty() ? tensor_zeros({1}, DType::F32, banks_device(banks)) : sum(concat(overlaps, 0));
    return total;
}

Tensor olora_l2_loss(const std::vector<LoraBank>& banks) {
    Tensor total = tensor_zeros({1}, DType::F32, banks_device(banks));
    for (const LoraBank& bank : banks) {
        total = add(total, add(frobenius_norm(bank.current_A), frobenius_norm(bank.current_B)));
    }
    return total;
}

MethodHooks olora_hooks(const Model& model, SaptState& state, const BaselineOptions& options) {
    if (state.options.pet != PetKind::Lora) fail("--method olora", "O-LoRA needs --pet lora (got prompt)");
    MethodHooks hooks;
    const Model* m = &model;
    SaptState* s = &state;
    const float lambda1 = options.olora_lambda1, lambda2 = options.olora_lambda2;
    hooks.batch_loss = [m, s, lambda1, lambda2](const Batch& batch) {
        const PetHook hook = sapt_hook(*s);
        BatchLoss loss;
        loss.ce = model_loss(*m, &hook, batch, true);
        loss.extra = scale(olora_orthogonality_loss(s->lora), lambda1);
        if (lambda2 > 0) loss.extra = add(loss.extra, scale(olora_l2_loss(s->lora), lambda2));
        return loss;
    };
    return hooks;
}
