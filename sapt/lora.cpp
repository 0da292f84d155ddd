// lora.cpp — LoRA banks: creation, freezing a finished task into the stack, and the stacked mix.
#include "sapt/lora.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

static std::string lora_name(const AdaptedSite& site, const char* what) {
    return site.module + ".lora_" + std::string(1, site.projection) + "." + what;
}

static void draw_current_task(LoraBank& bank, Rng& rng) {
    bank.current_A = tensor_empty({bank.rank, bank.site.in_features});
    init_kaiming_uniform(bank.current_A, std::sqrt(5.0f), rng);
    // B = 0: a new task starts as the identity update, so adding it does not change the model.
    bank.current_B = tensor_zeros({bank.site.out_features, bank.rank});
    bank.current_A.data->requires_grad = true;
    bank.current_B.data->requires_grad = true;
    bank.current_A.data->name = lora_name(bank.site, "A");
    bank.current_B.data->name = lora_name(bank.site, "B");
}

LoraBank lora_bank_create(const AdaptedSite& site, int rank, Rng& rng) {
    if (rank <= 0) fail("lora_bank_create", "LoRA rank must be positive (got " + std::to_string(rank) + ")");
    LoraBank bank;
    bank.site = site;
    bank.rank = rank;
    draw_current_task(bank, rng);
    return bank;
}

void lora_bank_push_task(LoraBank& bank, Rng& rng) {
    {
        NoGradScope no_grad;
        // The finished task goes first among the earlier ones (newest first), as the official code orders them.
        Tensor A = bank.previous_A.defined() ? concat({bank.current_A, bank.previous_A}, 0) : bank.current_A;
        Tensor B = bank.previous_B.defined() ? concat({bank.current_B, bank.previous_B}, 1) : bank.current_B;
        bank.previous_A = tensor_clone(A);  // a fresh frozen tensor, not the trained one
        bank.previous_B = tensor_clone(B);
    }
    bank.previous_A.data->name = lora_name(bank.site, "previous_A");
    bank.previous_B.data->name = lora_name(bank.site, "previous_B");
    draw_current_task(bank, rng);
}

Tensor lora_bank_delta(const LoraBank& bank, const Tensor& x, const Tensor& weights, const LoraMixOptions& options) {
    const int K = bank.num_tasks(), R = bank.rank;
    if (weights.defined() && (weights.ndim() != 2 || weights.dim(0) != x.dim(0) || weights.dim(1) != K)) {
        fail("lora " + bank.site.name, "mix weights must be (B, K) = " + shape_str({x.dim(0), K}) + " (got " +
                                           shape_str(weights.shape()) + ")");
    }
    const Tensor input = dropout(x, options.dropout, options.training);
    // h (B, T, K R): every task's down-projection side by side, current task first.
    Tensor h;
    if (K == 1) {
        h = linear(input, bank.current_A);
    } else if (options.detach_previous) {
        h = concat({linear(input, bank.current_A), linear(detach(input), bank.previous_A)}, -1);
    } else {
        h = linear_stacked(input, bank.current_A, bank.previous_A, 0);
    }
    const Tensor mixed = weights.defined() ? scale_column_groups(h, weights, R, options.scaling)
                                           : scale(h, options.scaling);
    // (C_out, K R): every task's up-projection side by side, current task first.
    return K == 1 ? linear(mixed, bank.current_B) : linear_stacked(mixed, bank.current_B, bank.previous_B, 1);
}

std::vector<Tensor> lora_bank_trainable(const LoraBank& bank) { return {bank.current_A, bank.current_B}; }
